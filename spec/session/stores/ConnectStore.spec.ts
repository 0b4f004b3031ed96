import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ConnectStore, CookieStoreImpl, CorruptSessionError, ServiceHandler, TOKENS, createContainer, serve,
  type ConnectCallback, type ConnectSession, type ConnectSessionStore, type PsoServer, type SessionRecord, type SessionStore,
} from '../../../src/index.js';
import { CookieJar } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';
import { sessionKey } from '../../support/sessionFiles.js';

// The connect stores are CommonJS without type declarations here.
const require = createRequire(import.meta.url);
const expressSession = require('express-session');

const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { n: 1 }, created: Date.now() - 5000, expires: Date.now() + 60_000, ...patch });
const plain = (r: SessionRecord | undefined) => r && { ...r, data: JSON.parse(JSON.stringify(r.data)) };
const unique = () => randomBytes(6).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The wrapped store's own view of a key, through its callback API. */
function rawGet(store: ConnectSessionStore, key: string): Promise<ConnectSession | null | undefined> {
  return new Promise((resolve, reject) => store.get(key, (err, s) => (err && (err as NodeJS.ErrnoException).code !== 'ENOENT' ? reject(err) : resolve(err ? undefined : s))));
}

let server: PsoServer | undefined;
let logger: MemoryLogger;

/** A node:http server counting `n` in a session kept by `store`. */
async function start(store: ConnectStore, directives: Record<string, string> = {}): Promise<string> {
  const container = createContainer();
  logger = new MemoryLogger();
  container.rebind(TOKENS.Logger).toConstantValue(logger);
  container.bind(TOKENS.SessionStore).toConstantValue(store);
  container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
  server = await serve((r) => r.write(String(r.session.increment('n'))), { port: 0, moduleName: 'cs', serviceHandler: new ServiceHandler(container), directives });
  return server.url;
}

async function stopServer(): Promise<void> {
  await server?.close();
  server = undefined;
}

interface Fixture {
  store: ConnectSessionStore;
  /** Milliseconds the wrapped store will keep `key`, read from the store itself. */
  ttl(key: string): Promise<number | undefined>;
  cleanup(): Promise<void>;
}

/** The same behaviour, asked of every real connect store. */
function realStoreSuite(label: string, className: string, make: () => Promise<Fixture>, skip?: () => string | undefined): void {
  describe(`ConnectStore around ${label}`, function () {
    let fx: Fixture;
    let store: ConnectStore;
    afterEach(stopServer);

    before(async function () {
      const reason = skip?.();
      if (reason) {
        console.log(`    skipping ${label}: ${reason}`);
        this.skip();
      }
      fx = await make();
      store = new ConnectStore(fx.store);
    });
    after(async () => {
      await store?.close();
      await fx?.cleanup();
    });

    it(`is named connect:${className}`, () => {
      assert.equal(store.name, `connect:${className}`);
    });

    it('reads back what it stored: data, times, expiry and timeouts', async () => {
      const r = record({ data: { n: 7, user: { name: 'ada', roles: ['a', 'b'] }, none: null, ok: true, 'é': 'ü' }, expiry: { kind: 'after', seconds: 900 }, timeouts: { idle: 600, absolute: 3600 } });
      await store.set('cs:round', r);
      assert.deepEqual(plain(await store.get('cs:round')), r);
      assert.equal(await store.get('cs:absent'), undefined);
    });

    it('keeps a "__proto__" key as data, without a prototype', async () => {
      const data = JSON.parse('{"__proto__":{"polluted":1},"n":1}');
      await store.set('cs:proto', record({ data }));
      const read = (await store.get('cs:proto'))!;
      assert.equal(Object.getPrototypeOf(read.data), null);
      assert.deepEqual(JSON.parse(JSON.stringify(read.data)), JSON.parse('{"__proto__":{"polluted":1},"n":1}'));
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('destroys, and destroying what is not there is no error', async () => {
      await store.set('cs:gone', record());
      await store.destroy('cs:gone');
      assert.equal(await store.get('cs:gone'), undefined);
      assert.equal(await rawGet(fx.store, 'cs:gone') ?? undefined, undefined);
      await store.destroy('cs:gone');
    });

    // Some stores keep whole seconds, rounded up (PostgreSQL's expire column, Redis EX).
    it('touch moves the expiry, in the record and in the store\'s TTL', async () => {
      const r = record({ expires: Date.now() + 60_000 });
      await store.set('cs:touch', r);
      const ttl = (await fx.ttl('cs:touch'))!;
      assert.ok(ttl > 50_000 && ttl <= 62_000, `TTL ${ttl}`);
      const later = Date.now() + 3_600_000;
      await store.touch('cs:touch', { ...r, expires: later });
      assert.equal((await store.get('cs:touch'))!.expires, later);
      const moved = (await fx.ttl('cs:touch'))!;
      assert.ok(moved > 3_590_000 && moved <= 3_602_000, `TTL ${moved}`);
    });

    it('sets the store\'s TTL from record.expires: the store itself forgets the session then', async () => {
      await store.set('cs:short', record({ expires: Date.now() + 1000 }));
      const ttl = (await fx.ttl('cs:short'))!;
      assert.ok(ttl > 0 && ttl <= 2000, `TTL ${ttl}`);
      assert.ok(await store.get('cs:short'));
      await sleep(2500);
      assert.equal((await rawGet(fx.store, 'cs:short')) ?? undefined, undefined);
      assert.equal(await store.get('cs:short'), undefined);
    });

    it('does not store a record that has already expired', async () => {
      await store.set('cs:past', record());
      await store.set('cs:past', record({ expires: Date.now() - 1 }));
      assert.equal((await rawGet(fx.store, 'cs:past')) ?? undefined, undefined);
    });

    it('serves a session counter over node:http: 1, 2, 3, and a new client starts at 1', async () => {
      const url = await start(store);
      const jar = new CookieJar();
      for (const n of [1, 2, 3]) assert.equal(await (await jar.fetch(url)).text(), String(n));
      assert.equal(await (await new CookieJar().fetch(url)).text(), '1');
      const stored = (await rawGet(fx.store, sessionKey('cs', jar.cookies.get('cs')!)))!;
      assert.equal(stored.data!.n, 3);
      assert.equal(stored.pso!.v, 1);
    });

    it('ends 200 concurrent increments of one session at exactly 200 (pso\'s lock in the process)', async function () {
      this.timeout(60_000);
      const url = await start(store);
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(url)).text(), '1');
      const bodies = await Promise.all(Array.from({ length: 199 }, () => jar.fetch(url).then((r) => r.text())));
      assert.deepEqual(bodies.map(Number).sort((a, b) => a - b), Array.from({ length: 199 }, (_, i) => i + 2));
      assert.equal((await store.get(sessionKey('cs', jar.cookies.get('cs')!)))!.data.n, 200);
    });
  });
}

realStoreSuite("express-session's MemoryStore", 'MemoryStore', async () => {
  const store = new expressSession.MemoryStore();
  return {
    store,
    ttl: async (key) => {
      const text = store.sessions[key];
      return text === undefined ? undefined : Date.parse(JSON.parse(text).cookie.expires) - Date.now();
    },
    cleanup: async () => store.clear(),
  };
});

realStoreSuite('session-file-store', 'FileStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pso-connect-files-'));
  const FileStore = require('session-file-store')(expressSession);
  // No retries: a missing file is a missing session, at once.
  const store = new FileStore({ path: dir, retries: 0, reapInterval: -1, logFn: () => {} });
  return {
    store,
    ttl: async (key) => {
      try {
        const s = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8'));
        // What session-file-store compares with the clock.
        return s.__lastAccess + s.cookie.originalMaxAge - Date.now();
      } catch {
        return undefined;
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

realStoreSuite('connect-redis (node-redis v5)', 'RedisStore', async () => {
  const { RedisStore } = await import('connect-redis');
  const { createClient } = await import('redis');
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  await client.connect();
  const prefix = `pso-connect-test-${unique()}:`;
  const store = new RedisStore({ client, prefix });
  return {
    store: store as unknown as ConnectSessionStore,
    ttl: async (key) => {
      const ms = await client.pTTL(prefix + key);
      return ms < 0 ? undefined : ms;
    },
    cleanup: async () => {
      await store.clear();
      assert.deepEqual(await client.keys(`${prefix}*`), []);
      await client.close();
    },
  };
}, () => process.env.PSO_REDIS_SKIP || undefined);

realStoreSuite('connect-pg-simple', 'PGStore', async () => {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 10 });
  // An idle connection the server drops would otherwise be an uncaught error; the next query reconnects.
  pool.on('error', () => {});
  const table = `pso_connect_${unique()}`;
  // Its own table definition, under a name (and index names) of this run.
  const sql = readFileSync(join(dirname(require.resolve('connect-pg-simple')), 'table.sql'), 'utf8').replaceAll('session', table);
  await pool.query(sql);
  const PGStore = require('connect-pg-simple')(expressSession);
  const store = new PGStore({ pool, tableName: table, pruneSessionInterval: false, errorLog: () => {} });
  return {
    store,
    ttl: async (key) => {
      const { rows } = await pool.query(`select extract(epoch from expire) * 1000 as ms from "${table}" where sid = $1`, [key]);
      return rows[0] ? Number(rows[0].ms) - Date.now() : undefined;
    },
    cleanup: async () => {
      await pool.query(`drop table if exists "${table}"`);
      await pool.end();
    },
  };
}, () => process.env.PSO_POSTGRES_SKIP || undefined);

realStoreSuite('express-mysql-session (MariaDB)', 'MySQLStore', async () => {
  const mysql = await import('mysql2/promise');
  const pool = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectionLimit: 10 });
  const table = `pso_connect_${unique()}`;
  const MySQLStore = require('express-mysql-session')(expressSession);
  // It creates its table (under this run's name) and keeps the pool it is given open.
  const store = new MySQLStore({ clearExpired: false, schema: { tableName: table } }, pool);
  await store.onReady();
  return {
    store,
    ttl: async (key) => {
      const [rows] = await pool.query(`select expires from \`${table}\` where session_id = ?`, [key]);
      const row = (rows as { expires: number }[])[0];
      return row ? row.expires * 1000 - Date.now() : undefined;
    },
    cleanup: async () => {
      await pool.query(`drop table if exists \`${table}\``);
      await pool.end();
    },
  };
}, () => process.env.PSO_MYSQL_SKIP || undefined);

/** A connect store that can fail, hang, or misbehave with its callbacks. */
class FailingStore implements ConnectSessionStore {
  readonly sessions = new Map<string, string>();
  mode: 'up' | 'error' | 'never' | 'sync' | 'twice' | 'throw' | 'reject' = 'up';
  calls = 0;
  #answer(cb: ConnectCallback | undefined, value?: unknown): unknown {
    this.calls++;
    switch (this.mode) {
      case 'error': setImmediate(() => cb?.(new Error('ECONNREFUSED 10.0.0.1:6379'))); return;
      case 'never': return;
      case 'sync': cb?.(null, value); return;
      case 'twice':
        setImmediate(() => {
          cb?.(null, value);
          cb?.(new Error('called back twice'));
        });
        return;
      case 'throw': throw new Error('the driver threw');
      case 'reject': return Promise.reject(new Error('the promise failed'));
      default: setImmediate(() => cb?.(null, value));
    }
  }
  get(sid: string, cb: ConnectCallback<ConnectSession | null | undefined>) {
    const text = this.sessions.get(sid);
    return this.#answer(cb as ConnectCallback, text === undefined ? null : JSON.parse(text));
  }
  set(sid: string, session: ConnectSession, cb?: ConnectCallback) {
    if (this.mode === 'up' || this.mode === 'sync' || this.mode === 'twice') this.sessions.set(sid, JSON.stringify(session));
    return this.#answer(cb);
  }
  destroy(sid: string, cb?: ConnectCallback) {
    if (this.mode === 'up' || this.mode === 'sync' || this.mode === 'twice') this.sessions.delete(sid);
    return this.#answer(cb);
  }
}

describe('ConnectStore', () => {
  afterEach(stopServer);

  it('takes a callback called synchronously, or twice (the first call wins)', async () => {
    const fake = new FailingStore();
    const store = new ConnectStore(fake);
    for (const mode of ['sync', 'twice'] as const) {
      fake.mode = mode;
      await store.set(`cs:${mode}`, record({ data: { mode } }));
      assert.deepEqual({ ...(await store.get(`cs:${mode}`))!.data }, { mode });
      await store.destroy(`cs:${mode}`);
      assert.equal(await store.get(`cs:${mode}`), undefined);
    }
  });

  it('rejects with the store\'s error, a thrown one, or a rejected promise', async () => {
    const fake = new FailingStore();
    const store = new ConnectStore(fake);
    fake.mode = 'error';
    await assert.rejects(store.get('cs:a'), /ECONNREFUSED/);
    fake.mode = 'throw';
    await assert.rejects(store.set('cs:a', record()), /the driver threw/);
    fake.mode = 'reject';
    await assert.rejects(store.destroy('cs:a'), /the promise failed/);
  });

  it('is named after the store class, or as told', () => {
    assert.equal(new ConnectStore(new FailingStore()).name, 'connect:FailingStore');
    assert.equal(new ConnectStore(new FailingStore(), { name: 'connect:sessions-db' }).name, 'connect:sessions-db');
  });

  it('writes an express-session-shaped object whose cookie says when it expires', () => {
    const now = Date.now();
    const s = ConnectStore.toSession({ data: { n: 1 }, created: now - 10, expires: now + 90_000, expiry: { kind: 'after', seconds: 90 } }, now);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), {
      cookie: { originalMaxAge: 90_000, expires: new Date(now + 90_000).toISOString(), httpOnly: true, path: '/' },
      pso: { v: 1, created: now - 10, expiry: { kind: 'after', seconds: 90 } },
      data: { n: 1 },
    });
    assert.ok(s.cookie.maxAge! > 89_000 && s.cookie.maxAge! <= 90_000, 'maxAge is computed, as express-session\'s Cookie does');
  });

  it('reads a session written by express-session as data expiring at its cookie', async () => {
    const ms = new expressSession.MemoryStore();
    const store = new ConnectStore(ms);
    const cookie = new expressSession.Cookie({ maxAge: 60_000 });
    await new Promise((r) => ms.set('cs:express', { cookie, user: { name: 'ada' }, views: 3 }, r));
    const r = (await store.get('cs:express'))!;
    assert.deepEqual({ ...r.data }, { user: { name: 'ada' }, views: 3 });
    assert.equal(r.expires, cookie.expires.getTime());
    assert.equal(r.expiry, undefined);
  });

  it('gives a browser-lifetime express-session a day', async () => {
    const now = Date.now();
    const r = ConnectStore.fromSession({ cookie: { originalMaxAge: null, expires: null }, cart: [1, 2] }, now);
    assert.deepEqual({ ...r.data }, { cart: [1, 2] });
    assert.equal(r.expires, now + 86_400_000);
    assert.equal(r.created, now);
  });

  it('refuses what is not a session as CorruptSessionError', () => {
    for (const bad of [[], 'text', { user: 'no cookie' }, { cookie: { expires: 'soon' } },
      { cookie: { expires: null }, pso: { v: 1, created: 1 }, data: {} },
      { cookie: { expires: new Date().toISOString() }, pso: { v: 2, created: 1 }, data: {} },
      { cookie: { expires: new Date().toISOString() }, pso: { v: 1, created: 1 }, data: [] }]) {
      assert.throws(() => ConnectStore.fromSession(bad as unknown as ConnectSession), CorruptSessionError, JSON.stringify(bad));
    }
  });

  it('offers count and list when the wrapped store can tell them', async () => {
    const ms = new expressSession.MemoryStore();
    const store = new ConnectStore(ms);
    await store.set('cs:a', record());
    await store.set('cs:b', record());
    assert.equal(await store.count!(), 2);
    assert.deepEqual((await store.list!()).sort(), ['cs:a', 'cs:b']);
    const bare = new ConnectStore(new FailingStore());
    assert.equal(bare.count, undefined);
    assert.equal(bare.list, undefined);
    assert.equal((bare as SessionStore).lock, undefined, 'connect stores have no lock across processes');
  });

  it('a store that is down answers 503 naming it, and the server keeps serving', async () => {
    const fake = new FailingStore();
    const url = await start(new ConnectStore(fake), { PSOSessionStoreTimeout: '1' });
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(url)).text(), '1');

    fake.mode = 'error';
    const down = await jar.fetch(url);
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '5');
    assert.match(logger.text(), /session store connect:FailingStore unavailable: get failed: ECONNREFUSED/);
    assert.equal((await fetch(url)).status, 503, 'a new session cannot be saved either');

    fake.mode = 'never';
    const slow = await jar.fetch(url);
    assert.equal(slow.status, 503);
    assert.match(logger.text(), /session store connect:FailingStore unavailable: no answer to get within 1000 ms/);

    fake.mode = 'up';
    assert.equal(await (await jar.fetch(url)).text(), '2', 'nothing was lost while the store was down');
    assert.equal(await (await new CookieJar().fetch(url)).text(), '1');
  });

  it('a stored session it cannot read starts a new one, with a warning', async () => {
    const fake = new FailingStore();
    const url = await start(new ConnectStore(fake));
    const jar = new CookieJar();
    await jar.fetch(url);
    const key = sessionKey('cs', jar.cookies.get('cs')!);
    fake.sessions.set(key, JSON.stringify({ cookie: { expires: new Date(Date.now() + 60_000).toISOString() }, pso: { v: 99 } }));
    assert.equal(await (await jar.fetch(url)).text(), '1');
    assert.match(logger.text(), /cannot be read \(unknown format version 99\); starting a new session/);
  });

  it('reads a missing session-file-store file as no session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pso-connect-files-'));
    try {
      const FileStore = require('session-file-store')(expressSession);
      const store = new ConnectStore(new FileStore({ path: dir, retries: 0, reapInterval: -1, logFn: () => {} }));
      assert.equal(await store.get('cs:nothing'), undefined);
      await store.set('cs:one', record());
      assert.deepEqual(readdirSync(dir), ['cs:one.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
