import { inject, injectable, optional } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { readSeconds } from '../config/directives.js';
import { TOKENS } from '../container/tokens.js';
import { HttpError } from '../service/errors.js';
import { kStoreLock } from '../service/internal.js';
import type { ServiceRequest } from '../service/ServiceRequest.js';
import { CookieSession } from './CookieSession.js';
import type { KeyedMutex, Release } from './locks/KeyedMutex.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import { CorruptSessionError, type SessionRecord } from './SessionRecord.js';
import { openStore, openedStore } from './stores/registry.js';
import { redactText } from './stores/redact.js';
import { StoreUnavailableError, type LockedRecord, type SessionStore } from './stores/SessionStore.js';
import type { SaveHints } from './SessionImpl.js';

/** Default bound on one store operation. */
const DEFAULT_STORE_TIMEOUT_SECONDS = 5;

/** How often the deadlines of store operations are checked, in ms. */
const DEADLINE_TICK_MS = 50;

/** A store operation waiting for its answer. */
interface Pending {
  deadline: number;
  expire(): void;
}

/**
 * Store operations in flight, checked by one timer for the process rather
 * than a timer each (every request makes two or more). The timer keeps the
 * process alive only while an operation waits (unref'd when none does, so a
 * CGI process can exit at once), and stops at its first tick with none left:
 * a busy server does not make and clear a timer for every operation.
 */
const pending = new Set<Pending>();
let ticker: NodeJS.Timeout | undefined;

function watch(entry: Pending): void {
  pending.add(entry);
  if (ticker === undefined) ticker = setInterval(expireLate, DEADLINE_TICK_MS);
  else ticker.ref();
}

/** An operation answered: with none left, the timer no longer keeps the process alive. */
function unwatch(entry: Pending): void {
  pending.delete(entry);
  if (pending.size === 0) ticker?.unref();
}

function expireLate(): void {
  const now = Date.now();
  for (const entry of pending) {
    if (entry.deadline <= now) {
      pending.delete(entry);
      entry.expire();
    }
  }
  if (pending.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** A store lock taken with `lockAndGet` for one request. */
interface Held {
  key: string;
  locked: LockedRecord;
  /** The record read with the lock, until `load()` takes it. */
  unread: boolean;
  /** `setAndRelease` already gave the lock back. */
  released: boolean;
}

/**
 * Cookie sessions kept in a {@link SessionStore}: the one bound under
 * `TOKENS.SessionStore`, else the one the `PSOSessionStore` directive names
 * by URL (`memory:`, `sqlite:///path`, `redis://…`, `postgres://…`,
 * `mysql://…`), so a CGI deployment switches stores from `.htaccess`.
 *
 * Every operation is bounded by `PSOSessionStoreTimeout` (default 5 s); a
 * store that fails or does not answer gives the request a 503 and a log line
 * naming the store, and the next request tries again.
 *
 * @example
 * ```ts
 * const container = createContainer();
 * container.bind(TOKENS.SessionStore).toConstantValue(new MemoryStore());
 * container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
 * ```
 */
@injectable()
export class CookieStoreImpl extends CookieSession {
  readonly #bound: SessionStore | undefined;

  constructor(
    @inject(TOKENS.SessionIdGenerator) ids: SessionIdGenerator,
    @inject(TOKENS.SessionMutex) mutex: KeyedMutex,
    @inject(TOKENS.SessionStore) @optional() store?: SessionStore,
  ) {
    super(ids, mutex);
    this.#bound = store;
  }

  /**
   * The store of this request: the bound one, else `PSOSessionStore`'s;
   * `undefined` when neither names one (or it is a `file:` URL).
   */
  async storeFor(request: ServiceRequest<any>): Promise<SessionStore | undefined> {
    return this.storeNow(request);
  }

  /**
   * {@link storeFor}, without waiting when the answer is already known (the
   * bound store, or one opened before): a server asks on every request.
   */
  protected storeNow(request: ServiceRequest<any>): SessionStore | undefined | Promise<SessionStore | undefined> {
    if (this.#bound) return this.#bound;
    const url = request.getEnviron('PSOSessionStore');
    if (url === undefined) return undefined;
    const known = openedStore(url);
    if (known) return known;
    const trimmed = url.trim();
    return trimmed === '' ? undefined : openStore(trimmed);
  }

  /** The store's key for a session: `<service id>:<session id>`. */
  storeKey(request: ServiceRequest<any>, id: string): string {
    return `${this.getServiceId(request)}:${id}`;
  }

  /** The record read when the session was locked, if the store reads it with the lock; else the store's `get`. */
  override async load(request: ServiceRequest<any>, id: string): Promise<SessionRecord | undefined> {
    const required = this.#required(request);
    const store = required instanceof Promise ? await required : required;
    const key = this.storeKey(request, id);
    const held = heldBy(request);
    if (held?.unread && held.key === key) {
      held.unread = false;
      return held.locked.record();
    }
    return this.#call(request, store, 'get', () => store.get(key));
  }

  /** The save that ends the request writes and unlocks in one step, when the store can. */
  override async save(request: ServiceRequest<any>, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    const required = this.#required(request);
    const store = required instanceof Promise ? await required : required;
    const key = this.storeKey(request, id);
    const held = heldBy(request);
    if (hints?.final && held && !held.released && held.key === key && held.locked.setAndRelease) {
      await this.#call(request, store, 'set', () => held.locked.setAndRelease!(record));
      held.released = true;
      return;
    }
    await this.#call(request, store, 'set', () => store.set(key, record));
  }

  override async touch(request: ServiceRequest<any>, id: string, record: SessionRecord, _hints?: SaveHints): Promise<void> {
    const required = this.#required(request);
    const store = required instanceof Promise ? await required : required;
    const key = this.storeKey(request, id);
    await this.#call(request, store, 'touch', () => (store.touch ? store.touch(key, record) : store.set(key, record)));
  }

  override async remove(request: ServiceRequest<any>, id: string): Promise<void> {
    const required = this.#required(request);
    const store = required instanceof Promise ? await required : required;
    await this.#call(request, store, 'destroy', () => store.destroy(this.storeKey(request, id)));
  }

  /**
   * The lock inside this process, then the store's own across processes, if
   * it has one (with the record, when the store reads it in the same step).
   */
  override async lock(request: ServiceRequest<any>, id: string): Promise<Release> {
    const started = Date.now();
    const local = await super.lock(request, id);
    try {
      const now = this.storeNow(request);
      const store = now instanceof Promise ? await now : now;
      if (!store || (!store.lock && !store.lockAndGet)) return local;
      const key = this.storeKey(request, id);
      const left = Math.max(1, this.lockTimeoutMs(request) - (Date.now() - started));
      // The store's lock waits up to the lock timeout itself; the store timeout guards a dead connection on top.
      if (store.lockAndGet) {
        const locked = await this.#call(request, store, 'lock', () => store.lockAndGet!(key, left), left);
        const held: Held = { key, locked, unread: true, released: false };
        // Kept on the request, which it lives and dies with.
        request[kStoreLock] = held;
        return async () => {
          if (request[kStoreLock] === held) request[kStoreLock] = undefined;
          try {
            if (!held.released) await this.#call(request, store, 'unlock', locked.release);
          } finally {
            await local();
          }
        };
      }
      const remote = await this.#call(request, store, 'lock', () => store.lock!(key, left), left);
      return async () => {
        try {
          await this.#call(request, store, 'unlock', remote);
        } finally {
          await local();
        }
      };
    } catch (e) {
      await local();
      throw e;
    }
  }

  override async collectGarbage(request: ServiceRequest<any>): Promise<number> {
    const store = await this.storeFor(request);
    return store?.gc ? this.#call(request, store, 'gc', () => store.gc!()) : 0;
  }

  #required(request: ServiceRequest<any>): SessionStore | Promise<SessionStore> {
    const store = this.storeNow(request);
    return store instanceof Promise ? store.then((s) => this.#check(request, s)) : this.#check(request, store);
  }

  #check(request: ServiceRequest<any>, store: SessionStore | undefined): SessionStore {
    if (!store) {
      const url = request.getEnviron('PSOSessionStore');
      throw new ConfigurationError('PSOSessionStore', url === undefined ? undefined : redactText(url), `${this.constructor.name} needs a store: bind TOKENS.SessionStore or set PSOSessionStore to a store URL`);
    }
    return store;
  }

  /** Runs a store operation within `PSOSessionStoreTimeout`; failures become a 503 naming the store. */
  #call<T>(request: ServiceRequest<any>, store: SessionStore, what: string, op: () => Promise<T>, extraMs = 0): Promise<T> {
    const ms = readSeconds(request, 'PSOSessionStoreTimeout', DEFAULT_STORE_TIMEOUT_SECONDS) * 1000 + extraMs;
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        deadline: Date.now() + ms,
        expire: () => reject(new StoreUnavailableError(store.name, `no answer to ${what} within ${ms} ms`)),
      };
      watch(entry);
      const fail = (e: unknown) => {
        unwatch(entry);
        reject(unavailable(store, what, e));
      };
      let answer: Promise<T>;
      try {
        answer = op();
      } catch (e) {
        fail(e);
        return;
      }
      answer.then((value) => {
        unwatch(entry);
        resolve(value);
      }, fail);
    });
  }
}

/** The store lock a request holds through `lockAndGet`, if any. */
function heldBy(request: ServiceRequest<any>): Held | undefined {
  return request[kStoreLock] as Held | undefined;
}

/** A store's failure as the request should see it: a 503 naming the store, unless it already says what to answer. */
function unavailable(store: SessionStore, what: string, e: unknown): unknown {
  if (e instanceof CorruptSessionError || e instanceof HttpError || e instanceof ConfigurationError) return e;
  return new StoreUnavailableError(store.name, `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e });
}
