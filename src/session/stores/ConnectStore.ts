import type { Expiry } from '../../config/expiry.js';
import type { JsonValue } from '../json.js';
import { DEFAULT_IDLE_SECONDS } from '../../config/defaults.js';
import { CorruptSessionError, parseRecord, type SessionRecord, type SessionTimeouts } from '../SessionRecord.js';
import type { SessionStore } from './SessionStore.js';

/**
 * A session as connect and express-session stores keep it: a `cookie` they
 * read the time to live from, plus whatever the application put beside it.
 * pso writes `pso` (its own bookkeeping) and `data` (the session's data).
 */
export interface ConnectSession {
  cookie: {
    /** Milliseconds the session had left when it was written. */
    originalMaxAge: number | null;
    /** When the session ends: an ISO date (a `Date` in express-session's live objects); `null` for a browser-lifetime cookie. */
    expires: string | Date | null;
    /** Milliseconds left now (a getter, as in express-session's `Cookie`; not stored). */
    readonly maxAge?: number | null;
    httpOnly?: boolean;
    path?: string;
    [attribute: string]: unknown;
  };
  /** pso's fields; absent in a session written by express-session itself. */
  pso?: { v: number; created: number; expiry?: Expiry | undefined; timeouts?: SessionTimeouts | undefined };
  /** The session data (pso's sessions). */
  data?: Record<string, JsonValue>;
  [key: string]: unknown;
}

/** A node-style callback, as connect stores call them. */
export type ConnectCallback<T = unknown> = (err?: unknown, value?: T) => void;

/**
 * The connect / express-session store API (callback style), as implemented
 * by connect-redis, connect-pg-simple, session-file-store,
 * express-mysql-session, express-session's `MemoryStore` and many others.
 */
export interface ConnectSessionStore {
  get(sid: string, callback: ConnectCallback<ConnectSession | null | undefined>): unknown;
  set(sid: string, session: ConnectSession, callback?: ConnectCallback): unknown;
  destroy(sid: string, callback?: ConnectCallback): unknown;
  touch?(sid: string, session: ConnectSession, callback?: ConnectCallback): unknown;
  all?(callback: ConnectCallback<ConnectSession[] | Record<string, ConnectSession> | null>): unknown;
  ids?(callback: ConnectCallback<string[]>): unknown;
  length?(callback: ConnectCallback<number>): unknown;
  clear?(callback?: ConnectCallback): unknown;
  close?(): unknown;
}

/** Options of {@link ConnectStore}. */
export interface ConnectStoreOptions {
  /** The name in log lines and 503 errors; default `connect:<the store's class name>`. */
  name?: string;
}

const FORMAT = 1;

/**
 * Any connect / express-session store as a pso {@link SessionStore}: keep
 * connect-redis, connect-pg-simple, session-file-store,
 * express-mysql-session or express-session's `MemoryStore`.
 *
 * A record is written as an express-session-shaped object,
 * `{ cookie: { originalMaxAge, expires, httpOnly, path }, pso: { v, created, expiry?, timeouts? }, data }`,
 * whose `cookie.expires` (and `originalMaxAge`, and a `maxAge` getter) say
 * when `record.expires` falls, so the wrapped store sets its own time to
 * live from it. A session without `pso` (written by express-session itself)
 * is read as data: every field but `cookie`, expiring at `cookie.expires`
 * (a day from now for a browser-lifetime cookie), created now.
 *
 * Connect stores have no lock shared between processes: this adapter has no
 * `lock`, and pso serialises the requests of a session inside one process
 * only. Several processes (CGI, a cluster) writing one session need one of
 * pso's own stores (files, SQLite, Redis, PostgreSQL, MySQL), which lock.
 *
 * @example
 * ```ts
 * import { RedisStore } from 'connect-redis';
 * import { createClient } from 'redis';
 *
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const container = createContainer();
 * container.bind(TOKENS.SessionStore).toConstantValue(new ConnectStore(new RedisStore({ client, prefix: 'pso:' })));
 * container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
 * await serve(handler, { port: 8080, serviceHandler: new ServiceHandler(container) });
 * ```
 */
export class ConnectStore implements SessionStore {
  readonly name: string;
  /** The wrapped connect store. */
  readonly store: ConnectSessionStore;
  /** How many records are kept (when the wrapped store has `length`). */
  readonly count?: () => Promise<number>;
  /** The keys kept (when the wrapped store has `ids` or `all`). */
  readonly list?: () => Promise<string[]>;

  constructor(store: ConnectSessionStore, options: ConnectStoreOptions = {}) {
    this.store = store;
    this.name = options.name ?? `connect:${(store as object).constructor?.name || 'Store'}`;
    if (typeof store.length === 'function') {
      this.count = async () => Number(await callback<number>(store, store.length!, []));
    }
    if (typeof store.ids === 'function') {
      this.list = async () => ((await callback<string[]>(store, store.ids!, [])) ?? []).map(String);
    } else if (typeof store.all === 'function') {
      this.list = async () => {
        const all = await callback<ConnectSession[] | Record<string, ConnectSession> | null>(store, store.all!, []);
        if (!all) return [];
        // An array (connect-redis) carries each id inside; an object (MemoryStore, MySQL) is keyed by id.
        return Array.isArray(all) ? all.map((s) => s?.id).filter((id): id is string => typeof id === 'string') : Object.keys(all);
      };
    }
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    let session: ConnectSession | null | undefined;
    try {
      session = await callback<ConnectSession | null | undefined>(this.store, this.store.get, [key]);
    } catch (e) {
      // session-file-store reports a missing session as ENOENT (express-session reads it as none).
      if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
      if (e instanceof SyntaxError) throw new CorruptSessionError(`the store cannot parse it (${e.message})`);
      throw e;
    }
    if (session === null || session === undefined) return undefined;
    return ConnectStore.fromSession(session);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    // A store would keep it for its default TTL (or a zero max-age as "no max-age"); it is over already.
    if (record.expires <= Date.now()) return this.destroy(key);
    await callback(this.store, this.store.set, [key, ConnectStore.toSession(record)]);
  }

  async destroy(key: string): Promise<void> {
    await callback(this.store, this.store.destroy, [key]);
  }

  /**
   * Rewrites the record: several stores' `touch` (connect-redis,
   * connect-pg-simple, express-mysql-session) move only their TTL and leave
   * the stored `cookie.expires` behind, which is the expiry pso reads back.
   */
  async touch(key: string, record: SessionRecord): Promise<void> {
    await this.set(key, record);
  }

  /** Closes the wrapped store when it can be (connect-pg-simple's and express-mysql-session's own pools). */
  async close(): Promise<void> {
    if (typeof this.store.close === 'function') await this.store.close();
  }

  /**
   * The express-session-shaped object a record is stored as.
   *
   * @example
   * ```ts
   * ConnectStore.toSession({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000 }).cookie.expires;
   * // '2030-04-15T19:00:00.000Z' (an ISO date)
   * ```
   */
  static toSession(record: SessionRecord, now = Date.now()): ConnectSession {
    const cookie = { originalMaxAge: record.expires - now, expires: new Date(record.expires).toISOString(), httpOnly: true, path: '/' };
    // As express-session's Cookie: computed when the store asks (connect-sqlite3 and others read it), never stored.
    Object.defineProperty(cookie, 'maxAge', { get: () => record.expires - Date.now(), enumerable: false });
    const pso: NonNullable<ConnectSession['pso']> = { v: FORMAT, created: record.created };
    if (record.expiry) pso.expiry = record.expiry;
    if (record.timeouts) pso.timeouts = record.timeouts;
    return { cookie, pso, data: record.data };
  }

  /**
   * The record a stored session holds: pso's own, or one written by
   * express-session (read as data, see {@link ConnectStore}).
   *
   * @throws CorruptSessionError for anything else.
   * @example
   * ```ts
   * ConnectStore.fromSession({ cookie: { originalMaxAge: null, expires: null }, user: 'ada' }).data.user; // 'ada'
   * ```
   */
  static fromSession(session: ConnectSession, now = Date.now()): SessionRecord {
    if (typeof session !== 'object' || session === null || Array.isArray(session)) throw new CorruptSessionError('not a session object');
    const cookie = session.cookie;
    if (typeof cookie !== 'object' || cookie === null) throw new CorruptSessionError('a session without a cookie');
    const expires = cookie.expires === null || cookie.expires === undefined ? undefined : new Date(cookie.expires as string).getTime();
    if (expires !== undefined && !Number.isFinite(expires)) throw new CorruptSessionError(`invalid cookie.expires ${JSON.stringify(cookie.expires)}`);
    let candidate: Record<string, unknown>;
    if (session.pso !== undefined) {
      const pso = session.pso;
      if (typeof pso !== 'object' || pso === null) throw new CorruptSessionError('invalid pso field');
      if (expires === undefined) throw new CorruptSessionError('a pso session without cookie.expires');
      candidate = { v: pso.v, created: pso.created, expires, expiry: pso.expiry, timeouts: pso.timeouts, data: session.data };
    } else {
      // No prototype, so that a stored "__proto__" key stays a key.
      const data: Record<string, unknown> = Object.create(null);
      for (const k of Object.keys(session)) {
        // session-file-store's own bookkeeping is not session data.
        if (k !== 'cookie' && k !== '__lastAccess') data[k] = session[k];
      }
      candidate = { v: FORMAT, created: now, expires: expires ?? now + DEFAULT_IDLE_SECONDS * 1000, data };
    }
    let text: string;
    try {
      text = JSON.stringify(candidate);
    } catch (e) {
      throw new CorruptSessionError(`not JSON data (${(e as Error).message})`);
    }
    // parseRecord checks every field, and gives data without a prototype.
    return parseRecord(text);
  }
}

/**
 * Calls a callback-style method as a promise. The first call of the callback
 * wins: stores that call it synchronously, or twice (a second call after a
 * throw inside the first is common), are tolerated. A store that never calls
 * back is bounded by `PSOSessionStoreTimeout` in the caller.
 */
function callback<T>(self: object, method: (...args: never[]) => unknown, args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const done = (err?: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) reject(asError(err));
      else resolve(value as T);
    };
    try {
      const returned: unknown = Reflect.apply(method, self, [...args, done]);
      // Promise-returning stores may reject without calling back; their resolution is not trusted (it may come first, empty).
      if (returned && typeof (returned as PromiseLike<unknown>).then === 'function') {
        (returned as PromiseLike<unknown>).then(undefined, (e: unknown) => done(e ?? new Error('the store rejected without a reason')));
      }
    } catch (e) {
      done(e ?? new Error('the store threw without a reason'));
    }
  });
}

function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  // session-file-store's clear reports an array of errors.
  if (Array.isArray(err)) return new AggregateError(err.map(asError), err.map((e) => asError(e).message).join('; '));
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(JSON.stringify(err) ?? String(err));
  } catch {
    return new Error(String(err));
  }
}
