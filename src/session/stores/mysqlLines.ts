import type mysql from 'mysql2/promise';
import { lockLost, within } from './sqlStoreSupport.js';

type Connection = mysql.PoolConnection;
export type Row = mysql.RowDataPacket;

/** The server's "table doesn't exist". */
export const ER_NO_SUCH_TABLE = 1146;
/** Most operations in one batch. */
const MAX_OPS = 64;
/** Most session data in one batch, in characters. */
const MAX_DATA = 1 << 20;

/** A try for a lock: whether it was granted, on which line, and the session's row read after it. */
export interface Taken {
  got: boolean;
  line: Line;
  row: Row | undefined;
}

interface Settle<T> {
  resolve(value: T): void;
  reject(e: unknown): void;
}

/** Tries a lock without waiting (`GET_LOCK(name, 0)`), then reads the session's row. */
interface TakeOp extends Settle<Taken> {
  kind: 'take';
  key: string;
  name: string;
  /** Batches it was sent in that failed before it could be answered. */
  tries: number;
}

/** Waits for a lock on the server (`GET_LOCK(name, s)`), then reads the row: alone on its line. */
interface WaitOp extends Settle<Taken> {
  kind: 'wait';
  key: string;
  name: string;
  ms: number;
}

/** Writes a locked session's row, then frees its lock. */
interface SaveOp extends Settle<boolean> {
  kind: 'save';
  key: string;
  name: string;
  data: string;
  expires: number;
  /** Sent alone: it was in a batch that failed. */
  solo: boolean;
}

/** Frees a lock without writing. */
interface FreeOp extends Settle<boolean> {
  kind: 'free';
  name: string;
  solo: boolean;
}

/** Any other statement, alone. */
interface SqlOp extends Settle<unknown> {
  kind: 'sql';
  sql: string;
  values: unknown[];
  prepared: boolean;
  /** Queued on the line of a session's lock, for that session. */
  bound: boolean;
}

type Op = TakeOp | WaitOp | SaveOp | FreeOp | SqlOp;
type Batched = TakeOp | SaveOp | FreeOp;

/**
 * One pooled connection of the store, holding the named locks of any
 * number of sessions, with the operations waiting for it. While a batch is
 * on the wire the next operations queue; they go together as the next
 * batch, so under load one exchange with the server serves many requests.
 */
export class Line {
  readonly queue: Op[] = [];
  /** A batch is on the wire. */
  busy = false;
  /** Reserved for, or running, a lock wait: nothing else may queue behind it. */
  blocking = false;
  /** Locks this store holds on the connection. */
  holds = 0;
  /** Why the connection failed: every lock it held is gone. */
  failure: unknown;
  /** Fails the query on the wire (a connection closed under it may never answer). */
  abort: ((e: unknown) => void) | undefined;
  /** Called when the connection reports a failure of its own. */
  readonly onFailure: (e: unknown) => void;

  constructor(readonly conn: Connection, onFailure: (line: Line, e: unknown) => void) {
    this.onFailure = (e) => onFailure(this, e);
  }

  get events(): NodeJS.EventEmitter {
    return this.conn.connection as unknown as NodeJS.EventEmitter;
  }
}

/** What {@link Lines} needs of its store. */
export interface LinesConfig {
  pool: mysql.Pool;
  /** Connections at most (the pool's size). */
  size: number;
  /** Lines shared by lock requests at most; the other connections serve lock waits, statements of no lock and large writes. */
  shared: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /** The table, quoted. */
  table: string;
  /** The statement that creates the table when it is missing. */
  createTable: string;
}

/** An error the server answered (the connection is fine), not a broken or lost connection. */
function isSqlError(e: unknown): boolean {
  const err = e as { sqlState?: string; fatal?: boolean };
  return typeof err?.sqlState === 'string' && !err.fatal;
}

/**
 * The store's connections, each a {@link Line}. An operation on a locked
 * session goes to the line holding its lock; a lock request, or a statement
 * of no lock, to an idle line, else to a new one while fewer than
 * `shared` are open, else to the line with the shortest queue. A lock wait
 * gets a line of its own (one holding no lock, so that no holder's write
 * waits behind it). A line with nothing queued and no lock goes back to
 * the pool.
 */
export class Lines {
  readonly #config: LinesConfig;
  readonly #lines: Line[] = [];
  /** Connections asked of the pool and not yet come. */
  #opening = 0;
  /** Operations of no line waiting for one to open or to free. */
  readonly #stalled: Op[] = [];
  /** Lock waits given a line (or a line being opened for them) and not yet answered. */
  #waits = 0;
  #closed = false;
  #ready: Promise<void> | undefined;
  readonly #read: string;
  readonly #upsertHead: string;
  readonly #upsertTail: string;

  constructor(config: LinesConfig) {
    this.#config = config;
    this.#read = `SELECT data, expires FROM ${config.table} WHERE k = ? AND expires > ?`;
    this.#upsertHead = `INSERT INTO ${config.table} (k, data, expires) VALUES `;
    this.#upsertTail = ' ON DUPLICATE KEY UPDATE data = VALUES(data), expires = VALUES(expires)';
  }

  /** Tries `name`'s lock without waiting, in the next batch of a line; reads `key`'s row after it. */
  take(key: string, name: string): Promise<Taken> {
    return new Promise((resolve, reject) => this.#submit({ kind: 'take', key, name, tries: 0, resolve, reject }));
  }

  /**
   * Waits up to `ms` for `name`'s lock on the server, on a line that holds
   * no lock; `undefined` when every connection is in use, or all but one
   * already wait (poll with {@link take} then).
   */
  wait(key: string, name: string, ms: number): Promise<Taken> | undefined {
    // With more than one connection, waits leave one to the batches of the requests that need no wait.
    const size = this.#config.size;
    if (size > 1 && this.#waits + 1 >= size) return undefined;
    const line = this.#lines.find((l) => l.failure === undefined && !l.busy && !l.blocking && l.holds === 0 && l.queue.length === 0);
    if (!line && this.#lines.length + this.#opening >= size) return undefined;
    this.#waits++;
    return new Promise<Taken>((resolve, reject) => {
      const op: WaitOp = { kind: 'wait', key, name, ms, resolve, reject };
      if (line) {
        line.blocking = true;
        this.#enqueue(line, op);
      } else this.#open(op);
    }).finally(() => this.#waits--);
  }

  /** Writes a locked session and frees its lock, on the line holding it; true when the server confirms the unlock. */
  save(line: Line, key: string, name: string, data: string, expires: number): Promise<boolean> {
    return new Promise((resolve, reject) => this.#submit({ kind: 'save', key, name, data, expires, solo: false, resolve, reject }, line));
  }

  /** Frees a lock held on `line`; false when it was not held there (or the line failed, which freed it). */
  free(line: Line, name: string): Promise<boolean> {
    return new Promise((resolve, reject) => this.#submit({ kind: 'free', name, solo: false, resolve, reject }, line));
  }

  /** Runs one statement, on `line` when given (a session's lock line), else on any. */
  statement<T>(sql: string, values: unknown[], prepared: boolean, line?: Line): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.#submit({ kind: 'sql', sql, values, prepared, bound: line !== undefined, resolve: resolve as (v: unknown) => void, reject }, line),
    );
  }

  /**
   * Creates the table when it is missing, once per store (again after a
   * failure): on `line` when given, a line this store already holds (so
   * that it never waits for another from a full pool), else on any.
   */
  init(line?: Line): Promise<void> {
    const sql = this.#config.createTable;
    this.#ready ??= (line ? this.#query(line, sql, [], false) : this.statement(sql, [], false)).then(
      () => undefined,
      (e: unknown) => {
        this.#ready = undefined;
        throw e;
      },
    );
    return this.#ready;
  }

  /** Closes every line (which frees their locks); what waits fails with `e`. */
  close(e: Error): void {
    this.#closed = true;
    for (const op of this.#stalled.splice(0)) op.reject(e);
    for (const line of [...this.#lines]) this.#fail(line, e);
  }

  /** Operations waiting for a line or queued on one. */
  queued(): number {
    return this.#stalled.length + this.#lines.reduce((n, l) => n + l.queue.length, 0);
  }

  #submit(op: Op, line?: Line): void {
    if (line) {
      if (line.failure !== undefined) {
        // The lock went with the connection: nothing is left to free, and nothing may be written.
        if (op.kind === 'free') op.resolve(false);
        else op.reject(lockLost(line.failure));
        return;
      }
      this.#enqueue(line, op);
      return;
    }
    if (this.#closed) {
      op.reject(new Error('the store is closed'));
      return;
    }
    if (op.kind === 'sql') {
      // A statement of no lock (gc, count, a store used without locking) may be slow: it goes where it
      // delays no lock holder's batch when it can.
      const free = this.#lines.find((l) => l.failure === undefined && !l.blocking && !l.busy && l.holds === 0 && l.queue.length === 0);
      if (free) return this.#enqueue(free, op);
      if (this.#lines.length + this.#opening < this.#config.size) return this.#open(op, true);
    }
    let shortest: Line | undefined;
    let shared = 0;
    for (const l of this.#lines) {
      if (l.failure !== undefined || l.blocking) continue;
      shared++;
      if (!l.busy && l.queue.length === 0) {
        this.#enqueue(l, op);
        return;
      }
      if (!shortest || l.queue.length < shortest.queue.length) shortest = l;
    }
    if (this.#lines.length + this.#opening < this.#config.size && (shared + this.#opening < this.#config.shared || !shortest)) {
      this.#open(op);
    } else if (shortest) this.#enqueue(shortest, op);
    else this.#stalled.push(op);
  }

  /**
   * Opens a line for `op`: a wait, or a statement that must not delay a
   * batch (`alone`), gets it for itself; other operations waiting for a line
   * go with `op`.
   */
  #open(op: Op, alone = op.kind === 'wait'): void {
    if (!alone) this.#stalled.push(op);
    this.#opening++;
    const ms = this.#config.connectTimeoutMs;
    within(this.#config.pool.getConnection(), ms, (c) => c.release(), () => new Error(`no connection from the pool within ${ms} ms`)).then(
      (conn) => {
        this.#opening--;
        if (this.#closed) {
          conn.destroy();
          if (alone) op.reject(new Error('the store is closed'));
          return;
        }
        const line = new Line(conn, (l, e) => this.#fail(l, e));
        line.events.on('error', line.onFailure);
        line.events.on('end', line.onFailure);
        this.#lines.push(line);
        if (op.kind === 'wait') line.blocking = true;
        if (alone) this.#enqueue(line, op);
        else this.#idle(line);
      },
      (e: unknown) => {
        this.#opening--;
        if (alone) op.reject(e);
        // Without another line to serve them, the operations waiting for one fail with this error.
        else if (!this.#lines.some((l) => l.failure === undefined && !l.blocking) && this.#opening === 0) {
          for (const o of this.#stalled.splice(0)) o.reject(e);
        }
      },
    );
  }

  #enqueue(line: Line, op: Op): void {
    line.queue.push(op);
    this.#flush(line);
  }

  /** Sends what is queued on `line`, when no batch is on the wire. */
  #flush(line: Line): void {
    if (line.busy || line.failure !== undefined || line.queue.length === 0) return;
    const head = line.queue[0]!;
    line.busy = true;
    if (head.kind === 'sql' || head.kind === 'wait' || (head.kind !== 'take' && head.solo)) {
      line.queue.shift();
      const run = head.kind === 'sql' ? this.#runStatement(line, head) : head.kind === 'wait' ? this.#runWait(line, head) : this.#runBatch(line, [head]);
      run.catch((e: unknown) => this.#broken(line, [head], e));
      return;
    }
    const batch: Batched[] = [];
    let data = 0;
    while (batch.length < MAX_OPS && line.queue.length) {
      const op = line.queue[0]!;
      if (op.kind === 'sql' || op.kind === 'wait' || (op.kind !== 'take' && op.solo)) break;
      if (op.kind === 'save') {
        if (batch.length > 0 && data + op.data.length > MAX_DATA) break;
        data += op.data.length;
      }
      batch.push(op);
      line.queue.shift();
    }
    this.#runBatch(line, batch).catch((e: unknown) => this.#broken(line, batch, e));
  }

  /**
   * An answer the store could not make sense of: the connection is closed
   * (which frees its locks) and the operations fail, rather than an error
   * escaping into the process.
   */
  #broken(line: Line, ops: Op[], e: unknown): void {
    this.#fail(line, e);
    this.#idle(line);
    for (const op of ops) op.reject(e);
  }

  /** The batch is answered: the line sends what queued meanwhile, serves stalled operations, or goes back to the pool. */
  #idle(line: Line): void {
    line.busy = false;
    // What was put back on a line that failed meanwhile goes elsewhere, or fails.
    if (line.failure !== undefined) return this.#fail(line, line.failure);
    if (line.queue.length === 0 && !line.blocking && this.#stalled.length) line.queue.push(...this.#stalled.splice(0));
    if (line.queue.length) return this.#flush(line);
    if (line.holds === 0 && !line.blocking) {
      this.#forget(line);
      line.conn.release();
    }
  }

  #forget(line: Line): void {
    line.events.off('error', line.onFailure);
    line.events.off('end', line.onFailure);
    const i = this.#lines.indexOf(line);
    if (i >= 0) this.#lines.splice(i, 1);
  }

  /**
   * The connection of `line` failed (or timed out): it is closed, which frees
   * every lock it held; what was queued on it for its locks fails, the rest
   * goes to other lines.
   */
  #fail(line: Line, e: unknown): void {
    if (line.failure === undefined) {
      line.failure = e ?? Object.assign(new Error('the connection closed'), { fatal: true });
      this.#forget(line);
      line.conn.destroy();
      line.abort?.(line.failure);
    }
    for (const op of line.queue.splice(0)) {
      if (op.kind === 'wait') op.reject(e);
      else if (op.kind === 'take' || (op.kind === 'sql' && !op.bound)) this.#submit(op);
      else if (op.kind === 'free') op.resolve(false);
      else op.reject(lockLost(line.failure));
    }
  }

  /**
   * One query on `line`, bounded by the statement timeout (plus `extraMs`);
   * it fails at once when the line fails under it. A timeout fails the line.
   */
  #query<T>(line: Line, sql: string, values: unknown[], prepared: boolean, extraMs = 0): Promise<T> {
    const ms = this.#config.statementTimeoutMs + extraMs;
    const work = prepared ? line.conn.execute(sql, values as Parameters<typeof line.conn.execute>[1]) : line.conn.query({ sql, values, rowsAsArray: true });
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (answer: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (line.abort === fail) line.abort = undefined;
        answer();
      };
      const fail = (e: unknown) => settle(() => reject(e));
      const timer = setTimeout(() => fail(Object.assign(new Error(`no answer within ${ms} ms`), { fatal: true })), ms);
      line.abort = fail;
      work.then(([result]) => settle(() => resolve(result as T)), fail);
    });
  }

  async #runStatement(line: Line, op: SqlOp): Promise<void> {
    try {
      const result = await this.#query<unknown>(line, op.sql, op.values, op.prepared);
      this.#idle(line);
      op.resolve(result);
    } catch (e) {
      if (!isSqlError(e)) this.#fail(line, e);
      this.#idle(line);
      op.reject(e);
    }
  }

  async #runWait(line: Line, op: WaitOp): Promise<void> {
    let got: unknown;
    let row: Row | undefined;
    try {
      try {
        const [granted, rows] = await this.#query<[unknown[][], unknown[][]]>(
          line, `SELECT GET_LOCK(?, ?); ${this.#read}`, [op.name, op.ms / 1000, op.key, Date.now()], false, op.ms,
        );
        got = granted[0]?.[0];
        row = asRow(rows[0]);
      } catch (e) {
        if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
        // GET_LOCK ran before the read failed: whether it was granted is asked again.
        await this.init(line);
        const [mine] = await this.#query<unknown[][]>(line, 'SELECT IS_USED_LOCK(?) = CONNECTION_ID()', [op.name], false);
        got = mine?.[0];
        row = undefined;
      }
      if (got === null || got === undefined) throw new Error(`GET_LOCK(${op.name}) failed`);
    } catch (e) {
      if (!isSqlError(e)) this.#fail(line, e);
      line.blocking = false;
      this.#idle(line);
      op.reject(e);
      return;
    }
    const granted = Number(got) === 1;
    if (granted) line.holds++;
    line.blocking = false;
    this.#idle(line);
    op.resolve({ got: granted, line, row: granted ? row : undefined });
  }

  /**
   * One exchange for many requests: every write (one multi-row upsert), then
   * one `SELECT` of every unlock and every try-lock, then one read of the
   * rows of the locks tried. Autocommit commits the writes before the
   * unlocks run, and the read, a statement after the try-locks, sees every
   * write committed before them.
   */
  async #runBatch(line: Line, batch: Batched[]): Promise<void> {
    const saves: SaveOp[] = [];
    const frees: FreeOp[] = [];
    const takes: TakeOp[] = [];
    for (const op of batch) {
      if (op.kind === 'save') saves.push(op);
      else if (op.kind === 'free') frees.push(op);
      else takes.push(op);
    }
    const sql: string[] = [];
    const values: unknown[] = [];
    if (saves.length) {
      sql.push(this.#upsertHead + saves.map(() => '(?, ?, ?)').join(', ') + this.#upsertTail);
      for (const s of saves) values.push(s.key, s.data, s.expires);
    }
    const unlocks = [...saves, ...frees];
    sql.push(`SELECT ${[...unlocks.map(() => 'RELEASE_LOCK(?)'), ...takes.map(() => 'GET_LOCK(?, 0)')].join(', ')}`);
    for (const o of unlocks) values.push(o.name);
    for (const t of takes) values.push(t.name);
    if (takes.length) {
      sql.push(`SELECT k, data, expires FROM ${this.#config.table} WHERE k IN (${takes.map(() => '?').join(', ')}) AND expires > ?`);
      for (const t of takes) values.push(t.key);
      values.push(Date.now());
    }
    let results: unknown[];
    try {
      const answer = await this.#query<unknown>(line, sql.join('; '), values, false);
      results = sql.length === 1 ? [answer] : (answer as unknown[]);
    } catch (e) {
      if (!isSqlError(e)) return this.#lost(line, batch, e);
      return this.#recover(line, batch, e);
    }
    const flags = (results[saves.length ? 1 : 0] as unknown[][])[0]!;
    const rows = takes.length ? byKey(results[results.length - 1] as unknown[][]) : undefined;
    line.holds -= unlocks.length;
    const outcomes: (() => void)[] = [];
    unlocks.forEach((o, i) => outcomes.push(() => o.resolve(Number(flags[i]) === 1)));
    takes.forEach((t, j) => {
      const got = flags[unlocks.length + j];
      if (got === null || got === undefined) return outcomes.push(() => t.reject(new Error(`GET_LOCK(${t.name}) failed`)));
      const granted = Number(got) === 1;
      if (granted) line.holds++;
      outcomes.push(() => t.resolve({ got: granted, line, row: granted ? rows!.get(t.key) : undefined }));
    });
    // The line is settled (maybe back in the pool) before anyone hears of its answers.
    this.#idle(line);
    for (const settle of outcomes) settle();
  }

  /**
   * A batch whose connection broke, or whose outcome cannot be known: the
   * connection is closed, which frees every lock it held. A lock tried there
   * went with it, so the try goes again on another line (twice at most);
   * the writes and unlocks fail (a write may or may not have been made).
   */
  #lost(line: Line, batch: Batched[], e: unknown): void {
    line.queue.unshift(...batch.filter((op) => op.kind === 'take' && ++op.tries <= 2));
    this.#fail(line, e);
    this.#idle(line);
    for (const op of batch) if (op.kind !== 'take' || op.tries > 2) op.reject(e);
  }

  /**
   * A batch the server refused part of: it runs the statements of a batch in
   * order and stops at the first that fails, so which locks the connection
   * still holds tells what ran. A write whose lock is still held did not
   * happen and goes again alone (so that a bad one fails by itself); a lock
   * tried and granted is read again; one not granted is tried again.
   */
  async #recover(line: Line, batch: Batched[], error: unknown): Promise<void> {
    let held: unknown[];
    try {
      if ((error as { errno?: number }).errno === ER_NO_SUCH_TABLE) await this.init(line);
      const rows = await this.#query<unknown[][]>(line, `SELECT ${batch.map(() => 'IS_USED_LOCK(?) = CONNECTION_ID()').join(', ')}`, batch.map((o) => o.name), false);
      held = rows[0]!;
    } catch (e) {
      // Nothing more can be learnt: closing the connection frees every lock it held.
      return this.#lost(line, batch, isSqlError(e) ? error : e);
    }
    const again: Batched[] = [];
    const granted: TakeOp[] = [];
    const outcomes: (() => void)[] = [];
    batch.forEach((op, i) => {
      const holding = Number(held[i]) === 1;
      if (op.kind === 'take') {
        if (holding) {
          line.holds++;
          granted.push(op);
        } else if (++op.tries > 2) outcomes.push(() => op.reject(error));
        else again.push(op);
      } else if (!holding) {
        // It ran: the write (when there was one) is committed and the lock freed.
        line.holds--;
        outcomes.push(() => op.resolve(true));
      } else if (batch.length === 1 || op.solo) {
        outcomes.push(() => op.reject(error));
      } else {
        op.solo = true;
        again.push(op);
      }
    });
    let found: Map<string, Row> | undefined;
    let unread: unknown;
    if (granted.length) {
      try {
        const rows = await this.#query<unknown[][]>(
          line, `SELECT k, data, expires FROM ${this.#config.table} WHERE k IN (${granted.map(() => '?').join(', ')}) AND expires > ?`,
          [...granted.map((t) => t.key), Date.now()], false,
        );
        found = byKey(rows);
      } catch (e) {
        unread = e;
      }
    }
    line.queue.unshift(...again);
    // A lock granted but not read is freed by closing the connection, which also settles what was to go again.
    if (unread !== undefined) this.#fail(line, unread);
    for (const t of granted) outcomes.push(unread === undefined ? () => t.resolve({ got: true, line, row: found!.get(t.key) }) : () => t.reject(unread));
    this.#idle(line);
    for (const settle of outcomes) settle();
  }
}

/** A row of `SELECT data, expires` (as an array) as the store reads it. */
function asRow(values: unknown[] | undefined): Row | undefined {
  return values ? ({ data: values[0], expires: values[1] } as unknown as Row) : undefined;
}

/** The rows of `SELECT k, data, expires` by key. */
function byKey(rows: unknown[][]): Map<string, Row> {
  const found = new Map<string, Row>();
  for (const r of rows) found.set(String(r[0]), { data: r[1], expires: r[2] } as unknown as Row);
  return found;
}
