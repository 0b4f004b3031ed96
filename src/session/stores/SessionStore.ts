import type { Release } from '../locks/KeyedMutex.js';
import type { SessionRecord } from '../SessionRecord.js';
import type { UserIndex } from './UserIndex.js';

/**
 * Where sessions are kept: a small Promise-based contract, in the spirit of
 * express-session's store (required `get/set/destroy`, recommended `touch`,
 * optional `lock/gc/count/list/close`). Keys are `<service id>:~<hash>`, the
 * SHA-256 of the session id (a store never sees a live id), the service id
 * validated; `record.expires` (ms since the epoch) lets a store expire data
 * natively (a TTL).
 *
 * @example
 * ```ts
 * class MyStore implements SessionStore {
 *   readonly name = 'my-store';
 *   async get(key: string) { ... }
 *   async set(key: string, record: SessionRecord) { ... }
 *   async destroy(key: string) { ... }
 * }
 * container.bind(TOKENS.SessionStore).toConstantValue(new MyStore());
 * ```
 */
export interface SessionStore {
  /** A name for log lines and errors, without secrets (e.g. `redis://127.0.0.1:6379/0`). */
  readonly name: string;
  /**
   * True when `get`, `set`, `destroy`, `touch`, `lock` and `lockAndGet` do
   * their work in this process without waiting on a server or the thread
   * pool (a lock that is busy times out by itself): pso then keeps no
   * `PSOSessionStoreTimeout` deadline for them, since none could pass while
   * they run. Leave it out for a store that talks to anything else.
   */
  readonly answersAtOnce?: boolean;
  /**
   * The record under `key`, or `undefined`. Throw `CorruptSessionError` (from `pso-ts`)
   * for stored data that cannot be read back.
   */
  get(key: string): Promise<SessionRecord | undefined>;
  /** Stores `record` under `key`, replacing what was there, until `record.expires`. */
  set(key: string, record: SessionRecord): Promise<void>;
  /** Deletes `key`; no error when it is not there. */
  destroy(key: string): Promise<void>;
  /** Moves the expiry of an unchanged record (default: `set`). */
  touch?(key: string, record: SessionRecord): Promise<void>;
  /**
   * An exclusive lock on `key` shared by every process using this store,
   * held from load to save. Stores used by one process only may leave it out
   * (pso always locks inside the process).
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  lock?(key: string, timeoutMs: number): Promise<Release>;
  /**
   * {@link lock}, then {@link get}, in one exchange with the server where it
   * can (a script, a batch of statements): pso calls it instead of the two
   * when a store has it, halving the round trips of a request. The record
   * must be read after the lock is granted, never from before.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  lockAndGet?(key: string, timeoutMs: number): Promise<LockedRecord>;
  /** Creates what the store needs (tables, indexes) now rather than on first use: `pso store init <url>`. */
  init?(): Promise<void>;
  /** Deletes expired records; returns how many. */
  gc?(): Promise<number>;
  /** How many records are kept. */
  count?(): Promise<number>;
  /** The keys kept. */
  list?(): Promise<string[]>;
  /**
   * The index of users' sessions (`session.login()`), for listing and
   * revoking a user's sessions; a store without one binds sessions to users
   * but cannot list or revoke them.
   */
  readonly users?: UserIndex;
  /** Closes connections. */
  close?(): Promise<void>;
}

/** A lock held in a store with the record read under it: what {@link SessionStore.lockAndGet} gives. */
export interface LockedRecord {
  /**
   * The record as stored once the lock was held, or `undefined`.
   *
   * @throws CorruptSessionError for stored data that cannot be read back (the lock is still held).
   */
  record(): SessionRecord | undefined;
  /** Gives the lock back; calling it again, or after {@link setAndRelease}, is harmless. */
  release: Release;
  /**
   * Stores `record` under the locked key, then gives the lock back, in one
   * exchange: the write is durable before another holder can read. When it
   * fails the lock may still be held, and {@link release} must still be called.
   */
  setAndRelease?(record: SessionRecord): Promise<void>;
}

export { StoreUnavailableError } from './StoreUnavailableError.js';
