import { hash } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { Release } from '../locks/KeyedMutex.js';
import { SessionBusyError } from '../locks/SessionBusyError.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { redact, registerStore } from './registry.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import {
  LockQueue,
  assertHeld,
  backoff,
  holdLock,
  readSqlSettings,
  sleep,
  toUrl,
  within,
  type ConnectionHold,
  type Handover,
  type LockWaiter,
  type SqlStoreOptions,
  type SqlStoreSettings,
} from './sqlStoreSupport.js';

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
  /** Callers waiting for a connection. */
  waiting: number;
  /** Connections held for session locks. */
  locks: number;
}

/** The server's "table doesn't exist". */
const ER_NO_SUCH_TABLE = 1146;
/** `k` is a VARCHAR(255): longer keys must be refused, not truncated into another session's. */
const MAX_KEY = 255;

type Connection = mysql.PoolConnection;
type Row = mysql.RowDataPacket;

/** A named lock held on a connection. */
type Hold = ConnectionHold<Connection>;

/** What a handover batch did for the next lock request: its try-lock, and its read (valid when granted). */
interface Pretaken {
  got: boolean;
  row: Row | undefined;
}

/** The parts of mysql2's pool the lock queue reads (not in its types). */
interface PoolCore {
  _allConnections: { length: number };
  _freeConnections: { length: number };
  _connectionQueue: { length: number };
  config: { connectionLimit: number };
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
 * Every statement is a server-side prepared statement. A session is locked
 * across processes with `GET_LOCK` on one pooled connection, held from load
 * to save; that connection also serves the session's reads and writes, so a
 * full pool cannot deadlock. With {@link lockAndGet} a request costs two round
 * trips: `GET_LOCK` with the read, then the write with `RELEASE_LOCK`. Under
 * load, a lock request that finds the pool taken waits for the next holder to
 * finish, which hands its connection over and runs the waiting request's
 * `GET_LOCK(name, 0)` and read in its own last batch: one round trip per
 * request while the lock is free.
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
  /** Keys whose named lock this store holds, with the connection holding it. */
  readonly #held = new Map<string, Hold>();
  /** Lock requests waiting for a connection, served by the pool or by a finishing holder. */
  readonly #queue: LockQueue<Connection, Pretaken>;
  /** Reads a row: `(k, now)`. */
  readonly #read: string;
  /** Writes a row, then frees its lock: `(k, data, expires, name)`. */
  readonly #save: string;
  /**
   * {@link #save}, and the next request's try-lock and read: `(k, data,
   * expires, other name, name, other name, other k, now)`.
   */
  readonly #savePassing: string;
  /** What {@link #savePassing} answers when the next request has no row: `(name, other name)`. */
  readonly #releaseChecking: string;
  /** Frees a lock and tries another without waiting, then reads that one's row: `(name, other name, k, now)`. */
  readonly #releaseTrying: string;
  #ready: Promise<void> | undefined;
  #closed = false;

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
      // The lock and the read, the write and the unlock, each go as one batch (values always escaped).
      multipleStatements: true,
    });
    // A later error on a connection the server closed (a restart) must not crash the process.
    this.#pool.pool.on('connection', (conn: NodeJS.EventEmitter) => conn.on('error', () => undefined));
    this.#read = `SELECT data, expires FROM ${this.#quoted} WHERE k = ? AND expires > ?`;
    this.#save = `${this.#upsert}; SELECT RELEASE_LOCK(?) AS ok`;
    // Two statements: the write also tries the next request's lock, without waiting (its answer is
    // multiplied by 0, a NULL counted as 0: the stored expiry is the one given); the statement after
    // it frees this lock and reads that request's row, its snapshot taken after the try. A lock not
    // granted leaves the read unused. The read is a plain primary-key lookup (a join that always
    // answers a row costs the server a fifth more): when that request has no row, the select list,
    // and with it the unlock, is not evaluated, and #releaseChecking follows.
    this.#savePassing =
      `INSERT INTO ${this.#quoted} (k, data, expires) VALUES (?, ?, ? + 0 * IFNULL(GET_LOCK(?, 0), 0)) ` +
      'ON DUPLICATE KEY UPDATE data = VALUES(data), expires = VALUES(expires); ' +
      'SELECT RELEASE_LOCK(?) AS ok, IS_USED_LOCK(?) = CONNECTION_ID() AS got, data, expires ' +
      `FROM ${this.#quoted} WHERE k = ? AND expires > ?`;
    this.#releaseChecking = 'SELECT RELEASE_LOCK(?) AS ok, IS_USED_LOCK(?) = CONNECTION_ID() AS got';
    // The other lock goes with the release (another name: the order does not matter); the read is a
    // statement of its own, after the one that took the lock: it sees every write committed before.
    this.#releaseTrying = `SELECT RELEASE_LOCK(?) AS ok, GET_LOCK(?, 0) AS got; ${this.#read}`;
    const core = this.#pool.pool as unknown as PoolCore;
    this.#queue = new LockQueue({
      available: () => core._freeConnections.length + Math.max(0, core.config.connectionLimit - core._allConnections.length),
      waiting: () => core._connectionQueue.length,
      connect: () => this.#pool.getConnection(),
      release: (c) => c.release(),
      destroy: (c) => c.destroy(),
    });
    // A connection back in the pool may serve a waiting lock request.
    this.#pool.pool.on('release', () => queueMicrotask(() => this.#queue.pump()));
  }

  /** The underlying pool's counts, to watch for leaks. */
  poolStats(): MysqlPoolStats {
    const core = this.#pool.pool as unknown as PoolCore;
    return { total: core._allConnections.length, idle: core._freeConnections.length, waiting: core._connectionQueue.length, locks: this.#held.size };
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
    return this.#init();
  }

  /**
   * {@link init}, on `held` when given: a connection this store already
   * holds, so that creating the table never waits for another from a full pool.
   */
  #init(held?: Connection): Promise<void> {
    // A binary collation for k: session ids differing only in case are different sessions.
    const sql =
      `CREATE TABLE IF NOT EXISTS ${this.#quoted} (k VARCHAR(${MAX_KEY}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, ` +
      'data MEDIUMTEXT NOT NULL, expires BIGINT NOT NULL, INDEX (expires)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4';
    this.#ready ??= (held ? this.#on(held, sql, [], false) : this.#statement(undefined, sql, [], false)).then(
      () => undefined,
      (e: unknown) => {
        this.#ready = undefined;
        throw e;
      },
    );
    return this.#ready;
  }

  /** A pooled connection within the connect timeout; one that comes later goes straight back. */
  #connection(ms = this.#settings.connectTimeoutMs, onTimeout?: () => Error): Promise<Connection> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    return within(this.#pool.getConnection(), ms, (c) => c.release(), onTimeout ?? (() => new Error(`no connection from the pool within ${ms} ms`)));
  }

  /** Runs one statement on `conn` within the statement timeout. */
  async #on<T>(conn: Connection, sql: string, values: unknown[], prepared: boolean, extraMs = 0): Promise<T> {
    const ms = this.#settings.statementTimeoutMs + extraMs;
    const work = prepared ? conn.execute(sql, values as any) : conn.query(sql, values as any);
    const [result] = await within(work, ms, () => undefined, () => Object.assign(new Error(`no answer within ${ms} ms`), { fatal: true }));
    return result as T;
  }

  /**
   * Runs a statement on the session's lock connection when this store holds
   * it, else on a pooled one; a connection that failed other than with an
   * SQL error is closed rather than reused.
   */
  async #statement<T>(key: string | undefined, sql: string, values: unknown[], prepared = true): Promise<T> {
    const held = key === undefined ? undefined : this.#held.get(key);
    if (held) {
      if (held.broken !== undefined) throw new Error(`the connection holding the session lock failed: ${(held.broken as Error)?.message ?? held.broken}`);
      try {
        return await this.#on<T>(held.conn, sql, values, prepared);
      } catch (e) {
        if (!isSqlError(e)) held.broken ??= e;
        throw e;
      }
    }
    const conn = await this.#connection();
    try {
      const result = await this.#on<T>(conn, sql, values, prepared);
      conn.release();
      return result;
    } catch (e) {
      if (isSqlError(e)) conn.release();
      else conn.destroy();
      throw e;
    }
  }

  /** {@link #statement}, creating the table the first time it is missing. */
  async #run<T>(key: string | undefined, sql: string, values: unknown[]): Promise<T> {
    if (key !== undefined && key.length > MAX_KEY) throw new RangeError(`session key longer than ${MAX_KEY} characters`);
    try {
      return await this.#statement<T>(key, sql, values);
    } catch (e) {
      if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
      const held = key === undefined ? undefined : this.#held.get(key);
      await this.#init(held?.conn);
      return this.#statement<T>(key, sql, values);
    }
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const rows = await this.#run<Row[]>(key, `SELECT data, expires FROM ${this.#quoted} WHERE k = ? AND expires > ?`, [key, Date.now()]);
    return toRecord(rows[0]);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    await this.#run(key, this.#upsert, [key, serializeRecord(record), Math.round(record.expires)]);
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
   * Locks `key` for every process using this server: `GET_LOCK` on a
   * connection held until the release, which runs `RELEASE_LOCK` and gives
   * the connection back. It is {@link lockAndGet} without its record: one
   * way to take the lock. Whatever happens (a timeout, a broken connection)
   * the connection goes back to the pool or is closed, which frees the lock.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    return (await this.lockAndGet(key, timeoutMs)).release;
  }

  /**
   * {@link lock} and {@link get} in one round trip: `GET_LOCK` (waited for
   * by the server) and the read go as one batch, and the read runs after the
   * lock is granted, in a transaction of its own (autocommit), so it sees
   * every write committed before. `setAndRelease` writes (committed by
   * autocommit) and runs `RELEASE_LOCK` in one more round trip.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lockAndGet(key: string, timeoutMs: number): Promise<LockedRecord> {
    if (key.length > MAX_KEY) throw new RangeError(`session key longer than ${MAX_KEY} characters`);
    const started = Date.now();
    const busy = () => new SessionBusyError(key, Date.now() - started);
    return within(this.#acquireWithRecord(key, started + timeoutMs, busy), timeoutMs + 50, (held) => held.release(), busy);
  }

  async #acquireWithRecord(key: string, deadline: number, busy: () => Error): Promise<LockedRecord> {
    const name = this.lockName(key);
    const { conn, pre } = await this.#queue.acquire(key, Math.min(this.#settings.connectTimeoutMs, deadline - Date.now()), busy, name);
    let row: Row | undefined;
    let unlocked = false;
    /** The waiter this connection goes to next, with what the last batch did for it. */
    let handover: Handover<Connection, Pretaken> | undefined;
    const release = await holdLock({
      key,
      conn,
      events: conn.connection as unknown as NodeJS.EventEmitter,
      held: this.#held,
      putBack: (c, destroy) => this.#queue.giveBack(c, destroy || this.#closed, handover),
      lock: async () => {
        // The holder that handed this connection over took the lock for this request in its last batch.
        if (pre?.got) {
          row = pre.row;
          return;
        }
        for (let attempt = 0; ; attempt++) {
          const left = Math.max(0, deadline - Date.now());
          let ok: unknown;
          try {
            const [granted, rows] = await this.#on<[Row[], Row[]]>(conn, `SELECT GET_LOCK(?, ?) AS ok; ${this.#read}`, [name, left / 1000, key, Date.now()], false, left);
            ok = granted[0]?.ok;
            row = rows[0];
          } catch (e) {
            if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
            // GET_LOCK ran before the read failed; it may have been granted (and counts once per call).
            await this.#init(conn);
            const [mine] = await this.#on<Row[]>(conn, 'SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS ok', [name], false);
            ok = mine?.ok;
            row = undefined;
          }
          if (ok === 1 || ok === 1n || ok === '1') return;
          if (ok === null || ok === undefined) throw new Error(`GET_LOCK(${name}) failed`);
          const after = deadline - Date.now();
          if (after <= 0) throw busy();
          // A server that rounds the wait down answers early: wait out the rest.
          await sleep(backoff(attempt, after));
        }
      },
      unlock: async () => {
        if (unlocked) return true;
        const next = this.#pretake(key);
        if (!next) return Number((await this.#on<Row[]>(conn, 'SELECT RELEASE_LOCK(?) AS ok', [name], true))[0]?.ok) === 1;
        let results: Row[][];
        try {
          results = await this.#on<Row[][]>(conn, this.#releaseTrying, [name, next.name, next.key, Date.now()], false);
        } catch (e) {
          // The connection is closed, which frees whatever the batch took; the waiter waits on.
          this.#queue.unshift(next);
          throw e;
        }
        handover = { waiter: next, pre: pretaken(results) };
        return Number(results[0]?.[0]?.ok) === 1;
      },
      closed: () => this.#closed,
    });
    return {
      record: () => toRecord(row),
      release,
      setAndRelease: async (record) => {
        const hold = assertHeld(this.#held, key, conn);
        // The next lock request waiting for a connection gets its try-lock and read in the same batch,
        // after the unlock: autocommit has committed the write by then.
        const next = this.#pretake(key);
        const written = [key, serializeRecord(record), Math.round(record.expires)];
        try {
          // Autocommit commits the write before RELEASE_LOCK runs.
          if (next) {
            const values = [...written, next.name, name, next.name, next.key, Date.now()];
            const [, [found]] = await this.#on<[unknown, Row[]]>(conn, this.#savePassing, values, false);
            // No row: nothing in the select list ran, this lock is still held.
            const answer = found ?? (await this.#on<Row[]>(conn, this.#releaseChecking, [name, next.name], true))[0];
            unlocked = Number(answer?.ok) === 1;
            handover = { waiter: next, pre: { got: Number(answer?.got) === 1, row: found } };
          } else {
            const [, freed] = await this.#on<[unknown, Row[]]>(conn, this.#save, [...written, name], false);
            unlocked = Number(freed[0]?.ok) === 1;
          }
        } catch (e) {
          // The lock (and the next request's) may still be held: closing the connection frees them.
          if (next) this.#queue.unshift(next);
          hold.broken ??= e;
          throw e;
        }
        await release();
      },
    };
  }

  /**
   * The next lock request waiting for a connection, taken off the queue: its
   * try-lock (of its `name`) and read go in a holder's last batch. None when
   * nobody waits, or when the pool has callers of its own.
   */
  #pretake(held: string): LockWaiter<Connection, Pretaken> | undefined {
    return this.#closed ? undefined : this.#queue.nextOther(held);
  }

  /** Closes the pool; connections still held for locks are closed, which frees their locks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.failAll(new Error('the store is closed'));
    for (const hold of [...this.#held.values()]) hold.giveBack(true);
    await this.#pool.end();
  }
}

/** The try-lock and read a handover batch ran for the next request: `got` in its first answer, the row in its second. */
function pretaken(results: Row[][]): Pretaken {
  return { got: Number(results[0]?.[0]?.got) === 1, row: results[1]?.[0] };
}

function toRecord(row: Row | undefined): SessionRecord | undefined {
  if (!row) return undefined;
  const record = parseRecord(String(row.data));
  // touch() moves only the column.
  record.expires = Number(row.expires);
  return record;
}

/** An error the server answered (the connection is fine), not a broken or lost connection. */
function isSqlError(e: unknown): boolean {
  const err = e as { sqlState?: string; fatal?: boolean };
  return typeof err?.sqlState === 'string' && !err.fatal;
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

registerStore('mysql:', (url) => new MysqlStore(url));
registerStore('mariadb:', (url) => new MysqlStore(url));
