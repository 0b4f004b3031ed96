import { ConfigurationError } from '../../config/ConfigurationError.js';
import type { Release } from '../locks/KeyedMutex.js';
import { SessionBusyError } from '../locks/SessionBusyError.js';
import { redact } from './redact.js';

/** What the SQL stores read from their URL and options. */
export interface SqlStoreSettings {
  pool: number;
  table: string;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Options shared by the SQL stores; each overrides its URL parameter. */
export interface SqlStoreOptions {
  /** Most connections in the pool (URL `?pool=`, default 10). */
  pool?: number;
  /** Table name, a plain SQL identifier (URL `?table=`, default `pso_sessions`). */
  table?: string;
  /** Longest a statement may run, in ms (URL `?statement_timeout=`, default 5000). */
  statementTimeoutMs?: number;
  /** Longest a new connection may take, in ms (URL `?connect_timeout=` in seconds, default 5). */
  connectTimeoutMs?: number;
}

/** The URL parameters the SQL stores take for themselves (the rest go to the driver). */
export const OWN_PARAMS = ['pool', 'table', 'statement_timeout', 'connect_timeout'];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Reads pool size, table and timeouts from a store URL and options (options
 * win), checked so that nothing from the URL reaches SQL text unchecked.
 *
 * @throws ConfigurationError naming `PSOSessionStore` (password hidden).
 */
export function readSqlSettings(url: URL, options: SqlStoreOptions): SqlStoreSettings {
  const bad = (reason: string) => new ConfigurationError('PSOSessionStore', redact(url), reason);
  const int = (name: string, given: number | undefined, fallback: number, min: number, max: number, scale = 1): number => {
    const raw = url.searchParams.get(name);
    const n = given ?? (raw === null ? fallback : /^\d+$/.test(raw.trim()) ? Number(raw.trim()) * scale : NaN);
    if (!Number.isInteger(n) || n < min || n > max) throw bad(`${name} must be an integer from ${min / scale} to ${max / scale}`);
    return n;
  };
  const table = options.table ?? url.searchParams.get('table') ?? 'pso_sessions';
  if (!IDENTIFIER.test(table)) throw bad('table must be a plain SQL identifier: a letter or "_", then up to 62 letters, digits or "_"');
  return {
    pool: int('pool', options.pool, 10, 1, 1000),
    table,
    statementTimeoutMs: int('statement_timeout', options.statementTimeoutMs, 5000, 1, 600_000),
    connectTimeoutMs: int('connect_timeout', options.connectTimeoutMs, 5000, 1000, 600_000, 1000),
  };
}

/** A URL given as text or URL, parsed. */
export function toUrl(url: string | URL): URL {
  return typeof url === 'string' ? new URL(url) : url;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The next wait between two tries for a busy lock: doubling from 2 ms up to
 * 100 ms, with jitter so that waiting processes do not retry in step.
 */
export function backoff(attempt: number, leftMs: number): number {
  const ceiling = Math.min(100, 2 * 2 ** attempt);
  return Math.max(1, Math.min(leftMs, Math.round(ceiling / 2 + Math.random() * (ceiling / 2))));
}

/**
 * Waits for `work` until `ms` have passed. When the time runs out first the
 * result is handed to `late` when it comes (so a late connection or lock is
 * given back, never leaked) and `onTimeout()` is thrown.
 */
export function within<T>(work: Promise<T>, ms: number, late: (value: T) => unknown, onTimeout: () => Error): Promise<T> {
  // One timer and no race of promises: this wraps every statement of every request.
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(onTimeout());
      work.then(late, () => undefined);
    }, Math.max(0, ms));
    work.then(
      (value) => {
        if (timedOut) return;
        clearTimeout(timer);
        resolve(value);
      },
      (e: unknown) => {
        if (timedOut) return;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** The error of a session statement whose lock connection failed: the lock went with it. */
export function lockLost(failure: unknown): Error {
  return new Error(`the connection holding the session lock failed: ${(failure as Error)?.message ?? failure}`);
}

/** A pooled connection held for one session's lock; that session's statements run on it. */
export interface ConnectionHold<C> {
  readonly conn: C;
  /** Set when the connection failed: the lock may be gone, so the session's statements fail too. */
  broken?: unknown;
  /** Returns the connection to the pool, or closes it (which frees its locks); only the first call counts. */
  giveBack(destroy: boolean): void;
}

/** How {@link holdLock} takes, keeps and gives back one lock. */
export interface HoldLockSteps<C> {
  key: string;
  conn: C;
  /** Where the connection reports failures. */
  events: NodeJS.EventEmitter;
  /** This store's holds, by key; the hold is registered once the lock is granted. */
  held: Map<string, ConnectionHold<C>>;
  /** Gives the connection back to the pool, or closes it. */
  putBack(conn: C, destroy: boolean): void;
  /** Takes the lock on `conn`, retrying until granted; throws SessionBusyError at the deadline. */
  lock(): Promise<void>;
  /** Frees the lock on `conn`; true when the server confirms it. */
  unlock(): Promise<boolean>;
  /** Whether the store was closed meanwhile. */
  closed(): boolean;
}

/**
 * Takes a lock on a held connection and returns its release, which unlocks
 * and gives the connection back. Whatever fails (a timeout, a broken
 * connection, an unconfirmed unlock) the connection goes back to the pool or
 * is closed, which frees the lock: neither a lock nor a connection leaks.
 */
export async function holdLock<C>(steps: HoldLockSteps<C>): Promise<Release> {
  const { key, conn, events, held } = steps;
  let givenBack = false;
  const onError = (e: unknown) => {
    hold.broken ??= e;
  };
  const hold: ConnectionHold<C> = {
    conn,
    giveBack: (destroy) => {
      if (givenBack) return;
      givenBack = true;
      events.off('error', onError);
      if (held.get(key) === hold) held.delete(key);
      steps.putBack(conn, destroy || hold.broken !== undefined);
    },
  };
  events.on('error', onError);
  try {
    await steps.lock();
  } catch (e) {
    // Not holding the lock after a clean "no": the connection can be reused.
    hold.giveBack(!(e instanceof SessionBusyError));
    throw e;
  }
  if (steps.closed()) {
    hold.giveBack(true);
    throw new Error('the store is closed');
  }
  held.set(key, hold);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    let unlocked = false;
    try {
      if (hold.broken === undefined && !givenBack) unlocked = await steps.unlock();
    } catch {
      // Closing the connection below frees the lock just as well.
    } finally {
      hold.giveBack(!unlocked);
    }
  };
}

/**
 * The hold of `key` on `conn`, for a write that must happen under the lock.
 *
 * @throws Error when the lock is no longer held there, or its connection failed.
 */
export function assertHeld<C>(held: ReadonlyMap<string, ConnectionHold<C>>, key: string, conn: C): ConnectionHold<C> {
  const hold = held.get(key);
  if (!hold || hold.conn !== conn) throw new Error('the session lock is no longer held');
  if (hold.broken !== undefined) throw lockLost(hold.broken);
  return hold;
}

/** What {@link LockQueue} needs of a store's connection pool. */
export interface LockQueuePool<C> {
  /** Connections the pool could give now without waiting: idle ones plus room for new ones. */
  available(): number;
  /** Callers waiting in the pool itself (statements without a lock). */
  waiting(): number;
  /** A connection from the pool. */
  connect(): Promise<C>;
  /** Gives a connection back to the pool. */
  release(conn: C): void;
  /** Closes a pooled connection, which frees every lock taken on it. */
  destroy(conn: C): void;
}

/** A lock request waiting for a connection. */
export interface LockWaiter<C, P> {
  readonly key: string;
  /** What the store calls the lock in its statements, worked out once for the request (the key by default). */
  readonly name: string;
  /** When it stops waiting (ms since the epoch). */
  readonly deadline: number;
  /** Served, failed or timed out: nothing more reaches it. */
  done: boolean;
  /** Taken off the queue by a finishing holder, which will serve it or put it back: its deadline waits until then. */
  picked: boolean;
  /** Gives it a connection, with what a handover batch already learnt for it (`pre`). */
  serve(conn: C, pre?: P): void;
  fail(e: unknown): void;
  /** Fails it with its timeout error. */
  expire(): void;
}

/** A connection for a lock, and what a handover batch did for it before it arrived. */
export interface LockConnection<C, P> {
  conn: C;
  pre?: P;
}

/** A waiter a holder took with {@link LockQueue.nextOther}, and what the holder's last batch did for it. */
export interface Handover<C, P> {
  waiter: LockWaiter<C, P>;
  pre: P;
}

/**
 * The queue of lock requests waiting for a pooled connection. A request is
 * served by the pool when the pool has a connection to give; when it has
 * none, by the next holder that finishes, which hands its connection over
 * instead of returning it. The handover lets the finishing holder send its
 * write and unlock together with the next request's try-lock and read, in
 * one batch: under load a request then costs one round trip to the server
 * instead of two. Callers waiting in the pool itself (statements without a
 * lock) go first: a finishing holder returns its connection to the pool
 * while they wait.
 */
export class LockQueue<C, P> {
  readonly #pool: LockQueuePool<C>;
  readonly #waiters: LockWaiter<C, P>[] = [];
  /** Connections asked of the pool for waiters and not yet given. */
  #claims = 0;

  constructor(pool: LockQueuePool<C>) {
    this.#pool = pool;
  }

  /**
   * A connection for a lock on `key` (which the store's statements call
   * `name`), within `ms`; at the deadline `onTimeout()` is thrown and a
   * connection that arrives later goes on.
   */
  acquire(key: string, ms: number, onTimeout: () => Error, name = key): Promise<LockConnection<C, P>> {
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        waiter.done = true;
      };
      const waiter: LockWaiter<C, P> = {
        key,
        name,
        deadline: Date.now() + Math.max(0, ms),
        done: false,
        picked: false,
        serve: (conn, pre) => {
          settle();
          resolve(pre === undefined ? { conn } : { conn, pre });
        },
        fail: (e) => {
          settle();
          reject(e);
        },
        expire: () => {
          settle();
          this.#remove(waiter);
          reject(onTimeout());
        },
      };
      // A picked waiter is served or put back by its holder; put back late, it expires then (unshift).
      const timer = setTimeout(() => waiter.done || waiter.picked || waiter.expire(), Math.max(0, ms));
      this.#waiters.push(waiter);
      this.pump();
    });
  }

  /**
   * The waiter a finishing holder should hand its connection to, taken off
   * the queue; `undefined` when the connection belongs back in the pool
   * (nobody waits for a lock, or the pool has callers of its own).
   */
  next(): LockWaiter<C, P> | undefined {
    if (this.#pool.waiting() > 0) return undefined;
    while (this.#waiters.length) {
      const w = this.#waiters.shift()!;
      if (w.done) continue;
      w.picked = true;
      return w;
    }
    return undefined;
  }

  /**
   * {@link next} for a handover batch of a holder of `held`: none when the
   * first waiter wants that same session, which then waits for the lock on
   * the server, behind other processes' requests, and stays first here.
   */
  nextOther(held: string): LockWaiter<C, P> | undefined {
    if (!this.#waiters.length) return undefined;
    const w = this.next();
    if (w?.key !== held) return w;
    this.unshift(w);
    return undefined;
  }

  /**
   * Puts back at the head a waiter that {@link next} gave out but that could
   * not be served; one whose deadline passed meanwhile fails now instead.
   */
  unshift(waiter: LockWaiter<C, P>): void {
    if (waiter.done) return;
    waiter.picked = false;
    if (Date.now() >= waiter.deadline) return waiter.expire();
    this.#waiters.unshift(waiter);
    this.pump();
  }

  /** Hands `conn` to the next waiter, or gives it back to the pool. */
  handOn(conn: C): void {
    const w = this.next();
    if (w) w.serve(conn);
    else {
      this.#pool.release(conn);
      this.pump();
    }
  }

  /**
   * Where a holder's connection goes when the holder is done: closed when
   * `destroy` (which frees every lock on it), the waiter it had taken put
   * back first in line; else to that waiter, with what the last batch did
   * for it; else to the next waiter, or to the pool.
   */
  giveBack(conn: C, destroy: boolean, handover?: Handover<C, P>): void {
    if (destroy) {
      this.#pool.destroy(conn);
      if (handover) this.unshift(handover.waiter);
      else this.pump();
    } else if (handover) handover.waiter.serve(conn, handover.pre);
    else this.handOn(conn);
  }

  /** Asks the pool for connections for as many waiters as it can serve now (call when the pool frees one). */
  pump(): void {
    while (this.#waiters.length && this.#pool.available() - this.#claims > 0) {
      const w = this.#waiters.shift()!;
      if (w.done) continue;
      this.#claims++;
      this.#pool.connect().then(
        (conn) => {
          this.#claims--;
          if (w.done) this.handOn(conn);
          else w.serve(conn);
          this.pump();
        },
        (e: unknown) => {
          this.#claims--;
          if (!w.done) w.fail(e);
          this.pump();
        },
      );
    }
  }

  /** Fails every waiter (the store is closing). */
  failAll(e: unknown): void {
    for (const w of this.#waiters.splice(0)) if (!w.done) w.fail(e);
  }

  #remove(waiter: LockWaiter<C, P>): void {
    const i = this.#waiters.indexOf(waiter);
    if (i >= 0) this.#waiters.splice(i, 1);
  }
}
