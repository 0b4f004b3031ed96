import { DEFAULT_STORE_TIMEOUT_SECONDS } from '../../config/defaults.js';
import { readSeconds } from '../../config/directives.js';
import type { OpenSession } from '../OpenSession.js';
import type { Session } from '../Session.js';
import type { SessionRecord } from '../SessionRecord.js';
import type { SessionRequest } from '../SessionRequest.js';
import type { SessionStore } from '../stores/SessionStore.js';
import { storeCall } from '../stores/storeCall.js';
import type { UserIndex } from '../stores/UserIndex.js';
import { describeSession, liveSessions, type RevokeOptions, type UserSessionInfo } from './liveSessions.js';
import { checkUserId, ownerOf, type UserBinding } from './userBinding.js';
import { userIndexOf } from './userIndexOf.js';

export type { RevokeOptions };

/** An index entry outlives its session's expiry by this much, so that it is moved on rarely. */
const INDEX_SLACK_MS = 3600_000;
/** A bound session is written at least this often while used, so that "last seen" stays close. */
const SEEN_MS = 5 * 60_000;

/** What {@link UserSessions} asks of the policy it serves. */
export interface UserSessionsPolicy {
  readonly name: string;
  getServiceId(request: SessionRequest): string;
  storeKey(request: SessionRequest, id: string): string;
  storeFor(request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined>;
}

/**
 * The sessions of users, for a session policy: binding a saved session to
 * its user in the store's index, refusing a session whose user's sessions
 * were revoked since it was bound, and listing and revoking a user's
 * sessions (`session.userSessions()`, `session.revokeUserSessions()`).
 *
 * @example
 * ```ts
 * const users = new UserSessions(policy);
 * if (!(await users.isCurrent(request, id, record))) record = undefined;
 * ```
 */
export class UserSessions {
  readonly #policy: UserSessionsPolicy;

  constructor(policy: UserSessionsPolicy) {
    this.#policy = policy;
  }

  /**
   * Whether a loaded record's binding still holds: its user's generation has
   * not moved past the one it was bound under. A record bound to nobody, or
   * in a store without an index, always holds.
   */
  async isCurrent(request: SessionRequest, id: string, record: SessionRecord): Promise<boolean> {
    const user = record.user;
    if (!user) return true;
    const index = await this.#index(request);
    if (!index) return true;
    const key = this.#policy.storeKey(request, id);
    const gen = await index.generation(ownerOf(this.#policy.getServiceId(request), user.id), key);
    return (user.gen ?? 0) >= gen;
  }

  /**
   * Whether a bound session should be written whole now, though its data did
   * not change: its binding did (a store's `touch` may move only the expiry),
   * or its "last seen" is getting old.
   */
  wantsWrite(session: Session<object>, now: number): boolean {
    const b = session.userBinding;
    return b !== undefined && (session.bindingChanged || b.seen === undefined || now - b.seen >= SEEN_MS);
  }

  /**
   * Puts the session's binding into the record about to be written, and
   * lists the session under its user first (a new binding, a new id, or an
   * expiry past the entry's): an entry never lapses before its session.
   */
  async stamp(state: OpenSession, session: Session<object>, record: SessionRecord): Promise<void> {
    const b = session.userBinding;
    if (!b) return;
    const { request } = state;
    const binding: UserBinding = { ...b, seen: Date.now() };
    const index = await this.#index(request);
    if (index) {
      const owner = ownerOf(this.#policy.getServiceId(request), b.id);
      const held = this.#held(state);
      binding.gen ??= await index.generation(owner, held);
      if (session.id !== state.openedId || b.until === undefined || record.expires > b.until) {
        binding.until = record.expires + INDEX_SLACK_MS;
        await index.add(owner, this.#policy.storeKey(request, session.id), binding.until, held);
      }
    }
    session.updateBinding(binding);
    record.user = binding;
  }

  /** Takes ids the session no longer has off its user's list (regenerated, destroyed, logged in as someone else). */
  async unbind(state: OpenSession, session: Session<object>, retired: readonly string[]): Promise<void> {
    if (!retired.length) return;
    const owners = new Set([session.storedUserId, session.userBinding?.id].filter((u): u is string => u !== undefined));
    if (!owners.size) return;
    const { request } = state;
    const index = await this.#index(request);
    if (!index) return;
    const held = this.#held(state);
    for (const user of owners) {
      for (const id of retired) await index.remove(ownerOf(this.#policy.getServiceId(request), user), this.#policy.storeKey(request, id), held);
    }
  }

  /** The live sessions of `userId` (default: the session's own user). */
  async list(state: OpenSession, session: Session<object>, userId?: string | number): Promise<UserSessionInfo[]> {
    const { request } = state;
    const user = this.#userOf(session, userId);
    const index = await this.#required(request);
    const current = this.#policy.storeKey(request, session.id);
    const mine = session.userBinding;
    // This request's binding may be newer than the one stored (kept by a revocation): it counts.
    const gen = mine?.id === user && mine.gen !== undefined ? { key: current, gen: mine.gen } : undefined;
    const live = await liveSessions(index, this.#policy.getServiceId(request), user, this.#held(state), gen);
    return live.map((s) => describeSession(s, current)).sort((a, b) => b.loggedIn - a.loggedIn);
  }

  /**
   * Ends every session of a user (default: the session's own), but this
   * request's when `keepCurrent`: the user's generation moves on, so a
   * session revoked while another request held it dies on its next load.
   * This request's session, when it is one of them and not kept, is
   * destroyed (its cookie cleared). Returns how many live sessions ended.
   */
  async revoke(state: OpenSession, session: Session<object>, options: RevokeOptions = {}): Promise<number> {
    const { request } = state;
    const user = this.#userOf(session, options.user);
    const index = await this.#required(request);
    const serviceId = this.#policy.getServiceId(request);
    const current = this.#policy.storeKey(request, session.id);
    const mine = session.userBinding?.id === user;
    const keep = options.keepCurrent && mine ? [current] : [];
    const held = this.#held(state);
    const live = await liveSessions(index, serviceId, user, held);
    const gen = await index.revoke(ownerOf(serviceId, user), keep, held);
    if (mine) {
      if (keep.length) session.updateBinding({ ...session.userBinding!, gen });
      // Once the head is out the cookie cannot be cleared: the moved generation ends the session all the same.
      else if (!request.responseStarted) session.destroy();
    }
    return live.filter((s) => !keep.includes(s.key)).length;
  }

  /** The store's index, each call bounded by `PSOSessionStoreTimeout` (a 503 naming the store); `undefined` without one. */
  async #index(request: SessionRequest): Promise<UserIndex | undefined> {
    const store = await this.#policy.storeFor(request);
    return store?.users ? timed(store, store.users, readSeconds(request, 'PSOSessionStoreTimeout', DEFAULT_STORE_TIMEOUT_SECONDS) * 1000) : undefined;
  }

  /** {@link #index}, or an error saying the store keeps none. */
  async #required(request: SessionRequest): Promise<UserIndex> {
    return (await this.#index(request)) ?? userIndexOf(await this.#policy.storeFor(request), this.#policy.name);
  }

  #userOf(session: Session<object>, userId: string | number | undefined): string {
    if (userId !== undefined) return checkUserId(userId);
    const own = session.userId;
    if (own === undefined) throw new TypeError('this session is bound to no user: log in first (session.login(userId)), or name the user');
    return own;
  }

  /** The key whose lock this request holds, for stores that run its statements on the lock's connection. */
  #held(state: OpenSession): string | undefined {
    return state.release ? this.#policy.storeKey(state.request, state.openedId) : undefined;
  }
}

/** `index` with every call bounded by `ms` and its failures naming `store` (a 503, as the store's own). */
function timed(store: SessionStore, index: UserIndex, ms: number): UserIndex {
  const call = <T>(what: string, op: () => Promise<T>) => storeCall(store, `users' ${what}`, ms, op);
  return {
    generation: (owner, held) => call('generation', () => index.generation(owner, held)),
    add: (owner, key, until, held) => call('add', () => index.add(owner, key, until, held)),
    remove: (owner, key, held) => call('remove', () => index.remove(owner, key, held)),
    sessions: (owner, held) => call('sessions', () => index.sessions(owner, held)),
    revoke: (owner, keep, held) => call('revoke', () => index.revoke(owner, keep, held)),
    gc: () => call('gc', () => index.gc()),
    entries: (owner) => call('entries', () => index.entries(owner)),
  };
}
