import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import {
  ConfigurationError, CorruptSessionError, SessionBusyError, closeStores, openStore, type PsoServer, type SessionRecord,
} from '../../../src/index.js';
import { RedisStore, keySlot } from '../../../src/session/stores/RedisStore.js';
import { CookieJar, ROOT } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';
import { assertNoLostIncrements, startCounterServer } from '../../support/counterServer.js';
import { sessionKey } from '../../support/sessionFiles.js';

const run = promisify(execFile);
const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000, ...patch });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** A free loopback port whose cluster bus port (+10000) is free too. */
async function freeRedisPort(taken: number[] = []): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (!taken.includes(port) && (await canBind(port)) && (await canBind(port + 10_000))) return port;
  }
  throw new Error('no free port pair for redis-server');
}

/** A private redis-server on 127.0.0.1:<port>, data in `dir`; resolves once it answers. */
async function startRedis(port: number, dir: string, extra: string[] = []): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extra], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await portOpen(port)) return child;
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not start on port ${port}`);
}

function stopRedis(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}

describe('RedisStore', function () {
  this.timeout(60_000);
  // Keys of this run only, removed afterwards: the local Redis may be shared.
  const PREFIX = `pso-spec-${process.pid}-${randomBytes(4).toString('hex')}:`;
  const URL_ = `redis://127.0.0.1:6379/0?prefix=${encodeURIComponent(PREFIX)}`;
  let raw: ReturnType<typeof createClient>;
  const stores: RedisStore[] = [];
  const open = (url = URL_) => {
    const store = new RedisStore(url);
    stores.push(store);
    return store;
  };

  before(async function () {
    const reason = process.env.PSO_REDIS_SKIP;
    if (reason) {
      console.log(`    skipping the Redis suite: ${reason}`);
      this.skip();
    }
    raw = createClient({ url: 'redis://127.0.0.1:6379/0' });
    raw.on('error', () => {});
    await raw.connect();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await closeStores();
    for await (const keys of raw.scanIterator({ MATCH: `${PREFIX}*`, COUNT: 1000 })) if (keys.length) await raw.del(keys);
  });
  after(async () => {
    await raw?.close();
  });

  describe('configuration', () => {
    it('reads host, port, database and options from the URL, and names itself without the password', () => {
      const store = new RedisStore('redis://user:s3cret@10.0.0.1:7000/3?prefix=shop:');
      assert.equal(store.name, 'redis://user:***@10.0.0.1:7000/3?prefix=shop:');
      assert.equal(store.prefix, 'shop:');
      assert.equal(store.cluster, false);
      assert.equal(new RedisStore('rediss://h:6380?cluster=1').cluster, true);
      assert.equal(new RedisStore('redis://h').prefix, 'pso:');
    });

    for (const [bad, why] of [
      ['redis://h:6379/x', /"x" is not a database number/],
      ['redis://h:6379/0?prefx=a', /unknown parameter "prefx"/],
      ['redis://h:6379/2?cluster=1', /a Redis Cluster has database 0 only/],
      ['redis://h:6379/0?cluster=maybe', /cluster=maybe: expected 1 or 0/],
      ['redis://u:pw@h:6379/0?lockTtl=-1', /lockTtl=-1: expected milliseconds/],
      ['redis://h:6379/0?cluster=1&node=a/b', /"a\/b" is not host:port/],
    ] as const) {
      it(`refuses ${bad} with a ConfigurationError`, () => {
        assert.throws(() => new RedisStore(bad), (e: unknown) => e instanceof ConfigurationError && why.test(e.message) && !e.message.includes(':pw@'));
      });
    }

    it('is what PSOSessionStore=redis://... and rediss://... open, without connecting yet', async () => {
      const store = await openStore('redis://127.0.0.1:1/0');
      assert.ok(store instanceof RedisStore);
      assert.ok((await openStore('rediss://127.0.0.1:1/0')) instanceof RedisStore);
    });

    it('fails at once, saying why, when nothing listens', async () => {
      const store = open(`redis://127.0.0.1:${await freeRedisPort()}/0`);
      const started = Date.now();
      await assert.rejects(store.get('svc:a'), /cannot connect: connect ECONNREFUSED/);
      assert.ok(Date.now() - started < 1_000);
    });
  });

  describe('the store contract', () => {
    it('gives back what was set, with a native TTL under "<prefix>sess:", keys with ":" included; destroy forgets', async () => {
      const store = open();
      const r = record({ data: { user: { name: 'ada' }, list: [1, 'two', null] }, expiry: { kind: 'after', seconds: 900 }, timeouts: { idle: 60 } });
      await store.set('svc:a:b:c', r);
      await store.set('svc:a', record({ data: { other: true } }));
      const read = (await store.get('svc:a:b:c'))!;
      assert.deepEqual({ ...read, data: { ...read.data } }, r);
      assert.equal(await store.get('svc:a:b'), undefined);
      const ttl = await raw.pTTL(`${PREFIX}sess:svc:a:b:c`);
      assert.ok(ttl > 55_000 && ttl <= 60_000, `PTTL ${ttl}`);
      await store.destroy('svc:a:b:c');
      await store.destroy('svc:never');
      assert.equal(await store.get('svc:a:b:c'), undefined);
      assert.equal(await raw.exists(`${PREFIX}sess:svc:a:b:c`), 0);
      assert.ok(await store.get('svc:a'));
    });

    it('touch moves the expiry (and the record), and does not bring back a destroyed session', async () => {
      const store = open();
      const first = record({ expires: Date.now() + 300 });
      await store.set('svc:t', first);
      const later = { ...first, expires: Date.now() + 60_000, expiry: { kind: 'after' as const, seconds: 60 } };
      await store.touch('svc:t', later);
      await sleep(400);
      const read = await store.get('svc:t');
      assert.equal(read?.expires, later.expires);
      assert.deepEqual(read?.expiry, later.expiry);
      assert.ok((await raw.pTTL(`${PREFIX}sess:svc:t`)) > 55_000);
      await store.destroy('svc:t');
      await store.touch('svc:t', later);
      assert.equal(await store.get('svc:t'), undefined);
    });

    it('lets Redis expire records; gc has nothing to do; count and list SCAN the prefix only', async () => {
      const store = open();
      const other = open(`redis://127.0.0.1:6379/0?prefix=${encodeURIComponent(`${PREFIX}other:`)}`);
      await other.set('svc:elsewhere', record());
      await Promise.all(Array.from({ length: 1_500 }, (_, i) => store.set(`svc:k${i}`, record())));
      await store.set('svc:old', record({ expires: Date.now() + 300 }));
      assert.equal(await store.count(), 1_501);
      await sleep(400);
      assert.equal(await store.get('svc:old'), undefined);
      assert.equal(await raw.exists(`${PREFIX}sess:svc:old`), 0, 'gone from Redis itself');
      assert.equal(await store.gc(), 0);
      const keys = await store.list();
      assert.equal(keys.length, 1_500);
      assert.ok(keys.includes('svc:k0') && keys.includes('svc:k1499') && !keys.includes('svc:elsewhere'));
      assert.deepEqual(await other.list(), ['svc:elsewhere']);
      await store.set('svc:past', record({ expires: Date.now() - 1 }));
      assert.equal(await raw.exists(`${PREFIX}sess:svc:past`), 0, 'an already expired record is not stored');
    });

    it('throws CorruptSessionError for stored data it cannot read back', async () => {
      const store = open();
      await raw.set(`${PREFIX}sess:svc:bad`, '{"v":1,"created":');
      await raw.set(`${PREFIX}sess:svc:shape`, '"text"');
      await assert.rejects(store.get('svc:bad'), CorruptSessionError);
      await assert.rejects(store.get('svc:shape'), /not a JSON object/);
    });
  });

  describe('the lock', () => {
    it('is exclusive between two store instances, and waits until released', async () => {
      const a = open();
      const b = open();
      const release = await a.lock('svc:k', 1_000);
      assert.ok((await raw.pTTL(`${PREFIX}lock:svc:k`)) > 0, 'a lock key with a TTL');
      await assert.rejects(b.lock('svc:k', 150), (e: unknown) => e instanceof SessionBusyError && /still locked after \d+ ms/.test(e.message));
      await (await b.lock('svc:other', 100))();
      const waiting = b.lock('svc:k', 5_000);
      await sleep(50);
      await release();
      const second = await waiting;
      await release(); // twice is harmless, and does not free b's lock
      await assert.rejects(a.lock('svc:k', 100), SessionBusyError);
      await second();
      assert.equal(await raw.exists(`${PREFIX}lock:svc:k`), 0);
    });

    it('has a waiter block until the release wakes it (BLPOP on a connection of its own), not poll', async () => {
      const evals = async () => {
        const info = await raw.info('commandstats');
        return [...info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      };
      const a = open();
      const b = open();
      await a.set('svc:w', record({ data: { n: 1 } }));
      const held = await a.lockAndGet('svc:w', 1_000);
      const before = await evals();
      const waiting = b.lockAndGet('svc:w', 10_000);
      await sleep(1_300);
      const clients = String(await raw.sendCommand(['CLIENT', 'LIST']));
      assert.match(clients, /flags=b\b.*cmd=blpop/, 'a client blocked in BLPOP');
      await held.setAndRelease!(record({ data: { n: 2 } }));
      const got = await waiting;
      assert.equal(got.record()?.data.n, 2, 'read under the lock, after the write');
      const tries = (await evals()) - before;
      // Its first try, one more when its wait of at most a second ran out, one when woken; and the holder's write.
      assert.ok(tries <= 5, `${tries} scripts run while one waiter waited 1.3 s (polling would run dozens)`);
      await got.release();
      assert.equal(await raw.exists(`${PREFIX}lock:svc:w`), 0);
    });

    it('wakes waiters one by one, each as the one before frees the lock, and lose no increment', async () => {
      const stores = [open(), open(), open(), open()];
      const increment = async (store: RedisStore) => {
        const held = await store.lockAndGet('svc:seq', 20_000);
        const n = (held.record()?.data.n as number | undefined) ?? 0;
        await sleep(5);
        await held.setAndRelease!(record({ data: { n: n + 1 } }));
      };
      await Promise.all(Array.from({ length: 40 }, (_, i) => increment(stores[i % 4]!)));
      assert.equal((await stores[0]!.get('svc:seq'))!.data.n, 40);
    });

    it('falls back to sleeping between tries when the server refuses BLPOP (an ACL), without reconnecting each time', async () => {
      const user = `pso-spec-${process.pid}`;
      await raw.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', '>pw', '~*', '&*', '+@all', '-blpop']);
      try {
        const url = `redis://${encodeURIComponent(user)}:pw@127.0.0.1:6379/0?prefix=${encodeURIComponent(PREFIX)}`;
        const a = open();
        const b = open(url);
        const held = await a.lockAndGet('svc:acl', 1_000);
        const connections = async () => Number(/total_connections_received:(\d+)/.exec(await raw.info('stats'))![1]);
        const before = await connections();
        const waiting = b.lockAndGet('svc:acl', 10_000);
        await sleep(1_000);
        await held.setAndRelease!(record({ data: { n: 7 } }));
        const got = await waiting;
        assert.equal(got.record()?.data.n, 7);
        await got.release();
        const made = (await connections()) - before;
        assert.ok(made <= 3, `${made} connections made during a 1 s wait`);
      } finally {
        await raw.sendCommand(['ACL', 'DELUSER', user]);
      }
    });

    it('close() ends a wait blocked on the wake list: the waiter fails, and its connections are closed', async () => {
      const count = async () => String(await raw.sendCommand(['CLIENT', 'LIST'])).trim().split('\n').length;
      const a = open();
      const release = await a.lock('svc:c', 1_000);
      const base = await count();
      const b = new RedisStore(URL_);
      const waiting = b.lock('svc:c', 30_000);
      waiting.catch(() => undefined);
      await sleep(200);
      assert.ok((await count()) >= base + 2, 'the waiter has its connection and a blocking one');
      await b.close();
      await assert.rejects(waiting, /closed/);
      for (let i = 0; i < 50 && (await count()) > base; i++) await sleep(20);
      assert.equal(await count(), base, 'no connection of the closed store is left');
      await release();
    });

    it('takes over an expired lock, and the old holder\'s release does not free the new one', async () => {
      const a = open();
      const b = open();
      const old = await a.lock('svc:k', 1_000);
      // A holder that stopped renewing: its lock expires.
      await raw.pExpire(`${PREFIX}lock:svc:k`, 1);
      await sleep(5);
      const started = Date.now();
      const taken = await b.lock('svc:k', 1_000);
      assert.ok(Date.now() - started < 500);
      await old();
      assert.equal(await raw.exists(`${PREFIX}lock:svc:k`), 1, 'the compare-and-delete left b\'s lock');
      await assert.rejects(a.lock('svc:k', 100), SessionBusyError);
      await taken();
    });

    it('renews a held lock, so a long request keeps it past its lifetime', async () => {
      const url = `${URL_}&lockTtl=150`;
      const a = open(url);
      const b = open(url);
      const release = await a.lock('svc:k', 1_000);
      await sleep(500);
      await assert.rejects(b.lock('svc:k', 100), SessionBusyError);
      await release();
    });

    it('lockAndGet reads under the lock in one script; setAndRelease writes and frees it in another', async () => {
      const a = open();
      const b = open();
      await a.set('svc:g', record({ data: { n: 5 } }));
      const held = await a.lockAndGet('svc:g', 1_000);
      assert.equal(held.record()!.data.n, 5);
      assert.ok((await raw.pTTL(`${PREFIX}lock:svc:g`)) > 0, 'the same lock key as lock()');
      await assert.rejects(b.lock('svc:g', 100), SessionBusyError);
      await assert.rejects(b.lockAndGet('svc:g', 100), SessionBusyError);
      const waiting = b.lockAndGet('svc:g', 5_000);
      await sleep(30);
      await held.setAndRelease!(record({ data: { n: 6 } }));
      await held.release(); // harmless afterwards
      const next = await waiting;
      assert.equal(next.record()!.data.n, 6, 'the next holder reads the write');
      await next.release();
      assert.equal(await raw.exists(`${PREFIX}lock:svc:g`), 0);
      const none = await a.lockAndGet('svc:none', 1_000);
      assert.equal(none.record(), undefined);
      await none.setAndRelease!(record({ expires: Date.now() - 1 }));
      assert.equal(await raw.exists(`${PREFIX}sess:svc:none`), 0, 'an expired record is deleted, not written');
      await raw.set(`${PREFIX}sess:svc:bad`, 'garbage');
      const bad = await a.lockAndGet('svc:bad', 1_000);
      assert.throws(() => bad.record(), CorruptSessionError);
      await bad.release();
    });

    it('setAndRelease writes nothing once the lock has lapsed and passed to another holder', async () => {
      const a = open();
      const b = open();
      await a.set('svc:l', record({ data: { n: 1 } }));
      const old = await a.lockAndGet('svc:l', 1_000);
      await raw.pExpire(`${PREFIX}lock:svc:l`, 1);
      await sleep(5);
      const taken = await b.lockAndGet('svc:l', 1_000);
      await assert.rejects(old.setAndRelease!(record({ data: { n: 99 } })), /lapsed/);
      await old.release();
      assert.equal((await a.get('svc:l'))!.data.n, 1, 'the old holder wrote nothing');
      assert.equal(await raw.exists(`${PREFIX}lock:svc:l`), 1, 'and left the new holder\'s lock');
      await taken.setAndRelease!(record({ data: { n: 2 } }));
      assert.equal((await a.get('svc:l'))!.data.n, 2);
    });

    it('keeps child processes from losing any of 4 × 25 increments', async () => {
      const child = join(ROOT, 'spec/support/store-lock-child.mjs');
      await Promise.all(Array.from({ length: 4 }, () => run(process.execPath, [child, URL_, 'svc:counter', '25'])));
      assert.equal((await open().get('svc:counter'))!.data.n, 100);
      assert.equal(await raw.exists(`${PREFIX}lock:svc:counter`), 0, 'every lock was released');
    });
  });

  describe('when Redis goes away while a lock is held', () => {
    let redis: ChildProcess | undefined;
    let dir: string | undefined;
    afterEach(async () => {
      await stopRedis(redis);
      redis = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('frees the lock once Redis is back, rather than leave the session busy for the rest of its lease', async () => {
      // A private Redis that keeps what it had across a restart (append-only file), as a production one would.
      const port = await freeRedisPort();
      dir = mkdtempSync(join(tmpdir(), 'pso-redis-lease-'));
      const aof = ['--appendonly', 'yes', '--appendfsync', 'always'];
      redis = await startRedis(port, dir, aof);
      const url = `redis://127.0.0.1:${port}/0?prefix=${encodeURIComponent(PREFIX)}`;
      const a = open(url);
      const held = await a.lockAndGet('svc:away', 1_000);
      const stopped = new Promise((r) => redis!.once('exit', r));
      spawnSync(REDIS_CLI, ['-p', String(port), 'shutdown']);
      await stopped;
      await assert.rejects(held.release(), 'Redis is away: the release fails');
      redis = await startRedis(port, dir, aof);
      // The lease is 30 s; the lock must be gone within a few seconds of Redis's return.
      const b = open(url);
      const started = Date.now();
      const next = await b.lockAndGet('svc:away', 5_000);
      assert.ok(Date.now() - started < 5_000, `locked again after ${Date.now() - started} ms`);
      await next.release();
    });
  });

  describe('under a node:http server (PSOSessionStore)', () => {
    let server: PsoServer | undefined;
    let logger: MemoryLogger;
    let redis: ChildProcess | undefined;
    let redisDir: string | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
      await closeStores();
      // Whatever happened, the private Redis does not outlive the test.
      await stopRedis(redis);
      redis = undefined;
      if (redisDir) rmSync(redisDir, { recursive: true, force: true });
      redisDir = undefined;
    });

    async function start(storeUrl: string) {
      ({ server, logger } = await startCounterServer('st', { PSOSessionStore: storeUrl, PSOSessionStoreTimeout: '2' }));
      return server.url;
    }

    it('holds 200 concurrent increments of one session without losing one', async () => {
      const jar = await assertNoLostIncrements(await start(URL_));
      assert.deepEqual(await (await openStore(URL_))!.list!(), [sessionKey('st', jar.cookies.get('st')!)]);
    });

    it('answers 503 at once naming the store while Redis is stopped, keeps serving, and goes on when Redis is back', async function () {
      // A private redis-server, so that stopping it disturbs nobody else using the machine's Redis.
      const port = await freeRedisPort();
      redisDir = mkdtempSync(join(tmpdir(), 'pso-redis-spec-'));
      redis = await startRedis(port, redisDir);
      const storeUrl = `redis://:hidden@127.0.0.1:${port}/1`;
      spawnSync(REDIS_CLI, ['-p', String(port), 'config', 'set', 'requirepass', 'hidden']);
      const base = await start(storeUrl);
      const jar = new CookieJar();
      for (const n of ['1', '2']) assert.equal(await (await jar.fetch(base)).text(), n);

      // A real shutdown; SAVE keeps the data for the restart.
      const stopped = new Promise((r) => redis!.once('exit', r));
      spawnSync(REDIS_CLI, ['-p', String(port), '-a', 'hidden', '--no-auth-warning', 'shutdown', 'save']);
      await stopped;
      for (const path of ['/', '/other']) {
        const started = Date.now();
        const res = await jar.fetch(`${base}${path}`);
        assert.equal(res.status, 503, await res.clone().text());
        assert.equal(res.headers.get('retry-after'), '5');
        assert.ok(Date.now() - started < 1_500, `answered in ${Date.now() - started} ms, not after the store timeout`);
      }
      assert.match(logger.text(), new RegExp(`session store ${escape(`redis://:***@127.0.0.1:${port}/1`)} unavailable: \\w+ failed: .*(offline|ECONNREFUSED|closed)`, 'i'));
      assert.doesNotMatch(logger.text(), /hidden/);

      redis = await startRedis(port, redisDir, ['--requirepass', 'hidden']);
      let res: Response | undefined;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        res = await jar.fetch(base);
        if (res.status === 200) break;
        await sleep(100);
      }
      assert.equal(res?.status, 200, 'the store reconnected by itself');
      assert.equal(await res!.text(), '3', 'nothing was lost');
      assert.equal(await (await jar.fetch(base)).text(), '4');
    });
  });

  describe('with a Redis Cluster (3 masters on loopback)', function () {
    this.timeout(90_000);
    const nodes: ChildProcess[] = [];
    let ports: number[] = [];
    let clusterDir: string;
    let clusterUrl: string;

    before(async function () {
      clusterDir = mkdtempSync(join(tmpdir(), 'pso-redis-cluster-'));
      try {
        for (let i = 0; i < 3; i++) ports.push(await freeRedisPort(ports));
        for (const port of ports) {
          nodes.push(await startRedis(port, join(clusterDir, String(port)), ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000']));
        }
        const made = spawnSync(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
        if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${(made.stderr || made.stdout).trim().split('\n').pop()}`);
        let ok = false;
        for (let i = 0; i < 100 && !ok; i++) {
          ok = ports.every((p) => /cluster_state:ok/.test(spawnSync(REDIS_CLI, ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout));
          if (!ok) await sleep(100);
        }
        if (!ok) throw new Error('the cluster did not reach cluster_state:ok');
      } catch (e) {
        console.log(`    skipping the Redis Cluster tests: ${(e as Error).message}`);
        this.skip();
      }
      clusterUrl = `redis://127.0.0.1:${ports[0]}/0?cluster=1&node=127.0.0.1:${ports[1]}&prefix=${encodeURIComponent(PREFIX)}`;
    });
    after(async () => {
      await closeStores();
      await Promise.all(nodes.map((n) => stopRedis(n)));
      if (clusterDir) rmSync(clusterDir, { recursive: true, force: true });
    });

    it('keeps, reads, touches and destroys sessions spread over the masters; list SCANs every master', async () => {
      const store = open(clusterUrl);
      assert.equal(store.cluster, true);
      await Promise.all(Array.from({ length: 60 }, (_, i) => store.set(`svc:k${i}`, record({ data: { i } }))));
      for (const i of [0, 17, 59]) assert.equal((await store.get(`svc:k${i}`))!.data.i, i);
      const perNode = ports.map((p) => Number(spawnSync(REDIS_CLI, ['-p', String(p), 'dbsize'], { encoding: 'utf8' }).stdout.trim()));
      assert.ok(perNode.filter((n) => n > 0).length >= 2, `keys on several masters: ${perNode}`);
      assert.equal(await store.count(), 60);
      await store.touch('svc:k1', record({ data: { i: 1 }, expires: Date.now() + 120_000 }));
      assert.ok((await store.get('svc:k1'))!.expires > Date.now() + 100_000);
      await store.destroy('svc:k0');
      assert.equal(await store.get('svc:k0'), undefined);
      assert.equal((await store.list()).length, 59);
      await Promise.all((await store.list()).map((k) => store.destroy(k)));
    });

    it('keeps a session\'s lock in the session\'s slot, so one node runs the lock-and-read script', async () => {
      const store = open(clusterUrl);
      const slot = (key: string) => spawnSync(REDIS_CLI, ['-p', String(ports[0]), 'cluster', 'keyslot', key], { encoding: 'utf8' }).stdout.trim();
      for (const key of ['svc:a', 'svc:b7', 'svc:{x}y']) {
        await store.set(key, record({ data: { key } }));
        const held = await store.lockAndGet(key, 1_000);
        assert.equal(held.record()!.data.key, key);
        const dataKey = `${PREFIX}sess:${key}`;
        const tag = /\{([^}]+)\}/.exec(dataKey)?.[1] ?? dataKey;
        assert.equal(slot(`${PREFIX}lock:{${tag}}`), slot(dataKey));
        await held.setAndRelease!(record({ data: { key, done: true } }));
        assert.equal((await store.get(key))!.data.done, true);
        await store.destroy(key);
      }
    });

    it('hashes keys to the slots the cluster does', () => {
      for (const key of ['svc:a', `${PREFIX}wake:{${PREFIX}sess:svc:b7}`, 'svc:{x}y', '{}z', 'a{}b{c}', 'é:日本', '']) {
        const theirs = spawnSync(REDIS_CLI, ['-p', String(ports[0]), 'cluster', 'keyslot', key], { encoding: 'utf8' }).stdout.trim();
        assert.equal(String(keySlot(key)), theirs, JSON.stringify(key));
      }
    });

    it('has a waiter block on the master of the lock\'s slot until the release wakes it, not poll', async () => {
      const key = 'svc:w';
      const slot = keySlot(`${PREFIX}sess:${key}`);
      // CLUSTER NODES: id, ip:port@bus, flags, ..., then the node's slot ranges from the ninth field.
      const nodes = spawnSync(REDIS_CLI, ['-p', String(ports[0]), 'cluster', 'nodes'], { encoding: 'utf8' }).stdout;
      const owner = nodes.split('\n').map((line) => line.split(' ')).find((f) => f.slice(8).some((range) => {
        const [lo, hi = lo] = range.split('-').map(Number);
        return lo! <= slot && slot <= hi!;
      }))?.[1]?.split(/[:@]/)[1];
      assert.ok(owner, `a master serves slot ${slot}`);
      const evals = () => {
        const info = spawnSync(REDIS_CLI, ['-p', String(owner), 'info', 'commandstats'], { encoding: 'utf8' }).stdout;
        return [...info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      };
      const a = open(clusterUrl);
      const b = open(clusterUrl);
      await a.set(key, record({ data: { n: 1 } }));
      const held = await a.lockAndGet(key, 1_000);
      const before = evals();
      const waiting = b.lockAndGet(key, 10_000);
      await sleep(1_300);
      const clients = spawnSync(REDIS_CLI, ['-p', String(owner), 'client', 'list'], { encoding: 'utf8' }).stdout;
      assert.match(clients, /flags=b\b.*cmd=blpop/, 'a client blocked in BLPOP on the slot\'s master');
      await held.setAndRelease!(record({ data: { n: 2 } }));
      const got = await waiting;
      assert.equal(got.record()?.data.n, 2, 'read under the lock, after the write');
      const tries = evals() - before;
      assert.ok(tries <= 5, `${tries} scripts run while one waiter waited 1.3 s (polling would run dozens)`);
      await got.release();
      await a.destroy(key);
    });

    it('locks across processes (4 × 25 increments, none lost)', async () => {
      const child = join(ROOT, 'spec/support/store-lock-child.mjs');
      await Promise.all(Array.from({ length: 4 }, () => run(process.execPath, [child, clusterUrl, 'svc:counter', '25'])));
      const store = open(clusterUrl);
      assert.equal((await store.get('svc:counter'))!.data.n, 100);
      await store.destroy('svc:counter');
    });

    it('holds 200 concurrent increments of one session through node:http', async () => {
      const { server } = await startCounterServer('st', { PSOSessionStore: clusterUrl });
      try {
        await assertNoLostIncrements(server.url);
      } finally {
        await server.close();
      }
    });
  });
});
