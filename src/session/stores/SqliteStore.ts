import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { isAlive, ownStartTime } from '../locks/processLiveness.js';
import type { Release } from '../locks/KeyedMutex.js';
import { takeLease } from '../locks/leasedLock.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import type { StoreFactory } from './StoreFactory.js';
import { redact, redactText } from './redact.js';
import type { SessionStore } from './SessionStore.js';
import { SqliteUserIndex } from './users/SqliteUserIndex.js';
import type { UserIndex } from './UserIndex.js';

const HOST = hostname();
const STARTED = ownStartTime() === undefined ? '' : ` ${ownStartTime()}`;

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** How long one statement waits for another process's write lock, in ms (default 5,000). */
  busyTimeoutMs?: number;
  /** How long a session lock lasts without being renewed, in ms (default 30,000); a holder renews it while it lives. */
  lockTtlMs?: number;
}

type Statement = Database.Statement<unknown[], unknown>;

interface Open {
  db: Database.Database;
  /** `dev:ino` of the file opened, to notice it being replaced. */
  identity: string;
  get: Statement;
  set: Statement;
  touch: Statement;
  destroy: Statement;
  gcSessions: Statement;
  gcLocks: Statement;
  count: Statement;
  list: Statement;
  tryLock: Statement;
  lockHolder: Statement;
  unlock: Statement;
  renew: Statement;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pso_sessions (key TEXT PRIMARY KEY, data TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pso_sessions_expires ON pso_sessions (expires);
CREATE TABLE IF NOT EXISTS pso_session_locks (key TEXT PRIMARY KEY, token TEXT NOT NULL, expires INTEGER NOT NULL);
`;

/**
 * Sessions in an SQLite database file shared by every process of one machine
 * (CGI scripts included): WAL mode so that readers never wait for writers,
 * short statements, and a lock table for the session locks across
 * processes. The database, its tables and its directory (mode 0700; the file
 * 0600) are created on first use. Needs the `better-sqlite3` package.
 *
 * @example
 * ```ts
 * // SetEnv PSOSessionStore sqlite:///var/lib/pso/sessions.db
 * const store = new SqliteStore('/var/lib/pso/sessions.db');
 * container.bind(TOKENS.SessionStore).toConstantValue(store);
 * ```
 */
export class SqliteStore implements SessionStore {
  readonly name: string;
  readonly path: string;
  readonly #busyTimeoutMs: number;
  readonly #lockTtlMs: number;
  readonly #renewals = new Set<NodeJS.Timeout>();
  #open: Open | undefined;
  /** Users' sessions (`session.login()`): two tables beside `pso_sessions`. */
  readonly users: UserIndex = new SqliteUserIndex(() => this.#db().db);

  /**
   * @param location an absolute path, a `file:` URL or a `sqlite:///absolute/path.db` URL.
   * @throws ConfigurationError for anything but an absolute path.
   */
  constructor(location: string | URL, options: SqliteStoreOptions = {}) {
    this.path = SqliteStore.pathOf(location);
    this.name = typeof location === 'string' && !hasScheme(location) ? `sqlite://${this.path}` : redact(new URL(location));
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    this.#lockTtlMs = options.lockTtlMs ?? 30_000;
    if (!(this.#lockTtlMs >= 100)) throw new RangeError('lockTtlMs must be at least 100');
  }

  /** The database file a location names; only absolute paths are accepted. */
  static pathOf(location: string | URL): string {
    const text = String(location);
    const fail = (why: string): never => {
      throw new ConfigurationError('PSOSessionStore', redactText(text), `${why}: expected sqlite:///absolute/path/sessions.db`);
    };
    if (typeof location === 'string' && !hasScheme(location)) {
      return isAbsolute(location) ? location : fail('the database path must be absolute');
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail('not a URL');
    }
    if (url.protocol !== 'sqlite:' && url.protocol !== 'file:') fail(`not an sqlite: URL`);
    if (url.pathname.includes(':memory:')) fail('an in-memory database would be private to one process');
    if (url.host !== '') fail(`"${url.host}" is read as a host name (use three slashes before an absolute path)`);
    if (!url.pathname.startsWith('/')) fail('the database path must be absolute');
    if (url.search || url.hash) fail('query and fragment are not supported');
    let path: string;
    try {
      path = fileURLToPath(`file://${url.pathname}`);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (path.endsWith('/')) fail('the URL names a directory');
    return path;
  }

  /** Creates the database, its directory and tables now rather than on first use. */
  async init(): Promise<void> {
    this.#db();
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const row = this.#db().get.get(key, Date.now()) as { data: string } | undefined;
    return row ? parseRecord(row.data) : undefined;
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    this.#db().set.run(key, serializeRecord(record), record.expires);
  }

  /** Rewrites the record only if it is still there, so that a destroyed session does not come back. */
  async touch(key: string, record: SessionRecord): Promise<void> {
    this.#db().touch.run(serializeRecord(record), record.expires, key);
  }

  async destroy(key: string): Promise<void> {
    this.#db().destroy.run(key);
  }

  async gc(): Promise<number> {
    const open = this.#db();
    const now = Date.now();
    open.gcLocks.run(now);
    // Entries of expired sessions first, while their rows still say so.
    await this.users.gc();
    return open.gcSessions.run(now).changes;
  }

  async count(): Promise<number> {
    return (this.#db().count.get(Date.now()) as { n: number }).n;
  }

  async list(): Promise<string[]> {
    return (this.#db().list.all(Date.now()) as { key: string }[]).map((r) => r.key);
  }

  /**
   * A row in `pso_session_locks`, inserted when absent (or expired, or held by
   * a process of this machine that died), polled until `timeoutMs`. The holder
   * renews it while it holds it; releasing deletes it only if it is still its own.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    const token = `${process.pid} ${HOST} ${randomUUID()}${STARTED}`;
    return takeLease({
      what: `${this.name} ${key}`,
      timeoutMs,
      ttlMs: this.#lockTtlMs,
      renewals: this.#renewals,
      tryTake: () => {
        const open = this.#db();
        const now = Date.now();
        // Look first (a read never waits in WAL mode): waiters must not take the write lock the holder needs.
        let holder = open.lockHolder.get(key) as { token: string; expires: number } | undefined;
        if (holder && holder.expires > now && isDeadHere(holder.token)) {
          open.unlock.run(key, holder.token);
          holder = undefined;
        }
        return (!holder || holder.expires <= now) && open.tryLock.run({ key, token, expires: now + this.#lockTtlMs, now }).changes === 1;
      },
      renew: () => this.#db().renew.run(Date.now() + this.#lockTtlMs, key, token),
      free: () => this.#db().unlock.run(key, token),
    });
  }

  async close(): Promise<void> {
    // Renewing after close would open the database again.
    for (const timer of this.#renewals) clearInterval(timer);
    this.#renewals.clear();
    this.#closeDb();
  }

  #closeDb(): void {
    const open = this.#open;
    this.#open = undefined;
    open?.db.close();
  }

  /**
   * The open database, (re)opened when needed: on first use, after a failure,
   * and when the file was replaced or deleted (every process must use the same file).
   */
  #db(): Open {
    let identity: string | undefined;
    try {
      const st = statSync(this.path);
      if (!st.isFile()) throw new Error(`${this.path} is not a file`);
      identity = `${st.dev}:${st.ino}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#closeDb();
        throw e;
      }
    }
    if (this.#open && this.#open.identity === identity) return this.#open;
    this.#closeDb();
    if (identity === undefined) this.#create();
    const db = new Database(this.path, { timeout: this.#busyTimeoutMs });
    try {
      retryBusy(() => {
        if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
        db.exec(SCHEMA);
      }, this.#busyTimeoutMs);
      // WAL with synchronous=NORMAL cannot corrupt the database; a power cut may lose the last writes.
      db.pragma('synchronous = NORMAL');
      const st = statSync(this.path);
      this.#open = {
        db,
        identity: `${st.dev}:${st.ino}`,
        get: db.prepare('SELECT data FROM pso_sessions WHERE key = ? AND expires > ?'),
        set: db.prepare('INSERT INTO pso_sessions (key, data, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, expires = excluded.expires'),
        touch: db.prepare('UPDATE pso_sessions SET data = ?, expires = ? WHERE key = ?'),
        destroy: db.prepare('DELETE FROM pso_sessions WHERE key = ?'),
        gcSessions: db.prepare('DELETE FROM pso_sessions WHERE expires <= ?'),
        gcLocks: db.prepare('DELETE FROM pso_session_locks WHERE expires <= ?'),
        count: db.prepare('SELECT count(*) AS n FROM pso_sessions WHERE expires > ?'),
        list: db.prepare('SELECT key FROM pso_sessions WHERE expires > ? ORDER BY key'),
        // Insert if absent, or take over an expired lock: one statement, so one atomic step.
        tryLock: db.prepare('INSERT INTO pso_session_locks (key, token, expires) VALUES (@key, @token, @expires) ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires = excluded.expires WHERE pso_session_locks.expires <= @now'),
        lockHolder: db.prepare('SELECT token, expires FROM pso_session_locks WHERE key = ?'),
        unlock: db.prepare('DELETE FROM pso_session_locks WHERE key = ? AND token = ?'),
        renew: db.prepare('UPDATE pso_session_locks SET expires = ? WHERE key = ? AND token = ?'),
      };
      return this.#open;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** A missing database: its directory 0700 and an empty file 0600, before SQLite opens it. */
  #create(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    try {
      closeSync(openSync(this.path, 'wx', 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

function hasScheme(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(text);
}

/** A lock token of a process of this machine that no longer runs (`pid host uuid started`). */
function isDeadHere(token: string): boolean {
  const [pid, host, , started] = token.split(' ');
  const n = Number(pid);
  return host === HOST && Number.isInteger(n) && n > 0 && !isAlive(n, started);
}

/** Setting up a new database (switching to WAL) can be refused as busy without waiting: retry a while. */
function retryBusy(fn: () => void, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return fn();
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) throw e;
      if (Date.now() >= deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
    }
  }
}

/** The store a `PSOSessionStore` URL of this kind names. */
export const fromUrl: StoreFactory = (url) => new SqliteStore(url);
