import type { SessionRecord } from '../../SessionRecord.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

/** What {@link MemoryUserIndex} reads and deletes of its store. */
export interface IndexedStore {
  get(key: string): Promise<SessionRecord | undefined>;
  destroy(key: string): Promise<void>;
}

interface Owner {
  gen: number;
  /** Key to the time its entry lapses. */
  entries: Map<string, number>;
}

/**
 * The index of users' sessions of a {@link MemoryStore}: a map from each user
 * to its generation and its sessions' keys, and from each key to its user, so
 * that a record the store drops (expired, evicted, destroyed) takes its
 * entry with it. A user whose sessions were once revoked keeps its
 * generation (a few bytes) for the life of the process.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * await store.users.sessions('app:ada');
 * ```
 */
export class MemoryUserIndex implements UserIndex {
  readonly #owners = new Map<string, Owner>();
  /** The owner each key is listed under, so that a record's end takes its entry with it. */
  readonly #ownerOf = new Map<string, string>();
  readonly #store: IndexedStore;

  constructor(store: IndexedStore) {
    this.#store = store;
  }

  async generation(owner: string): Promise<number> {
    return this.#owners.get(owner)?.gen ?? 0;
  }

  async add(owner: string, key: string, until: number): Promise<void> {
    let o = this.#owners.get(owner);
    if (!o) this.#owners.set(owner, (o = { gen: 0, entries: new Map() }));
    o.entries.set(key, until);
    this.#ownerOf.set(key, owner);
  }

  async remove(owner: string, key: string): Promise<void> {
    const o = this.#owners.get(owner);
    if (!o) return;
    o.entries.delete(key);
    if (this.#ownerOf.get(key) === owner) this.#ownerOf.delete(key);
    this.#drop(owner, o);
  }

  /** The store no longer has `key` (expired, evicted, destroyed): its entry goes too. */
  forget(key: string): void {
    const owner = this.#ownerOf.get(key);
    if (owner === undefined) return;
    this.#ownerOf.delete(key);
    const o = this.#owners.get(owner);
    if (!o) return;
    o.entries.delete(key);
    this.#drop(owner, o);
  }

  async sessions(owner: string): Promise<IndexedSession[]> {
    const o = this.#owners.get(owner);
    if (!o) return [];
    const now = Date.now();
    const out: IndexedSession[] = [];
    for (const [key, until] of [...o.entries]) {
      if (until <= now) continue;
      const record = await this.#store.get(key);
      if (record) out.push({ key, record });
    }
    return out;
  }

  async revoke(owner: string, keep: readonly string[]): Promise<number> {
    let o = this.#owners.get(owner);
    if (!o) this.#owners.set(owner, (o = { gen: 0, entries: new Map() }));
    const gen = ++o.gen;
    for (const key of [...o.entries.keys()]) {
      if (keep.includes(key)) continue;
      o.entries.delete(key);
      this.#ownerOf.delete(key);
      await this.#store.destroy(key);
    }
    return gen;
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    return [...(this.#owners.get(owner)?.entries ?? [])].map(([key, until]) => ({ key, until }));
  }

  async gc(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const [owner, o] of this.#owners) {
      for (const [key, until] of o.entries) {
        if (until > now) continue;
        o.entries.delete(key);
        this.#ownerOf.delete(key);
        removed++;
      }
      this.#drop(owner, o);
    }
    return removed;
  }

  /** Forgets an owner with no entries and nothing revoked. */
  #drop(owner: string, o: Owner): void {
    if (o.entries.size === 0 && o.gen === 0) this.#owners.delete(owner);
  }
}
