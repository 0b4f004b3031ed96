import pg from 'pg';
import type { Release } from '../locks/KeyedMutex.js';
import { SessionBusyError } from '../locks/SessionBusyError.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import type { StoreFactory } from './StoreFactory.js';
import { redact } from './redact.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import { PostgresUserIndex } from './users/PostgresUserIndex.js';
import {
  LockQueue,
  OWN_PARAMS,
  assertHeld,
  holdLock,
  lockLost,
  readSqlSettings,
  toUrl,
  within,
  type ConnectionHold,
  type Handover,
  type LockWaiter,
  type SqlStoreOptions,
  type SqlStoreSettings,
} from './sqlStoreSupport.js';
import { createIndexUnlessThere } from './postgresIndex.js';
import type { UserIndex } from './UserIndex.js';

/** Options of {@link PostgresStore}; each overrides the URL parameter of the same meaning. */
export interface PostgresStoreOptions extends SqlStoreOptions {
  /** More `pg.Pool` settings (ssl, application_name, ...), applied last. */
  poolConfig?: pg.PoolConfig;
}

/** Pool counts, to watch for leaks. */
export interface PoolStats {
  /** Connections open. */
  total: number;
  /** Connections open and unused. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** Connections held for session locks. */
  locks: number;
}

/** An advisory lock held on a connection. */
type Hold = ConnectionHold<pg.PoolClient>;

/** PostgreSQL's code for "relation does not exist". */
const UNDEFINED_TABLE = '42P01';
/** PostgreSQL's code for a lock not granted within `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/** A stored row as the stores read it. */
interface StoredRow {
  data: string;
  expires_ms: number;
}

/** What a handover batch did for the next lock request: its try-lock, and its read (valid when granted). */
interface Pretaken {
  got: boolean;
  row: StoredRow | undefined;
}

/**
 * Sessions in a PostgreSQL table, shared by every process and host that
 * reaches the database: `PSOSessionStore postgres://user@host:5432/db`
 * (`postgresql://` too). URL parameters: `pool` (connections, default 10),
 * `table` (default `pso_sessions`), `statement_timeout` (ms, default 5000),
 * `connect_timeout` (s, default 5); the rest (`sslmode`, `application_name`,
 * ...) go to the driver.
 *
 * The table `(key text primary key, data text, expires timestamptz)` and its
 * index on `expires` are created on first use (or by `pso store init <url>`).
 * Every value is parameterised or escaped by the driver. A session is locked
 * across processes with a session-level advisory lock,
 * `pg_advisory_lock(hashtextextended(key, 0))` under `lock_timeout`, held on
 * one pooled connection from load to save; that connection also
 * serves the session's reads and writes, so a full pool cannot deadlock.
 * With {@link lockAndGet} a request costs two round trips: the lock (waited
 * for by the server, first come first served) with the read, then the write
 * with the unlock. Under load, a lock request that finds the pool taken waits
 * for the next holder to finish, which hands its connection over and tries
 * the waiting request's lock and reads its row in its own last batch: one
 * round trip per request while the lock is free.
 *
 * @example
 * ```ts
 * // SetEnv PSOSessionStore "postgres://pso@127.0.0.1:5432/app?pool=20"
 * // or, in code:
 * const container = createContainer();
 * container.bind(TOKENS.SessionStore).toConstantValue(new PostgresStore('postgres://pso@127.0.0.1/app'));
 * container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
 * ```
 */
export class PostgresStore implements SessionStore {
  readonly name: string;
  /** The table, as configured (a checked identifier). */
  readonly table: string;
  readonly #pool: pg.Pool;
  readonly #settings: SqlStoreSettings;
  readonly #quoted: string;
  /** Keys whose advisory lock this store holds, with the connection holding it. */
  readonly #held = new Map<string, Hold>();
  /** Pooled connections on which the `pso_*` statements are prepared (statements live as long as their connection). */
  readonly #prepared = new WeakSet<pg.PoolClient>();
  /** Prepares the statements of {@link lockAndGet} and of its handovers on a connection. */
  readonly #prepare: string;
  /** Lock requests waiting for a connection, served by the pool or by a finishing holder. */
  readonly #queue: LockQueue<pg.PoolClient, Pretaken>;
  #ready: Promise<void> | undefined;
  #closed = false;
  /** Users' sessions (`session.login()`): two tables beside the sessions'. */
  readonly users: UserIndex;

  constructor(url: string | URL, options: PostgresStoreOptions = {}) {
    const u = toUrl(url);
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new TypeError(`PostgresStore needs a postgres:// URL, not ${redact(u)}`);
    this.name = redact(u);
    this.#settings = readSqlSettings(u, options);
    this.table = this.#settings.table;
    this.#quoted = `"${this.table}"`;
    const t = this.#quoted;
    const hash = 'hashtextextended($1, 0)';
    // The write, then the unlock: a transaction-level hold on the same lock, taken before the
    // session-level one is given up (the subquery runs first), lasts until the commit.
    const saving = (more: string) =>
      `WITH w AS (INSERT INTO ${t} (key, data, expires) VALUES ($1, $2, to_timestamp($3 / 1000)) ${UPSERT} RETURNING 1) ` +
      `SELECT pg_advisory_unlock(${hash}) AS ok${more} FROM (SELECT pg_advisory_xact_lock(${hash})) AS held, w`;
    // Prepared by the first lock batch a connection runs; they outlive a rolled-back transaction.
    // The table's statements come first: when the table is missing nothing gets prepared.
    this.#prepare =
      `PREPARE pso_read(text, float8) AS SELECT data, ${EXPIRES_MS} FROM ${t} WHERE key = $1 AND expires > to_timestamp($2 / 1000); ` +
      `PREPARE pso_save(text, text, float8) AS ${saving('')}; ` +
      // The same, and a try for the next request's lock ($4, another session's: the order does not matter).
      `PREPARE pso_save_pass(text, text, float8, text) AS ${saving(', pg_try_advisory_lock(hashtextextended($4, 0)) AS got')}; ` +
      `PREPARE pso_limits(text, text) AS SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true); ` +
      `PREPARE pso_lock(text) AS SELECT pg_advisory_lock(${hash}); ` +
      `PREPARE pso_pass(text, text) AS SELECT pg_advisory_unlock(${hash}) AS ok, pg_try_advisory_lock(hashtextextended($2, 0)) AS got; ` +
      `PREPARE pso_unlock(text) AS SELECT pg_advisory_unlock(${hash}) AS ok; `;
    const driverUrl = new URL(u.href);
    for (const p of OWN_PARAMS) driverUrl.searchParams.delete(p);
    // Every statement sees what was committed before it began (a read after a lock sees the last
    // holder's write), whatever the server's default isolation: set when each connection starts.
    const given = driverUrl.searchParams.get('options');
    driverUrl.searchParams.set('options', `${given ? `${given} ` : ''}-c default_transaction_isolation=read\\ committed`);
    const timeout = this.#settings.statementTimeoutMs;
    this.#pool = new pg.Pool({
      connectionString: driverUrl.href,
      max: this.#settings.pool,
      connectionTimeoutMillis: this.#settings.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      // The server stops a statement, and the client stops waiting for a lost one a little later.
      statement_timeout: timeout,
      query_timeout: timeout + 1000,
      keepAlive: true,
      // Idle connections do not keep a CGI process alive.
      allowExitOnIdle: true,
      ...options.poolConfig,
    });
    // An idle connection the server closed (a restart) is dropped by the pool; without a listener it would crash the process.
    this.#pool.on('error', () => undefined);
    const pool = this.#pool;
    this.#queue = new LockQueue({
      available: () => pool.idleCount + Math.max(0, (pool.options.max ?? 10) - pool.totalCount),
      waiting: () => pool.waitingCount,
      connect: () => pool.connect(),
      release: (c) => c.release(),
      destroy: (c) => c.release(true),
    });
    // A connection back in the pool, or one fewer open, may serve a waiting lock request (once the pool has taken it back).
    const pump = () => queueMicrotask(() => this.#queue.pump());
    pool.on('release', pump);
    pool.on('remove', pump);
    this.users = new PostgresUserIndex(this.table, (key, text, values) => this.#query(key, text, values));
  }

  /** The underlying pool's counts, to watch for leaks. */
  poolStats(): PoolStats {
    return { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount, locks: this.#held.size };
  }

  /** Creates the table and its index if they are missing (`pso store init <url>`). */
  init(): Promise<void> {
    return this.#init();
  }

  /**
   * {@link init}, on `held` when given: a connection this store already
   * holds, so that creating the table never waits for another from a full pool.
   */
  #init(held?: pg.PoolClient): Promise<void> {
    this.#ready ??= this.#createTable(held).catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async #createTable(held?: pg.PoolClient): Promise<void> {
    const client = held ?? (await this.#pool.connect());
    let failed: unknown;
    try {
      // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalogue: serialise creators.
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`pso-schema:${this.table}`]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.#quoted} (key text PRIMARY KEY, data text NOT NULL, expires timestamptz NOT NULL)`);
      await client.query(createIndexUnlessThere(`"${this.table.slice(0, 50)}_expires_idx"`, this.#quoted, 'expires'));
      await client.query('COMMIT');
    } catch (e) {
      failed = e;
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      if (!held) client.release(failed !== undefined);
    }
  }

  /**
   * Runs a statement on the session's lock connection when this store holds
   * it, else on any pooled one; creates the table the first time it is missing.
   */
  async #query<R extends pg.QueryResultRow>(key: string | undefined, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new Error('the store is closed');
    const run = async () => {
      const held = key === undefined ? undefined : this.#held.get(key);
      if (!held) return this.#pool.query<R>(text, values);
      if (held.broken !== undefined) throw lockLost(held.broken);
      try {
        return await held.conn.query<R>(text, values);
      } catch (e) {
        // A statement the server refused leaves the connection usable; anything else does not.
        if (!(e instanceof pg.DatabaseError)) held.broken ??= e as Error;
        throw e;
      }
    };
    try {
      return await run();
    } catch (e) {
      // Only the sessions' table is made here: a statement of the user index that finds its own
      // table missing (its gc, in a database where no one ever logged in) must not come here.
      if (!isMissing(e, this.table)) throw e;
      const held = key === undefined ? undefined : this.#held.get(key);
      await this.#init(held?.conn);
      return run();
    }
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.#query<StoredRow>(
      key,
      `SELECT data, ${EXPIRES_MS} FROM ${this.#quoted} WHERE key = $1 AND expires > to_timestamp($2::float8 / 1000)`,
      [key, Date.now()],
    );
    return toRecord(rows[0]);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    await this.#query(key, `INSERT INTO ${this.#quoted} (key, data, expires) VALUES ($1, $2, to_timestamp($3::float8 / 1000)) ${UPSERT}`, [
      key,
      serializeRecord(record),
      record.expires,
    ]);
  }

  async touch(key: string, record: SessionRecord): Promise<void> {
    const { rowCount } = await this.#query(key, `UPDATE ${this.#quoted} SET expires = to_timestamp($2::float8 / 1000) WHERE key = $1`, [key, record.expires]);
    if (!rowCount) await this.set(key, record);
  }

  async destroy(key: string): Promise<void> {
    await this.#query(key, `DELETE FROM ${this.#quoted} WHERE key = $1`, [key]);
  }

  async gc(): Promise<number> {
    // Entries of expired sessions first, while their rows still say so.
    await this.users.gc();
    const { rowCount } = await this.#query(undefined, `DELETE FROM ${this.#quoted} WHERE expires <= to_timestamp($1::float8 / 1000)`, [Date.now()]);
    return rowCount ?? 0;
  }

  /** How many unexpired sessions are kept. */
  async count(): Promise<number> {
    const { rows } = await this.#query<{ n: number }>(undefined, `SELECT count(*)::float8 AS n FROM ${this.#quoted} WHERE expires > to_timestamp($1::float8 / 1000)`, [Date.now()]);
    return rows[0]!.n;
  }

  /** The keys of the unexpired sessions. */
  async list(): Promise<string[]> {
    const { rows } = await this.#query<{ key: string }>(undefined, `SELECT key FROM ${this.#quoted} WHERE expires > to_timestamp($1::float8 / 1000) ORDER BY key`, [Date.now()]);
    return rows.map((r) => r.key);
  }

  /**
   * Locks `key` for every process using this database: a session-level
   * advisory lock, waited for by the server (waiters served in turn) until
   * `timeoutMs`, on a connection held until the release. It is
   * {@link lockAndGet} without its record: one way to take the lock. Whatever happens (a timeout, a broken connection) the
   * connection goes back to the pool or is closed, which frees the lock.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    return (await this.lockAndGet(key, timeoutMs)).release;
  }

  /**
   * {@link lock} and {@link get} in one round trip: one batch of statements
   * that waits for the advisory lock on the server (`pg_advisory_lock` under
   * `lock_timeout`, so waiters are served in turn) and then reads the row,
   * under READ COMMITTED so that the read sees every write committed before
   * the lock was granted. `setAndRelease` writes, commits and unlocks in one
   * more round trip, the lock kept until the write is committed.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lockAndGet(key: string, timeoutMs: number): Promise<LockedRecord> {
    const started = Date.now();
    const busy = () => new SessionBusyError(key, Date.now() - started);
    return within(this.#acquireWithRecord(key, started + timeoutMs, busy), timeoutMs + 50, (held) => held.release(), busy);
  }

  async #acquireWithRecord(key: string, deadline: number, busy: () => Error): Promise<LockedRecord> {
    if (this.#closed) throw new Error('the store is closed');
    /** The key as an SQL literal, escaped once for every statement of this request (and a handover's). */
    const k = pg.escapeLiteral(key);
    const { conn: client, pre } = await this.#queue.acquire(key, deadline - Date.now(), busy, k);
    const lockId = `hashtextextended(${k}, 0)`;
    let row: StoredRow | undefined;
    let unlocked = false;
    /** The waiter this connection goes to next, with what the last batch did for it. */
    let handover: Handover<pg.PoolClient, Pretaken> | undefined;
    const release = await holdLock({
      key,
      conn: client,
      events: client,
      held: this.#held,
      putBack: (c, destroy) => this.#queue.giveBack(c, destroy || this.#closed, handover),
      lock: async () => {
        // The holder that handed this connection over took the lock for this request in its last batch.
        if (pre?.got) {
          row = pre.row;
          return;
        }
        for (let retried = false; ; retried = true) {
          const left = Math.max(1, Math.ceil(deadline - Date.now()));
          const fresh = !this.#prepared.has(client);
          const read = `EXECUTE pso_read(${k}, ${Date.now()})`;
          // One implicit transaction: the session-level lock outlives it, and a lock timeout rolls it back.
          // The statements are prepared with the first batch a connection runs, so later ones skip parsing and planning.
          const batch =
            `${fresh ? this.#prepare : ''}EXECUTE pso_limits('${left}', '${left + this.#settings.statementTimeoutMs}'); ` +
            `EXECUTE pso_lock(${k}); ${read}`;
          let results: pg.QueryResult<StoredRow>[];
          try {
            // pg reads query_timeout per query too (its types do not say so).
            const query = { text: batch, query_timeout: left + this.#settings.statementTimeoutMs + 1000 } as pg.QueryConfig;
            results = (await client.query(query)) as unknown as pg.QueryResult<StoredRow>[];
          } catch (e) {
            const code = (e as { code?: string }).code;
            // The statements were prepared before the lock was tried.
            if (code === LOCK_NOT_AVAILABLE) {
              this.#prepared.add(client);
              throw busy();
            }
            if (code !== UNDEFINED_TABLE) throw e;
            await this.#init(client);
            // No table to prepare against: nothing was prepared or locked. Once more, now that it exists.
            if (fresh) {
              if (retried) throw e;
              continue;
            }
            // The table went away after the statements were prepared: the read failed with the lock held.
            row = (await client.query<StoredRow>(read)).rows[0];
            return;
          }
          this.#prepared.add(client);
          row = results[results.length - 1]?.rows[0];
          return;
        }
      },
      unlock: async () => {
        if (unlocked) return true;
        const next = this.#pretake(client, key);
        let results: pg.QueryResult[];
        try {
          const unlock = !this.#prepared.has(client)
            ? `SELECT pg_advisory_unlock(${lockId}) AS ok`
            : next
              ? `EXECUTE pso_pass(${k}, ${next.waiter.name}); ${next.read}`
              : `EXECUTE pso_unlock(${k})`;
          const answer = (await client.query(unlock)) as unknown as pg.QueryResult | pg.QueryResult[];
          results = Array.isArray(answer) ? answer : [answer];
        } catch (e) {
          // The connection is closed, which frees whatever the batch took; the waiter waits on.
          if (next) this.#queue.unshift(next.waiter);
          throw e;
        }
        if (next) handover = { waiter: next.waiter, pre: pretaken(results) };
        return results[0]?.rows[0]?.ok === true;
      },
      closed: () => this.#closed,
    });
    return {
      record: () => toRecord(row),
      release,
      setAndRelease: async (record) => {
        const hold = assertHeld(this.#held, key, client);
        // Committed before the lock is free, in one round trip: the batch is one transaction, and a
        // transaction-level hold on the same lock, taken before the session-level one is given up
        // (the subquery runs first), lasts until the commit. The next holder reads this write.
        const [data, expires] = [pg.escapeLiteral(serializeRecord(record)), Number(record.expires)];
        // The next lock request waiting for a connection gets its try-lock and read in the same batch,
        // after the unlock: the same session's next request reads this write.
        const next = this.#pretake(client, key);
        const batch = !this.#prepared.has(client)
          ? `INSERT INTO ${this.#quoted} (key, data, expires) VALUES (${k}, ${data}, to_timestamp(${expires}::float8 / 1000)) ${UPSERT}; ` +
            `SELECT pg_advisory_unlock(${lockId}) AS ok FROM (SELECT pg_advisory_xact_lock(${lockId})) AS held`
          : next
            ? `EXECUTE pso_save_pass(${k}, ${data}, ${expires}, ${next.waiter.name}); ${next.read}`
            : `EXECUTE pso_save(${k}, ${data}, ${expires})`;
        try {
          const answer = (await client.query(batch)) as unknown as pg.QueryResult | pg.QueryResult[];
          const results = Array.isArray(answer) ? answer : [answer];
          // The unlock answers first, but after the INSERT when nothing is prepared.
          unlocked = results[next ? 0 : results.length - 1]?.rows[0]?.ok === true;
          if (next) handover = { waiter: next.waiter, pre: pretaken(results) };
        } catch (e) {
          // A refused write rolls the batch back and leaves the lock held, for release() to free;
          // after any other failure, or when the batch also tried the next request's lock (which a
          // rollback does not undo), closing the connection is what frees them.
          if (next) {
            this.#queue.unshift(next.waiter);
            hold.broken ??= e;
          } else if (!(e instanceof pg.DatabaseError)) hold.broken ??= e;
          throw e;
        }
        await release();
      },
    };
  }

  /**
   * The next lock request waiting for a connection, taken off the queue, and
   * the statements that try its lock and read its row: sent after a holder's
   * own, in its last batch. None when nobody waits, when the pool has callers
   * of its own, or on a connection without the prepared read.
   */
  #pretake(client: pg.PoolClient, held: string): { waiter: LockWaiter<pg.PoolClient, Pretaken>; read: string } | undefined {
    if (this.#closed || !this.#prepared.has(client)) return undefined;
    const waiter = this.#queue.nextOther(held);
    if (!waiter) return undefined;
    // The read is a statement of its own, after the one that took the lock: it sees every write committed before.
    return { waiter, read: `EXECUTE pso_read(${waiter.name}, ${Date.now()})` };
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

/** The stored expiry in ms, which touch() may have moved without rewriting the data. */
const EXPIRES_MS = 'round(extract(epoch FROM expires) * 1000)::float8 AS expires_ms';
const UPSERT = 'ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, expires = EXCLUDED.expires';

/** The try-lock and read a handover batch ran for the next request: its first answer's `got`, and its second's row. */
function pretaken(results: pg.QueryResult[]): Pretaken {
  return { got: results[0]?.rows[0]?.got === true, row: results[1]?.rows[0] as StoredRow | undefined };
}

function toRecord(row: StoredRow | undefined): SessionRecord | undefined {
  if (!row) return undefined;
  const record = parseRecord(row.data);
  // touch() moves only the column.
  record.expires = Number(row.expires_ms);
  return record;
}

/**
 * Creates the session table of a `postgres://` URL and closes the connection:
 * what `pso store init <url>` does.
 *
 * @example
 * ```ts
 * await createPostgresTable('postgres://pso@127.0.0.1/app?table=sessions');
 * ```
 */
export async function createPostgresTable(url: string | URL, options: PostgresStoreOptions = {}): Promise<void> {
  const store = new PostgresStore(url, options);
  try {
    await store.init();
  } finally {
    await store.close();
  }
}

/** The store a `PSOSessionStore` URL of this kind names. */
export const fromUrl: StoreFactory = (url) => new PostgresStore(url);

/** Whether `e` says that `table` does not exist (PostgreSQL names the missing relation). */
function isMissing(e: unknown, table: string): boolean {
  return (e as { code?: string }).code === UNDEFINED_TABLE && String((e as Error).message).includes(`"${table}"`);
}
