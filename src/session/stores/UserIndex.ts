import type { SessionRecord } from '../SessionRecord.js';

/** A session the index lists under a user, with its record as stored. */
export interface IndexedSession {
  key: string;
  record: SessionRecord;
}

/**
 * A store's index of users' sessions (`session.login()`): which session keys
 * each user has, and each user's generation. Owners are
 * `<service id>:<user id>`; keys are store keys. Each entry lasts until a
 * time a little past its session's expiry (moved on while the session
 * lives), so an entry outlives its session and the garbage collection
 * removes it after.
 *
 * The generation is what makes a revocation hold under concurrency: a
 * session carries the generation it was bound under, {@link revoke} moves it
 * on, and a session whose generation is behind is refused when loaded, even
 * if a request that held it while it was revoked wrote it back.
 *
 * `held` is the key of the session whose lock the caller holds: a store that
 * serves a session's statements on its lock's connection (PostgreSQL) runs
 * the index's there too, so a full pool cannot deadlock.
 *
 * @example
 * ```ts
 * const index = store.users!;
 * await index.add('shop:ada', 'shop:~x3f...', Date.now() + 3_600_000);
 * const live = await index.sessions('shop:ada'); // [{ key, record }]
 * await index.revoke('shop:ada', []);            // ada is logged out everywhere
 * ```
 */
export interface UserIndex {
  /** The owner's generation: 0 until its sessions are first revoked. */
  generation(owner: string, held?: string): Promise<number>;
  /** Lists `key` under `owner` until `until` (ms since the epoch), or moves its time. */
  add(owner: string, key: string, until: number, held?: string): Promise<void>;
  /** Takes `key` off `owner`'s list; no error when it is not there. */
  remove(owner: string, key: string, held?: string): Promise<void>;
  /**
   * The owner's entries that have not lapsed, with their sessions' records as
   * stored (entries whose session is gone are left out). The caller checks
   * each record (its user, generation and expiry).
   */
  sessions(owner: string, held?: string): Promise<IndexedSession[]>;
  /**
   * Moves the owner's generation on, then deletes its sessions and entries
   * but those of `keep`; returns the new generation. Every session bound
   * under an older generation is dead from then on, deleted or not.
   */
  revoke(owner: string, keep: readonly string[], held?: string): Promise<number>;
  /**
   * Deletes entries that have lapsed, and those whose session has expired
   * (run before the sessions are collected); returns how many. An entry
   * whose session is not there yet is kept: a login lists its session just
   * before writing it.
   */
  gc(): Promise<number>;
  /** Every entry of an owner, lapsed or not, with the time it lapses (to look inside; a listing uses {@link sessions}). */
  entries(owner: string): Promise<{ key: string; until: number }[]>;
  /** Creates what the index needs (tables) now rather than on first use. */
  init?(): Promise<void>;
}
