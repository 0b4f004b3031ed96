import { randomUUID } from 'node:crypto';
import { ClientClosedError, ClientOfflineError, createClient, createCluster, type RedisClientType } from 'redis';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import type { Release } from '../locks/KeyedMutex.js';
import { takeLease } from '../locks/leasedLock.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import type { StoreFactory } from './StoreFactory.js';
import { redact, redactText } from './redact.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import { RedisUserIndex } from './users/RedisUserIndex.js';
import type { UserIndex } from './UserIndex.js';

/** Options of {@link RedisStore}; each can also be given in the URL's query (`?cluster=1&prefix=app:`). */
export interface RedisStoreOptions {
  /** A Redis Cluster: the URL's host (and any `node=host:port`) are its root nodes. */
  cluster?: boolean;
  /**
   * Prefix of every key (default `pso:`): sessions are `<prefix>sess:<key>`,
   * locks `<prefix>lock:<key>` (in a cluster `<prefix>lock:{<prefix>sess:<key>}`,
   * in the slot of the session).
   */
  prefix?: string;
  /** How long connecting may take, in ms (default 2,000). */
  connectTimeoutMs?: number;
  /** How long a session lock lasts without being renewed, in ms (default 30,000); a holder renews it while it lives. */
  lockTtlMs?: number;
}

/** The commands used, common to a client and a cluster. */
interface Commands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: object): Promise<string | null>;
  del(key: string): Promise<number>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
}

interface Connection {
  commands: Commands;
  /** One client per master (one for a single server), for SCAN. */
  scanners(): Promise<Scanner[]>;
  /**
   * Where a blocking command on `key` must run (a node's address, in a
   * cluster the master of the key's slot) and a new connection there, not
   * yet connected; `undefined` when the key's node is not known.
   */
  blocking(key: string): { node: string; create(): Promise<Blocker> } | undefined;
}

/** A connection of its own for BLPOP. */
interface Blocker {
  connect(): Promise<unknown>;
  blPop(key: string, timeoutSeconds: number): Promise<unknown>;
  on(event: 'error', listener: (e: unknown) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

interface Scanner {
  scanIterator(options: { MATCH: string; COUNT: number }): AsyncIterable<string[]>;
}

// Compare-and-delete and compare-and-extend: only the holder's token releases or renews a lock.
// A release wakes one waiter when a try marked the lock as waited for (KEYS[wait], see markWaited):
// one token in the wake list (KEYS[wait + 1]), popped by BLPOP, that lasts ARGV[life] ms.
const wakeOne = (wait: number, life: number) =>
  `if #KEYS > ${wait} and redis.call('exists', KEYS[${wait}]) == 1 then ` +
  `redis.call('del', KEYS[${wait + 1}]) redis.call('rpush', KEYS[${wait + 1}], '1') redis.call('pexpire', KEYS[${wait + 1}], ARGV[${life}]) end `;
// KEYS: lock[, wait, wake]. ARGV: token[, wake lifetime].
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) ${wakeOne(2, 2)}return 1 else return 0 end`;
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
// A try that fails marks the lock as waited for (KEYS[wait], for ARGV[3] ms), when that key is given.
const markWaited = (wait: number) => `if #KEYS >= ${wait} then redis.call('set', KEYS[${wait}], '1', 'PX', ARGV[3]) end `;
// KEYS: lock[, wait]. ARGV: token, lifetime[, wait mark lifetime].
const TRY_LOCK = `if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end ${markWaited(2)}return 0`;
// KEYS: lock, session[, wait]. Takes the lock and, only if taken, reads the session: one round trip, atomic.
const LOCK_AND_GET = `if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, redis.call('get', KEYS[2])} end ${markWaited(3)}return {0}`;
// KEYS: session, lock[, wait, wake]. ARGV: record, expiry, keep, token[, wake lifetime]. Writes (or
// deletes, keep = '0') the session and frees the lock, only while the holder still owns it.
const SET_AND_RELEASE =
  "if redis.call('get', KEYS[2]) ~= ARGV[4] then return 0 end " +
  "if ARGV[3] == '1' then redis.call('set', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) else redis.call('del', KEYS[1]) end " +
  `redis.call('del', KEYS[2]) ${wakeOne(3, 5)}return 1`;

/** The longest a waiter blocks on the wake list before it tries the lock again (a holder that died frees nothing). */
const WAKE_WAIT_MS = 1_000;
/** How long a failed try's mark lasts: longer than one wait, so that it outlives every waiter still blocked. */
const WAIT_MARK_MS = 3 * WAKE_WAIT_MS;
/** Idle blocking connections kept for the next waits. */
const IDLE_BLOCKERS = 4;

const QUERY_KEYS = new Set(['cluster', 'prefix', 'node', 'connectTimeout', 'lockTtl']);

/**
 * Sessions in Redis (or a Redis Cluster) with node-redis: every record with
 * a native TTL, so Redis expires them itself; session locks with `SET NX PX`
 * released by their owner only, so every process and machine using the same
 * Redis shares them. With {@link lockAndGet} a request costs two round trips,
 * each one script: the lock with the read, the write with the unlock. The connection is made on first use and remade after
 * failures; while Redis is unreachable, commands fail at once (no offline
 * queue) and the request gets a 503. Needs the `redis` package.
 *
 * @example
 * ```ts
 * // SetEnv PSOSessionStore redis://127.0.0.1:6379/0
 * // SetEnv PSOSessionStore redis://10.0.0.5:7000/0?cluster=1&node=10.0.0.6:7000
 * const store = new RedisStore('redis://:secret@127.0.0.1:6379/2', { prefix: 'shop:' });
 * container.bind(TOKENS.SessionStore).toConstantValue(store);
 * ```
 */
export class RedisStore implements SessionStore {
  /** The URL without its password. */
  readonly name: string;
  readonly prefix: string;
  readonly cluster: boolean;
  readonly #url: URL;
  readonly #roots: string[];
  readonly #connectTimeoutMs: number;
  readonly #lockTtlMs: number;
  readonly #renewals = new Set<NodeJS.Timeout>();
  #connection: Promise<Connection> | undefined;
  #lastError: string | undefined;
  /** Connections for BLPOP (it blocks the connection it runs on): idle ones by node, and every one open. */
  readonly #idleBlockers = new Map<string, Blocker[]>();
  readonly #blockers = new Set<Blocker>();
  #closed = false;
  /** The server refused BLPOP (an ACL): waiters sleep between tries instead. */
  #blockingRefused = false;
  /** Users' sessions (`session.login()`): a sorted set per user. */
  readonly users: UserIndex;

  /** @throws ConfigurationError for a URL or option it cannot use. */
  constructor(location: string | URL, options: RedisStoreOptions = {}) {
    const url = parseUrl(String(location));
    this.name = redact(url);
    const fail = (why: string): never => {
      throw new ConfigurationError('PSOSessionStore', this.name, `${why}: ${EXPECTED}`);
    };
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') fail('not a redis: or rediss: URL');
    if (!url.hostname) fail('no host');
    for (const key of url.searchParams.keys()) if (!QUERY_KEYS.has(key)) fail(`unknown parameter "${key}" (known: ${[...QUERY_KEYS].join(', ')})`);
    const q = url.searchParams;
    this.cluster = options.cluster ?? flag(q.get('cluster'), fail);
    this.prefix = options.prefix ?? q.get('prefix') ?? 'pso:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? positive(q.get('connectTimeout'), 2_000, 'connectTimeout', fail);
    this.#lockTtlMs = options.lockTtlMs ?? positive(q.get('lockTtl'), 30_000, 'lockTtl', fail);
    if (this.#lockTtlMs < 100) fail('lockTtl must be at least 100 ms');
    const db = url.pathname.replace(/^\//, '');
    if (!/^\d*$/.test(db)) fail(`"${db}" is not a database number`);
    if (this.cluster && Number(db || 0) !== 0) fail('a Redis Cluster has database 0 only');
    this.#roots = [url.host, ...q.getAll('node')];
    for (const node of this.#roots) if (!/^[^\s/:]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(node)) fail(`"${node}" is not host:port`);
    this.#url = url;
    this.users = new RedisUserIndex({
      prefix: this.prefix,
      eval: (script, keys, args) => this.#run((c) => c.eval(script, { keys, arguments: args })),
      get: (key) => this.#run((c) => c.get(this.#dataKey(key))),
      destroy: (key) => this.destroy(key),
    });
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const text = await this.#run((c) => c.get(this.#dataKey(key)));
    return text === null ? undefined : parseRecord(text);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    const text = serializeRecord(record);
    if (record.expires <= Date.now()) await this.destroy(key);
    else await this.#run((c) => c.set(this.#dataKey(key), text, { expiration: { type: 'PXAT', value: record.expires } }));
  }

  /**
   * Moves the expiry (`PXAT`) and rewrites the record only if it is still
   * there (`XX`): the stored record carries its expiry and expiry policy,
   * which a bare PEXPIREAT would leave stale.
   */
  async touch(key: string, record: SessionRecord): Promise<void> {
    const text = serializeRecord(record);
    if (record.expires <= Date.now()) await this.destroy(key);
    else await this.#run((c) => c.set(this.#dataKey(key), text, { condition: 'XX', expiration: { type: 'PXAT', value: record.expires } }));
  }

  async destroy(key: string): Promise<void> {
    await this.#run((c) => c.del(this.#dataKey(key)));
  }

  /** Redis expires records itself. */
  async gc(): Promise<number> {
    return 0;
  }

  async count(): Promise<number> {
    return (await this.list()).length;
  }

  /** The keys, by SCAN over the prefix (on every master of a cluster). */
  async list(): Promise<string[]> {
    const start = `${this.prefix}sess:`;
    const match = `${start.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const keys = new Set<string>();
    await this.#run(async (_, connection) => {
      for (const scanner of await connection.scanners()) {
        for await (const batch of scanner.scanIterator({ MATCH: match, COUNT: 1000 })) {
          for (const k of batch) keys.add(k.slice(start.length));
        }
      }
    });
    return [...keys].sort();
  }

  /**
   * `SET <prefix>lock:<key> <token> NX PX <ttl>`, tried until `timeoutMs`:
   * a waiter blocks (`BLPOP`, in a cluster on the master of the lock's slot)
   * until a release wakes it. The holder renews it while it holds it;
   * releasing deletes it only if the token is still its own.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    const named = this.#lockKey(key);
    const lockKey = named ?? `${this.prefix}lock:${key}`;
    const wake = this.#wakeKeys(named);
    const token = randomUUID();
    return takeLease({
      what: `${this.name} ${key}`,
      timeoutMs,
      ttlMs: this.#lockTtlMs,
      renewals: this.#renewals,
      tryTake: async () =>
        wake
          ? (await this.#run((c) => c.eval(TRY_LOCK, { keys: [lockKey, wake.wait], arguments: [token, String(this.#lockTtlMs), String(WAIT_MARK_MS)] }))) === 1
          : (await this.#run((c) => c.set(lockKey, token, { condition: 'NX', expiration: { type: 'PX', value: this.#lockTtlMs } }))) !== null,
      renew: () => this.#run((c) => c.eval(RENEW, { keys: [lockKey], arguments: [token, String(this.#lockTtlMs)] })),
      free: () => this.#run((c) => c.eval(RELEASE, this.#releasing(lockKey, wake, token))),
      ...(wake ? { wait: (ms: number) => this.#awaitWake(wake.wake, ms) } : {}),
    });
  }

  /**
   * {@link lock} and {@link get} in one round trip: a script that takes the
   * lock (`SET NX PX`) and, only then, reads the session, tried until
   * `timeoutMs` as {@link lock} is. `setAndRelease` writes and frees the lock in one more
   * script, and writes nothing if the lock has lapsed and passed to another
   * holder meanwhile. In a cluster the lock key is in the session's slot, so
   * one node runs each script; a key whose slot the lock key cannot share (a
   * prefix with `{`) is locked and read in two steps.
   *
   * @throws SessionBusyError after `timeoutMs`.
   */
  async lockAndGet(key: string, timeoutMs: number): Promise<LockedRecord> {
    const dataKey = this.#dataKey(key);
    const lockKey = this.#lockKey(key);
    let text: string | null = null;
    if (lockKey === undefined) {
      const release = await this.lock(key, timeoutMs);
      try {
        text = await this.#run((c) => c.get(dataKey));
      } catch (e) {
        await release();
        throw e;
      }
      return { record: () => (text === null ? undefined : parseRecord(text)), release };
    }
    const token = randomUUID();
    const wake = this.#wakeKeys(lockKey);
    const trying = {
      keys: wake ? [lockKey, dataKey, wake.wait] : [lockKey, dataKey],
      arguments: wake ? [token, String(this.#lockTtlMs), String(WAIT_MARK_MS)] : [token, String(this.#lockTtlMs)],
    };
    let freed = false;
    const release = await takeLease({
      what: `${this.name} ${key}`,
      timeoutMs,
      ttlMs: this.#lockTtlMs,
      renewals: this.#renewals,
      tryTake: async () => {
        const answer = (await this.#run((c) => c.eval(LOCK_AND_GET, trying))) as [number, string | null];
        if (answer[0] !== 1) return false;
        text = answer[1] ?? null;
        return true;
      },
      renew: () => this.#run((c) => c.eval(RENEW, { keys: [lockKey], arguments: [token, String(this.#lockTtlMs)] })),
      free: () => (freed ? undefined : this.#run((c) => c.eval(RELEASE, this.#releasing(lockKey, wake, token)))),
      ...(wake ? { wait: (ms: number) => this.#awaitWake(wake.wake, ms) } : {}),
    });
    return {
      record: () => (text === null ? undefined : parseRecord(text)),
      release,
      setAndRelease: async (record) => {
        const value = serializeRecord(record);
        const keep = record.expires > Date.now() ? '1' : '0';
        const args = [value, String(Math.round(record.expires)), keep, token];
        const keys = [dataKey, lockKey];
        if (wake) {
          keys.push(wake.wait, wake.wake);
          args.push(String(WAIT_MARK_MS));
        }
        const done = await this.#run((c) => c.eval(SET_AND_RELEASE, { keys, arguments: args }));
        if (done !== 1) throw new Error(`the lock of ${key} lapsed and was taken over before the write: the session was not saved`);
        freed = true;
        await release();
      },
    };
  }

  /** Quits the connection (at once if Redis does not answer). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#renewals) clearInterval(timer);
    this.#renewals.clear();
    // A waiter blocked in BLPOP gets an error, and its next try finds the store closed.
    for (const blocker of this.#blockers) quietly(() => blocker.destroy());
    this.#blockers.clear();
    this.#idleBlockers.clear();
    const pending = this.#connection;
    this.#connection = undefined;
    const connection = await pending?.catch(() => undefined);
    if (!connection) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connection.commands.close().catch(() => quietly(() => connection.commands.destroy())),
      new Promise<void>((r) => { timer = setTimeout(() => { quietly(() => connection.commands.destroy()); r(); }, 1_000); }),
    ]);
    clearTimeout(timer);
  }

  #dataKey(key: string): string {
    return `${this.prefix}sess:${key}`;
  }

  /**
   * The lock key of a session. In a cluster, `<prefix>lock:{<hash tag of the
   * session key>}`, so both keys are in one slot and one script can use both;
   * `undefined` when no such name exists (a prefix with `{`, a session key
   * hashed whole that holds `}`). Elsewhere `<prefix>lock:<key>`, as it always was.
   */
  #lockKey(key: string): string | undefined {
    if (!this.cluster) return `${this.prefix}lock:${key}`;
    const tag = hashTag(this.#dataKey(key));
    if (this.prefix.includes('{') || tag.includes('}')) return undefined;
    return `${this.prefix}lock:{${tag}}`;
  }

  /**
   * The keys by which the release of `lockKey` (from {@link #lockKey}) wakes
   * a waiter, named as the lock is, `lock:` becoming `wait:` and `wake:`:
   * `<prefix>wait:<key>`, set by a try that failed, and `<prefix>wake:<key>`,
   * the list a release pushes one token to while the first is there. In a
   * cluster they are so in the lock's slot (`<prefix>wait:{<hash tag>}`), and
   * the lock's scripts can use them; a session whose lock has no such name has
   * none, and its waiters try again after a backoff sleep.
   */
  #wakeKeys(lockKey: string | undefined): { wait: string; wake: string } | undefined {
    if (lockKey === undefined) return undefined;
    const rest = lockKey.slice(this.prefix.length + 'lock:'.length);
    return { wait: `${this.prefix}wait:${rest}`, wake: `${this.prefix}wake:${rest}` };
  }

  /** The RELEASE script's keys and arguments. */
  #releasing(lockKey: string, wake: { wait: string; wake: string } | undefined, token: string) {
    return wake ? { keys: [lockKey, wake.wait, wake.wake], arguments: [token, String(WAIT_MARK_MS)] } : { keys: [lockKey], arguments: [token] };
  }

  /**
   * Blocks on the wake list until a release pushes to it, for at most `ms`
   * (and {@link WAKE_WAIT_MS}), on a connection of its own. Without one (Redis
   * unreachable, the store closed) it sleeps a little instead: the next try
   * says what is wrong.
   */
  async #awaitWake(wakeKey: string, ms: number): Promise<void> {
    const wait = Math.max(1, Math.min(ms, WAKE_WAIT_MS));
    const found = await this.#blocker(wakeKey).catch(() => undefined);
    if (found) {
      const { node, blocker } = found;
      try {
        await blocker.blPop(wakeKey, wait / 1000);
        const idle = this.#idleBlockers.get(node);
        if (this.#closed || (idle?.length ?? 0) >= IDLE_BLOCKERS) this.#dropBlocker(blocker);
        else if (idle) idle.push(blocker);
        else this.#idleBlockers.set(node, [blocker]);
        return;
      } catch (e) {
        // A user the server does not let run BLPOP: sleep between tries from now on. (A slot that
        // moved to another node answers MOVED: the next wait asks the cluster where it is now.)
        if (/NOPERM|unknown command/i.test(describe(e))) this.#blockingRefused = true;
        this.#dropBlocker(blocker);
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(wait, 25)));
  }

  /** An idle blocking connection to the node of `key`, or a new one. */
  async #blocker(key: string): Promise<{ node: string; blocker: Blocker } | undefined> {
    if (this.#closed || this.#blockingRefused) return undefined;
    const where = (await this.#connect()).blocking(key);
    if (!where) return undefined;
    const { node } = where;
    const idle = this.#idleBlockers.get(node)?.pop();
    if (idle) return { node, blocker: idle };
    const blocker = await where.create();
    blocker.on('error', () => undefined);
    this.#blockers.add(blocker);
    try {
      await blocker.connect();
    } catch (e) {
      this.#dropBlocker(blocker);
      throw e;
    }
    if (this.#closed) {
      this.#dropBlocker(blocker);
      return undefined;
    }
    return { node, blocker };
  }

  #dropBlocker(blocker: Blocker): void {
    this.#blockers.delete(blocker);
    for (const idle of this.#idleBlockers.values()) {
      const at = idle.indexOf(blocker);
      if (at >= 0) idle.splice(at, 1);
    }
    quietly(() => blocker.destroy());
  }

  /** Runs commands on the connection, connecting first if needed; errors say why Redis is unreachable. */
  async #run<T>(op: (c: Commands, connection: Connection) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the store is closed');
    let connection: Connection;
    try {
      connection = await this.#connect();
    } catch (e) {
      throw new Error(`cannot connect: ${describe(e)}`, { cause: e });
    }
    try {
      return await op(connection.commands, connection);
    } catch (e) {
      // A closed client stays closed: make a new one next time.
      if (e instanceof ClientClosedError) this.#forget(connection);
      if (e instanceof ClientOfflineError || e instanceof ClientClosedError) {
        throw new Error(`${describe(e)}${this.#lastError ? ` (${this.#lastError})` : ''}`, { cause: e });
      }
      throw e;
    }
  }

  #forget(connection: Connection): void {
    const current = this.#connection;
    void current?.then((c) => {
      if (c === connection && this.#connection === current) this.#connection = undefined;
    }, () => {});
  }

  #connect(): Promise<Connection> {
    if (!this.#connection) {
      const pending = this.#open();
      this.#connection = pending;
      pending.catch(() => {
        if (this.#connection === pending) this.#connection = undefined;
      });
    }
    return this.#connection;
  }

  async #open(): Promise<Connection> {
    let connected = false;
    const socket = {
      connectTimeout: this.#connectTimeoutMs,
      // Reconnect for ever once connected (with backoff); a first connection that fails fails the request.
      reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(20 * 2 ** retries, 2_000) : cause),
    };
    // While disconnected, commands fail at once instead of queueing until Redis is back.
    const common = { disableOfflineQueue: true, commandsQueueMaxLength: 10_000 };
    const onError = (e: unknown) => {
      this.#lastError = describe(e);
    };
    // Blocking connections give up at once when they lose the server: the waiter tries the lock again.
    // (A duplicate takes the options given whole: the node's address in a cluster's socket options stays.)
    const duplicateForBlocking = (client: RedisClientType) =>
      client.duplicate({ socket: { ...client.options?.socket, connectTimeout: this.#connectTimeoutMs, reconnectStrategy: false } } as object) as unknown as Blocker;
    const url = new URL(this.#url.href);
    url.search = '';
    url.hash = '';
    if (!this.cluster) {
      const client = createClient({ ...common, url: url.href, socket });
      client.on('error', onError);
      try {
        await client.connect();
      } catch (e) {
        quietly(() => client.destroy());
        throw e;
      }
      connected = true;
      this.#lastError = undefined;
      const commands = client as unknown as Commands;
      return {
        commands,
        scanners: async () => [client as unknown as Scanner],
        blocking: () => ({ node: '', create: async () => duplicateForBlocking(client as unknown as RedisClientType) }),
      };
    }
    const tls = url.protocol === 'rediss:';
    const cluster = createCluster({
      rootNodes: this.#roots.map((node) => ({ url: `${url.protocol}//${node}` })),
      defaults: {
        ...common,
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        socket: { ...socket, ...(tls ? { tls: true } : {}) } as object,
      },
    });
    cluster.on('error', onError);
    try {
      await cluster.connect();
    } catch (e) {
      quietly(() => cluster.destroy());
      throw e;
    }
    connected = true;
    this.#lastError = undefined;
    return {
      commands: cluster as unknown as Commands,
      scanners: () => Promise.all(cluster.masters.map((m) => cluster.nodeClient(m) as Promise<unknown> as Promise<Scanner>)),
      blocking: (key) => {
        const master = cluster.slots[keySlot(key)]?.master;
        if (!master) return undefined;
        return { node: master.address, create: async () => duplicateForBlocking((await cluster.nodeClient(master)) as unknown as RedisClientType) };
      },
    };
  }
}

/** What Redis Cluster hashes of a key: its first non-empty `{...}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/** CRC16-CCITT (XMODEM), by which Redis Cluster hashes keys, one table entry per byte value. */
const CRC16 = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

/**
 * The cluster slot of a key: CRC16 of its hash tag (as UTF-8), modulo 16384.
 *
 * @internal
 */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(hashTag(key), 'utf8')) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff]!;
  return crc % 16384;
}

const EXPECTED = 'expected redis://[user:password@]host:port/db[?cluster=1&prefix=...]';

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new ConfigurationError('PSOSessionStore', redactText(text), `not a URL: ${EXPECTED}`);
  }
}

function flag(value: string | null, fail: (why: string) => never): boolean {
  if (value === null) return false;
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  return fail(`cluster=${value}: expected 1 or 0`);
}

function positive(value: string | null, fallback: number, what: string, fail: (why: string) => never): number {
  if (value === null) return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fail(`${what}=${value}: expected milliseconds`);
}

/** An error's message; a failed connection to every address of a host has none of its own. */
function describe(e: unknown): string {
  const err = e as (Error & { code?: string; errors?: unknown[] }) | undefined;
  if (err?.message) return err.message;
  if (Array.isArray(err?.errors) && err.errors.length) return err.errors.map(describe).join('; ');
  return err?.code ?? String(e);
}

/** Destroying a client that already closed itself throws. */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // Already closed.
  }
}

/** The store a `PSOSessionStore` URL of this kind names. */
export const fromUrl: StoreFactory = (url) => new RedisStore(url);
