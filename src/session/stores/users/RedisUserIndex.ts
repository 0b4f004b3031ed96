import { parseRecord } from '../../SessionRecord.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

/** What {@link RedisUserIndex} needs of its {@link RedisStore}. */
export interface RedisIndexHost {
  readonly prefix: string;
  /** Runs a script on one key's node. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** A session's stored text, or null. */
  get(key: string): Promise<string | null>;
  destroy(key: string): Promise<void>;
}

// KEYS: the user's set. ARGV: until, session key, now. Adds or moves the entry, drops lapsed ones,
// and lets Redis drop the set itself when its last entry lapses.
const ADD =
  "redis.call('zadd', KEYS[1], ARGV[1], ARGV[2]) redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[3]) " +
  "local top = redis.call('zrevrange', KEYS[1], 0, 0, 'WITHSCORES') if top[2] then redis.call('pexpireat', KEYS[1], top[2]) end return 1";
// KEYS: the user's set. ARGV: now. The entries that have not lapsed (the others are dropped).
const LIVE = "redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1]) return redis.call('zrangebyscore', KEYS[1], '(' .. ARGV[1], '+inf')";
// KEYS: the user's set. ARGV: keys to take off.
const REMOVE = "return redis.call('zrem', KEYS[1], unpack(ARGV))";
// KEYS: the user's generation.
const BUMP = "return redis.call('incr', KEYS[1])";
const GEN = "return redis.call('get', KEYS[1])";
// KEYS: the user's set. Every entry, lapsed or not.
const ALL = "return redis.call('zrange', KEYS[1], 0, -1)";
const ALL_SCORED = "return redis.call('zrange', KEYS[1], 0, -1, 'WITHSCORES')";

/**
 * The index of users' sessions of a {@link RedisStore}: per user a sorted set
 * `<prefix>user:<service id>:<user id>` of session keys scored by the time
 * each entry lapses (Redis drops the set once its last entry has lapsed),
 * and a counter `<prefix>ugen:<service id>:<user id>` once its sessions were
 * revoked. Each command touches one key, so it works on a Redis Cluster too.
 *
 * @example
 * ```ts
 * const store = new RedisStore('redis://127.0.0.1:6379/0');
 * await store.users.sessions('app:ada');
 * ```
 */
export class RedisUserIndex implements UserIndex {
  readonly #host: RedisIndexHost;

  constructor(host: RedisIndexHost) {
    this.#host = host;
  }

  async generation(owner: string): Promise<number> {
    const v = await this.#host.eval(GEN, [this.#genKey(owner)], []);
    return v === null || v === undefined ? 0 : Number(v);
  }

  async add(owner: string, key: string, until: number): Promise<void> {
    await this.#host.eval(ADD, [this.#setKey(owner)], [String(Math.round(until)), key, String(Date.now())]);
  }

  async remove(owner: string, key: string): Promise<void> {
    await this.#host.eval(REMOVE, [this.#setKey(owner)], [key]);
  }

  async sessions(owner: string): Promise<IndexedSession[]> {
    const keys = (await this.#host.eval(LIVE, [this.#setKey(owner)], [String(Date.now())])) as string[];
    const texts = await Promise.all(keys.map((k) => this.#host.get(k)));
    const out: IndexedSession[] = [];
    keys.forEach((key, i) => {
      const text = texts[i];
      if (text === null || text === undefined) return;
      try {
        out.push({ key, record: parseRecord(text) });
      } catch {
        // An unreadable session is nobody's.
      }
    });
    return out;
  }

  async revoke(owner: string, keep: readonly string[]): Promise<number> {
    const gen = Number(await this.#host.eval(BUMP, [this.#genKey(owner)], []));
    const keys = ((await this.#host.eval(ALL, [this.#setKey(owner)], [])) as string[]).filter((k) => !keep.includes(k));
    await Promise.all(keys.map((k) => this.#host.destroy(k)));
    if (keys.length) await this.#host.eval(REMOVE, [this.#setKey(owner)], keys);
    return gen;
  }

  /**
   * Redis drops lapsed entries itself (on every add and listing, and whole
   * sets by their TTL). An entry outlives the session Redis expired by at
   * most the slack its time was given (an hour); it is never listed meanwhile.
   */
  async gc(): Promise<number> {
    return 0;
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    const flat = (await this.#host.eval(ALL_SCORED, [this.#setKey(owner)], [])) as string[];
    const out: { key: string; until: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ key: flat[i]!, until: Number(flat[i + 1]) });
    return out;
  }

  #setKey(owner: string): string {
    return `${this.#host.prefix}user:${owner}`;
  }

  #genKey(owner: string): string {
    return `${this.#host.prefix}ugen:${owner}`;
  }
}
