import { ConfigurationError } from '../../config/ConfigurationError.js';
import { DEFAULT_STORE_TIMEOUT_SECONDS } from '../../config/defaults.js';
import { readSeconds } from '../../config/directives.js';
import type { KeyedMutex, Release } from '../locks/KeyedMutex.js';
import type { HeldLock, OpenSession } from '../OpenSession.js';
import type { SessionRecord } from '../SessionRecord.js';
import type { SessionRequest } from '../SessionRequest.js';
import type { SessionStore } from './SessionStore.js';
import { storeCall } from './storeCall.js';

/** What {@link StoreAccess} asks of the policy it serves. */
export interface StorePolicy {
  readonly name: string;
  storeFor(request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined>;
  storeKey(request: SessionRequest, id: string): string;
  /** The key of a session in the format before keys were hashed. */
  legacyKey(request: SessionRequest, id: string): string;
  stateOf(request: SessionRequest): OpenSession | undefined;
}

/**
 * The storage part of a session policy: the default of its `load`, `save`,
 * `touch`, `remove`, `lock` and `collectGarbage` hooks, on the store the policy
 * names. Every operation is bounded by `PSOSessionStoreTimeout`; a store that
 * reads with its lock (`lockAndGet`) and writes with its unlock
 * (`setAndRelease`) gets a request's work in as few exchanges as it can.
 *
 * @example
 * ```ts
 * const access = new StoreAccess(policy, mutex);
 * const release = await access.lock(request, id, 10_000);
 * ```
 */
export class StoreAccess {
  readonly #policy: StorePolicy;
  readonly #mutex: KeyedMutex;

  constructor(policy: StorePolicy, mutex: KeyedMutex) {
    this.#policy = policy;
    this.#mutex = mutex;
  }

  /** The record under the lock when it was read with it, else the store's; a session under its old key is moved on its next save. */
  async load(request: SessionRequest, id: string): Promise<SessionRecord | undefined> {
    // Every request loads and saves: no wait for a store already known.
    const found = this.#require(request);
    const store = found instanceof Promise ? await found : found;
    const key = this.#policy.storeKey(request, id);
    const state = this.#policy.stateOf(request);
    const held = state?.held;
    let record: SessionRecord | undefined;
    if (held?.unread && held.key === key) {
      held.unread = false;
      record = held.locked.record();
    } else {
      record = await this.#call(request, store, 'get', () => store.get(key));
    }
    if (record) return record;
    const legacy = this.#policy.legacyKey(request, id);
    const old = await this.#call(request, store, 'get', () => store.get(legacy));
    if (old && state) state.legacyKey = legacy;
    return old;
  }

  /** Writes; the save that ends the request writes and unlocks in one step where the store can. */
  async save(request: SessionRequest, id: string, record: SessionRecord, final: boolean): Promise<void> {
    const found = this.#require(request);
    const store = found instanceof Promise ? await found : found;
    const key = this.#policy.storeKey(request, id);
    const state = this.#policy.stateOf(request);
    const held = state?.held;
    if (final && held && !held.released && held.key === key && held.locked.setAndRelease) {
      await this.#call(request, store, 'set', () => held.locked.setAndRelease!(record));
      held.released = true;
    } else {
      await this.#call(request, store, 'set', () => store.set(key, record));
    }
    if (state?.legacyKey !== undefined) {
      const legacy = state.legacyKey;
      state.legacyKey = undefined;
      await this.#call(request, store, 'destroy', () => store.destroy(legacy));
    }
  }

  /** Moves an unchanged session's expiry: the store's `touch`, else a write. */
  async touch(request: SessionRequest, id: string, record: SessionRecord, final: boolean): Promise<void> {
    const store = await this.#require(request);
    if (!store.touch || this.#policy.stateOf(request)?.legacyKey !== undefined) return this.save(request, id, record, final);
    const key = this.#policy.storeKey(request, id);
    await this.#call(request, store, 'touch', () => store.touch!(key, record));
  }

  /** Deletes a session, under its key and its old one. */
  async remove(request: SessionRequest, id: string): Promise<void> {
    const store = await this.#require(request);
    for (const key of [this.#policy.storeKey(request, id), this.#policy.legacyKey(request, id)]) {
      await this.#call(request, store, 'destroy', () => store.destroy(key));
    }
  }

  /**
   * The lock inside this process, then the store's across processes, if it
   * has one (with the record, when the store reads it in the same step).
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lock(request: SessionRequest, id: string, timeoutMs: number): Promise<Release> {
    const started = Date.now();
    const key = this.#policy.storeKey(request, id);
    const local = await this.#mutex.acquire(key, timeoutMs);
    try {
      const found = this.#storeOf(request);
      const store = found instanceof Promise ? await found : found;
      if (!store || (!store.lock && !store.lockAndGet)) return local;
      const left = Math.max(1, timeoutMs - (Date.now() - started));
      // The store's lock waits up to the lock timeout itself; the store timeout guards a dead connection on top.
      if (store.lockAndGet) {
        const locked = await this.#call(request, store, 'lock', () => store.lockAndGet!(key, left), left);
        const held: HeldLock = { key, locked, unread: true, released: false };
        const state = this.#policy.stateOf(request);
        if (state) state.held = held;
        return async () => {
          if (state?.held === held) state.held = undefined;
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

  /** Deletes expired sessions; returns how many (stores that expire by themselves have no `gc`). */
  async collectGarbage(request: SessionRequest): Promise<number> {
    const found = this.#policy.storeFor(request);
    const store = found instanceof Promise ? await found : found;
    return store?.gc ? this.#call(request, store, 'gc', () => store.gc!()) : 0;
  }

  /**
   * The policy's store for this request, asked of `storeFor` once a request
   * (a request's directives do not change while it runs; the file policy
   * reads seven of them to name its store).
   */
  #storeOf(request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined> {
    const state = this.#policy.stateOf(request);
    if (state?.store) return state.store;
    const found = this.#policy.storeFor(request);
    if (!state) return found;
    if (!(found instanceof Promise)) return (state.store = found);
    return found.then((store) => (state.store = store));
  }

  /** The store, without waiting when it is known already (a server's every request after its first). */
  #require(request: SessionRequest): SessionStore | Promise<SessionStore> {
    const found = this.#storeOf(request);
    return found instanceof Promise ? found.then((store) => this.#present(store)) : this.#present(found);
  }

  #present(store: SessionStore | undefined): SessionStore {
    if (!store) {
      throw new ConfigurationError('PSOSessionStore', undefined, `${this.#policy.name} needs a store: bind TOKENS.SessionStore or set PSOSessionStore to a store URL (or override its storage hooks)`);
    }
    return store;
  }

  /** A store operation within `PSOSessionStoreTimeout` (and `extraMs` more, for a lock's own wait). */
  #call<T>(request: SessionRequest, store: SessionStore, what: string, op: () => Promise<T>, extraMs = 0): Promise<T> {
    return storeCall(store, what, readSeconds(request, 'PSOSessionStoreTimeout', DEFAULT_STORE_TIMEOUT_SECONDS) * 1000 + extraMs, op);
  }
}
