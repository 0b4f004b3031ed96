import { hash } from 'node:crypto';
import mysql from 'mysql2/promise';
import { KeyedMutex, type Release } from '../locks/KeyedMutex.js';
import { SessionBusyError } from '../locks/SessionBusyError.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import type { StoreFactory } from './StoreFactory.js';
import { redact } from './redact.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import { MysqlUserIndex } from './users/MysqlUserIndex.js';
import { ER_NO_SUCH_TABLE, Lines, type Line, type Row, type Taken } from './mysqlLines.js';
import { backoff, lockLost, readSqlSettings, sleep, toUrl, within, type SqlStoreOptions, type SqlStoreSettings } from './sqlStoreSupport.js';
import type { UserIndex } from './UserIndex.js';

/** Options of {@link MysqlStore}; each overrides the URL parameter of the same meaning. */
export interface MysqlStoreOptions extends SqlStoreOptions {
  /** More mysql2 pool settings (ssl, ...), applied last. */
  poolConfig?: mysql.PoolOptions;
}

/** Pool counts, to watch for leaks. */
export interface MysqlPoolStats {
  /** Connections open. */
  total: number;
  /** Connections open and unused. */
  idle: number;
  /** Operations waiting for a connection. */
  waiting: number;
  /** Session locks held. */
  locks: number;
}

/** `k` is a VARCHAR(255): longer keys must be refused, not truncated into another session's. */
const MAX_KEY = 255;
/**
 * Session data (characters) above which a write goes on a connection that
 * holds no lock, if there is one: a write too big for the server's
 * `max_allowed_packet` makes it close the connection, and with it the locks
 * of other sessions.
 */
const LARGE = 1 << 20;
/** Connections shared by lock requests, at most: fewer, fuller batches cost the server less per request. */
const SHARED_LINES = 2;

/** The parts of mysql2's pool the stats read (not in its types). */
interface PoolCore {
  _allConnections: { length: number };
  _freeConnections: { length: number };
  _connectionQueue: { length: number };
}

/**
 * Sessions in a MySQL or MariaDB table, shared by every process and host that
 * reaches the server: `PSOSessionStore mysql://user:password@host:3306/db`
 * (`mariadb://` too). URL parameters: `pool` (connections, default 10),
 * `table` (default `pso_sessions`), `statement_timeout` (ms, default 5000),
 * `connect_timeout` (s, default 5), `socket` (a Unix socket path instead of
 * host and port).
 *
 * The table `(k VARCHAR(255) PRIMARY KEY, data MEDIUMTEXT, expires BIGINT,
 * INDEX(expires))` is created on first use (or by `pso store init <url>`).
 * A session is locked across processes with `GET_LOCK`, held from load to
 * save by a pooled connection that may hold the locks of many sessions at
 * once. The requests of a process share two such connections (one with
 * `pool=1`), and what they ask of the server goes in batches: while one
 * exchange is on the wire, the next requests' writes, unlocks, try-locks and
 * reads queue, and go together as the next, in three statements whatever
 * their number (one multi-row upsert; one `SELECT` of every `RELEASE_LOCK`
 * and `GET_LOCK(name, 0)`; one read of the rows of the locks granted). A
 * lock another process holds is waited for on the server (`GET_LOCK(name,
 * s)`) by a connection that holds no lock, so that no holder's write waits
 * behind it; when no connection is left for that, the request tries again
 * after a short sleep. The rest of the pool serves those waits and the
 * statements of no lock (`gc`, `count`, a store used without locking).
 *
 * @example
 * ```ts
 * // SetEnv PSOSessionStore "mysql://pso:secret@127.0.0.1:3306/app?pool=20"
 * // or, in code:
 * const container = createContainer();
 * container.bind(TOKENS.SessionStore).toConstantValue(new MysqlStore('mysql://pso:secret@127.0.0.1/app'));
 * container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
 * ```
 */
export class MysqlStore implements SessionStore {
  readonly name: string;
  /** The table, as configured (a checked identifier). */
  readonly table: string;
  readonly #pool: mysql.Pool;
  readonly #settings: SqlStoreSettings;
  readonly #quoted: string;
  /** Writes a row, `(k, data, expires)`. */
  readonly #upsert: string;
  readonly #database: string;
  readonly #lines: Lines;
  /** Keys whose named lock this store holds, with the line holding it. */
  readonly #held = new Map<string, Line>();
  /** One lock request per session at a time inside the store: a line's locks count per call. */
  readonly #keys = new KeyedMutex();
  #closed = false;
  /** Users' sessions (`session.login()`): two tables beside the sessions'. */
  readonly users: UserIndex;

  constructor(url: string | URL, options: MysqlStoreOptions = {}) {
    const u = toUrl(url);
    if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new TypeError(`MysqlStore needs a mysql:// URL, not ${redact(u)}`);
    this.name = redact(u);
    this.#settings = readSqlSettings(u, options);
    this.table = this.#settings.table;
    this.#quoted = `\`${this.table}\``;
    this.#upsert = `INSERT INTO ${this.#quoted} (k, data, expires) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE data = VALUES(data), expires = VALUES(expires)`;
    this.#database = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (this.#database === '' || this.#database.includes('/')) {
      throw new ConfigurationError('PSOSessionStore', this.name, 'name the database in the path, e.g. mysql://user@127.0.0.1:3306/app');
    }
    const socket = u.searchParams.get('socket');
    this.#pool = mysql.createPool({
      ...(socket ? { socketPath: socket } : { host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: u.port ? Number(u.port) : 3306 }),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: this.#database,
      connectionLimit: this.#settings.pool,
      maxIdle: this.#settings.pool,
      idleTimeout: 60_000,
      connectTimeout: this.#settings.connectTimeoutMs,
      waitForConnections: true,
      queueLimit: 0,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      // No stack captured on every query for error messages.
      trace: false,
      ...options.poolConfig,
      // The batches go as several statements in one query (values always escaped).
      multipleStatements: true,
    });
    // A later error on a connection the server closed (a restart) must not crash the process.
    this.#pool.pool.on('connection', (conn: NodeJS.EventEmitter) => conn.on('error', () => undefined));
    // A binary collation for k: session ids differing only in case are different sessions.
    const createTable =
      `CREATE TABLE IF NOT EXISTS ${this.#quoted} (k VARCHAR(${MAX_KEY}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, ` +
      'data MEDIUMTEXT NOT NULL, expires BIGINT NOT NULL, INDEX (expires)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4';
    this.#lines = new Lines({
      pool: this.#pool,
      size: this.#settings.pool,
      shared: Math.min(this.#settings.pool, SHARED_LINES),
      statementTimeoutMs: this.#settings.statementTimeoutMs,
      connectTimeoutMs: this.#settings.connectTimeoutMs,
      table: this.#quoted,
      createTable,
    });
    // Not on the lines of the sessions' locks: a statement there would break their batches, and a
    // statement of no lock never waits for ever (it queues on a line when no other can be had).
    this.users = new MysqlUserIndex(this.table, (_key, sql, values) => this.#run(undefined, sql, values));
  }

  /** The underlying pool's counts, to watch for leaks. */
  poolStats(): MysqlPoolStats {
    const core = this.#pool.pool as unknown as PoolCore;
    return {
      total: core._allConnections.length,
      idle: core._freeConnections.length,
      waiting: core._connectionQueue.length + this.#lines.queued(),
      locks: this.#held.size,
    };
  }

  /**
   * The `GET_LOCK` name of a key: a hash, since names hold at most 64
   * characters, of the database, the table and the key (names are server-wide).
   */
  lockName(key: string): string {
    return `pso:${hash('sha256', `${this.#database}\0${this.table}\0${key}`, 'base64url')}`;
  }

  /** Creates the table if it is missing (`pso store init <url>`). */
  init(): Promise<void> {
    return this.#lines.init();
  }

  /**
   * Runs a statement on the line holding the session's lock when this store
   * holds it (so that a full pool never blocks a holder), else (or when
   * `apart`) on any line, one holding no lock when it can.
   */
  #statement<T>(key: string | undefined, sql: string, values: unknown[], apart = false): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    const line = key === undefined ? undefined : this.#held.get(key);
    // Written apart or not, nothing is written for a session whose lock is gone.
    if (line?.failure !== undefined) return Promise.reject(lockLost(line.failure));
    return this.#lines.statement<T>(sql, values, true, apart ? undefined : line);
  }

  /** {@link #statement}, creating the table the first time it is missing. */
  async #run<T>(key: string | undefined, sql: string, values: unknown[], apart = false): Promise<T> {
    if (key !== undefined && key.length > MAX_KEY) throw new RangeError(`session key longer than ${MAX_KEY} characters`);
    try {
      return await this.#statement<T>(key, sql, values, apart);
    } catch (e) {
      if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
      await this.#lines.init();
      return this.#statement<T>(key, sql, values, apart);
    }
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const rows = await this.#run<Row[]>(key, `SELECT data, expires FROM ${this.#quoted} WHERE k = ? AND expires > ?`, [key, Date.now()]);
    return toRecord(rows[0]);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    const data = serializeRecord(record);
    await this.#run(key, this.#upsert, [key, data, Math.round(record.expires)], data.length > LARGE);
  }

  async touch(key: string, record: SessionRecord): Promise<void> {
    const result = await this.#run<mysql.ResultSetHeader>(key, `UPDATE ${this.#quoted} SET expires = ? WHERE k = ?`, [Math.round(record.expires), key]);
    // affectedRows counts matched rows only with CLIENT_FOUND_ROWS (mysql2's default); a missing row is written whole.
    if (result.affectedRows === 0) await this.set(key, record);
  }

  async destroy(key: string): Promise<void> {
    await this.#run(key, `DELETE FROM ${this.#quoted} WHERE k = ?`, [key]);
  }

  async gc(): Promise<number> {
    // Entries of expired sessions first, while their rows still say so.
    await this.users.gc();
    const result = await this.#run<mysql.ResultSetHeader>(undefined, `DELETE FROM ${this.#quoted} WHERE expires <= ?`, [Date.now()]);
    return result.affectedRows;
  }

  /** How many unexpired sessions are kept. */
  async count(): Promise<number> {
    const rows = await this.#run<Row[]>(undefined, `SELECT COUNT(*) AS n FROM ${this.#quoted} WHERE expires > ?`, [Date.now()]);
    return Number(rows[0]!.n);
  }

  /** The keys of the unexpired sessions. */
  async list(): Promise<string[]> {
    const rows = await this.#run<Row[]>(undefined, `SELECT k FROM ${this.#quoted} WHERE expires > ? ORDER BY k`, [Date.now()]);
    return rows.map((r) => String(r.k));
  }

  /**
   * Locks `key` for every process using this server: {@link lockAndGet}
   * without its record. Whatever happens (a timeout, a broken connection)
   * the lock is freed: by `RELEASE_LOCK`, or by closing its connection.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    return (await this.lockAndGet(key, timeoutMs)).release;
  }

  /**
   * {@link lock} and {@link get} in one exchange: `GET_LOCK(name, 0)` and
   * then the read, in the next batch of a line; the read is a statement
   * after the lock, in a transaction of its own (autocommit), so it sees
   * every write committed before. When another process holds the lock it is
   * waited for on the server. `setAndRelease` writes (committed by
   * autocommit) and runs `RELEASE_LOCK` in one more exchange.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lockAndGet(key: string, timeoutMs: number): Promise<LockedRecord> {
    if (key.length > MAX_KEY) throw new RangeError(`session key longer than ${MAX_KEY} characters`);
    if (this.#closed) throw new Error('the store is closed');
    const started = Date.now();
    const busy = () => new SessionBusyError(key, Date.now() - started);
    return within(this.#acquire(key, started + timeoutMs, busy), timeoutMs + 50, (held) => held.release(), busy);
  }

  async #acquire(key: string, deadline: number, busy: () => Error): Promise<LockedRecord> {
    let local: Release;
    try {
      local = await this.#keys.acquire(key, Math.max(1, deadline - Date.now()));
    } catch {
      throw busy();
    }
    const name = this.lockName(key);
    let taken: Taken;
    try {
      taken = await this.#lines.take(key, name);
      for (let attempt = 0; !taken.got; attempt++) {
        const left = deadline - Date.now();
        if (left <= 0) throw busy();
        // Waited for on the server by a line of its own; when every connection is in use, tried again after a sleep.
        const waiting = this.#lines.wait(key, name, left);
        if (waiting) taken = await waiting;
        else {
          await sleep(backoff(attempt, left));
          taken = await this.#lines.take(key, name);
        }
      }
      if (this.#closed) {
        await this.#lines.free(taken.line, name).catch(() => undefined);
        throw new Error('the store is closed');
      }
    } catch (e) {
      await local();
      throw e;
    }
    return this.#holding(key, name, taken, local);
  }

  /** The lock of `key`, granted on `taken.line`, with its record and the ways to give it back. */
  #holding(key: string, name: string, taken: Taken, local: Release): LockedRecord {
    const { line, row } = taken;
    this.#held.set(key, line);
    let released = false;
    const done = () => {
      released = true;
      if (this.#held.get(key) === line) this.#held.delete(key);
    };
    const release = async () => {
      if (released) return;
      done();
      try {
        // A failed unlock closes nothing else: the lock goes at the latest with its connection.
        await this.#lines.free(line, name).catch(() => undefined);
      } finally {
        await local();
      }
    };
    return {
      record: () => toRecord(row),
      release,
      setAndRelease: async (record) => {
        if (released) throw new Error('the session lock is no longer held');
        if (line.failure !== undefined) throw lockLost(line.failure);
        // A record that cannot be written fails here, the lock still held.
        const data = serializeRecord(record);
        if (data.length > LARGE) {
          // Written apart (committed when it answers), then unlocked: a failure leaves the lock held until release().
          await this.#run(key, this.#upsert, [key, data, Math.round(record.expires)], true);
          return release();
        }
        // Autocommit commits the write before RELEASE_LOCK runs; a failure leaves the lock held until release().
        await this.#lines.save(line, key, name, data, Math.round(record.expires));
        done();
        await local();
      },
    };
  }

  /** Closes the pool; connections still holding locks are closed, which frees their locks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lines.close(new Error('the store is closed'));
    this.#held.clear();
    await this.#pool.end();
  }
}

function toRecord(row: Row | undefined): SessionRecord | undefined {
  if (!row) return undefined;
  const record = parseRecord(String(row.data));
  // touch() moves only the column.
  record.expires = Number(row.expires);
  return record;
}

/**
 * Creates the session table of a `mysql://` URL and closes the connection:
 * what `pso store init <url>` does.
 *
 * @example
 * ```ts
 * await createMysqlTable('mysql://pso:secret@127.0.0.1/app?table=sessions');
 * ```
 */
export async function createMysqlTable(url: string | URL, options: MysqlStoreOptions = {}): Promise<void> {
  const store = new MysqlStore(url, options);
  try {
    await store.init();
  } finally {
    await store.close();
  }
}

/** The store a `PSOSessionStore` URL of this kind names. */
export const fromUrl: StoreFactory = (url) => new MysqlStore(url);
