// Session stores chosen from .htaccess (PSOSessionStore) for bundled CGI
// scripts behind a real Apache httpd (event MPM + mod_cgid), as www-data.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { MysqlStore } from '../../src/session/stores/MysqlStore.js';
import { startApache, type ApacheServer } from '../support/apache.js';
import { CookieJar, ROOT } from '../support/http.js';
import { sessionKey } from '../support/sessionFiles.js';

const SERVICE = 'MyPSOTest';
const idOf = (flag: '-u' | '-g', name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
const modeOf = (p: string) => (statSync(p).mode & 0o777).toString(8);

function counter(body: string): number {
  const m = /You reloaded: (\d+) times/.exec(body);
  assert.ok(m, `unexpected body: ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/** Runs `fn` on `items`, at most `limit` at a time. */
async function limited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

describe('SQLite sessions for CGI under a real Apache httpd (PSOSessionStore sqlite:)', function () {
  this.timeout(300_000);

  let apache: ApacheServer | undefined;
  let base: string;
  let storeDir: string;
  let db: string;
  let wwwUid: number;
  let wwwGid: number;
  const url = (p: string) => `${apache!.url}${p}`;

  /** Runs node code as www-data (so that no file of the database becomes root's), returning its stdout. */
  function asWwwData(code: string): string {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { uid: wwwUid, gid: wwwGid, cwd: '/tmp', encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`node as www-data failed: ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  /** The rows of a table of the session database, read as www-data. */
  function rows(sql: string): unknown[] {
    const driver = join(ROOT, 'node_modules/better-sqlite3/lib/index.js');
    return JSON.parse(asWwwData(`
      import { createRequire } from 'node:module';
      const Database = createRequire(import.meta.url)(${JSON.stringify(driver)});
      const db = new Database(${JSON.stringify(db)}, { fileMustExist: true });
      process.stdout.write(JSON.stringify(db.prepare(${JSON.stringify(sql)}).all()));
      db.close();
    `));
  }

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP;
    if (reason) {
      console.log(`    skipping the Apache SQLite store suite: ${reason}`);
      this.skip();
    }
    wwwUid = idOf('-u', 'www-data');
    wwwGid = idOf('-g', 'www-data');
    // CGI bundles leave the driver outside and find it in the project's node_modules, as www-data.
    const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))})`], { uid: wwwUid, gid: wwwGid, cwd: '/tmp', encoding: 'utf8' });
    if (probe.status !== 0) {
      console.log(`    skipping the Apache SQLite store suite: www-data cannot load ${join(ROOT, 'node_modules/better-sqlite3')}: ${(probe.stderr || probe.error?.message || '').trim().split('\n')[0]}`);
      this.skip();
    }

    base = mkdtempSync('/tmp/pso-apache-stores-');
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    const sqlite = join(docroot, 'sqlite');
    mkdirSync(sqlite, { recursive: true, mode: 0o755 });
    chmodSync(docroot, 0o755);
    // The database's directory belongs to www-data; pso creates the file in it.
    storeDir = join(base, 'store');
    mkdirSync(storeDir, { mode: 0o700 });
    chownSync(storeDir, wwwUid, wwwGid);
    db = join(storeDir, 'sessions.db');

    await bundleHandler({ entry: join(ROOT, 'samples', 'quick.ts'), outfile: join(sqlite, 'quick.cgi'), stores: ['sqlite'], nodeModules: join(ROOT, 'node_modules') });
    writeFileSync(join(docroot, '.htaccess'), [
      'Options +ExecCGI',
      'AddHandler cgi-script .cgi',
      `SetEnv PSOServiceId ${SERVICE}`,
      'SetEnv PSOSessionExpire "15*60"',
      '',
    ].join('\n'), { mode: 0o644 });
    writeFileSync(join(sqlite, '.htaccess'), `SetEnv PSOSessionStore sqlite://${db}\nSetEnv PSOSessionLockTimeout 90\n`, { mode: 0o644 });
    apache = await startApache({ docroot });
  });

  after(async function () {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('keeps a counter per session in the database, which www-data creates 0600', async () => {
    const jar = new CookieJar();
    for (const expected of [1, 2, 3]) {
      const res = await jar.fetch(url('/sqlite/quick.cgi'));
      const body = await res.text();
      assert.equal(res.status, 200, `${body}\n${apache!.errorLog()}`);
      assert.equal(counter(body), expected);
    }
    const id = jar.cookies.get(SERVICE);
    assert.ok(id);
    assert.equal(modeOf(db), '600');
    assert.equal(statSync(db).uid, wwwUid, 'created by the CGI as www-data');
    const stored = rows('SELECT key, data FROM pso_sessions') as { key: string; data: string }[];
    assert.deepEqual(stored.map((r) => r.key), [sessionKey(SERVICE, id)]);
    assert.equal(JSON.parse(stored[0]!.data).data.reloads, 3);
    assert.deepEqual(readdirSync(storeDir).filter((n) => !n.startsWith('sessions.db')), [], 'nothing but the database (and its WAL files)');
  });

  it('loses no increment under 200 concurrent requests on one session (50 at a time)', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/sqlite/quick.cgi'));
    assert.equal(counter(await first.text()), 1);
    const cookie = jar.header();
    const seen = await limited(Array.from({ length: 200 }, (_, i) => i), 50, async () => {
      let res: Response;
      try {
        res = await fetch(url('/sqlite/quick.cgi'), { headers: { cookie } });
      } catch (e) {
        throw new Error(`${(e as Error).message} (${(e as Error).cause ?? ''})\n${apache!.errorLog()}`);
      }
      const body = await res.text();
      assert.equal(res.status, 200, `${body}\n${apache!.errorLog()}`);
      return counter(body);
    });
    seen.sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => 2 + i), 'each request saw its own count');
    const last = await jar.fetch(url('/sqlite/quick.cgi'));
    assert.equal(counter(await last.text()), 202);
    assert.deepEqual(rows('SELECT key FROM pso_session_locks'), [], 'every lock was released');
    assert.ok(!existsSync(join(base, 'htdocs/sqlite/sessions')), 'no file sessions');
  });
});

/** A password in the URLs of the stores that are down: it must show nowhere. */
const DOWN_PASSWORD = 'pso-s3cret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store shared by processes, as the CGI suites below use it. */
interface CgiStore {
  label: string;
  /** The docroot subdirectory; `<dir>-down` holds the store that is down. */
  dir: string;
  skipVar: string;
  /** The driver package, which www-data must load from the project's node_modules. */
  driver: string;
  /** PSOSessionStore of `<dir>`. */
  url: string;
  /** PSOSessionStore of `<dir>-down`: a closed port, with a password. */
  downUrl: string;
  /** How the log names the store that is down (password hidden). */
  downName: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** The counter stored for a session key (undefined: no record). */
  stored(key: string): Promise<number | undefined>;
  /** Session locks still held in the store (for SQL: of `key`). */
  locksHeld(key: string): Promise<number>;
}

/**
 * The SQLite suite's burst for a store reached over the network: quick.cgi
 * under Apache as www-data, the driver loaded from the project's node_modules.
 */
function describeCgiStore(store: CgiStore): void {
  describe(`${store.label} sessions for CGI under a real Apache httpd (PSOSessionStore ${new URL(store.url).protocol})`, function () {
    // 200 CGI processes on one session, each loading its driver and waiting its turn:
    // about 50 s with Redis on a quiet 2-core machine, so room for a busy one.
    this.timeout(300_000);

    let apache: ApacheServer | undefined;
    let base: string | undefined;
    let setUp = false;
    const url = (p: string) => `${apache!.url}${p}`;
    const page = `/${store.dir}/quick.cgi`;

    /** One request, with the error log in the message of any failure. */
    async function get(path: string, cookie?: string): Promise<{ status: number; body: string; ms: number }> {
      const started = Date.now();
      let res: Response;
      try {
        res = await fetch(url(path), cookie ? { headers: { cookie } } : {});
      } catch (e) {
        throw new Error(`${(e as Error).message} (${(e as Error).cause ?? ''})\n${apache!.errorLog()}`);
      }
      const body = await res.text();
      return { status: res.status, body, ms: Date.now() - started };
    }

    before(async function () {
      const reason = process.env.PSO_APACHE_SKIP || process.env[store.skipVar];
      if (reason) {
        console.log(`    skipping the Apache ${store.label} store suite: ${reason}`);
        this.skip();
      }
      const wwwUid = idOf('-u', 'www-data');
      const wwwGid = idOf('-g', 'www-data');
      const driver = join(ROOT, 'node_modules', store.driver);
      const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(driver)})`], { uid: wwwUid, gid: wwwGid, cwd: '/tmp', encoding: 'utf8' });
      if (probe.status !== 0) {
        console.log(`    skipping the Apache ${store.label} store suite: www-data cannot load ${driver}: ${(probe.stderr || probe.error?.message || '').trim().split('\n')[0]}`);
        this.skip();
      }
      setUp = true;
      await store.setUp();

      base = mkdtempSync('/tmp/pso-apache-stores-');
      chmodSync(base, 0o755);
      const docroot = join(base, 'htdocs');
      mkdirSync(docroot, { mode: 0o755 });
      chmodSync(docroot, 0o755);
      mkdirSync(join(docroot, store.dir), { mode: 0o755 });
      // 50 CGIs loading a driver at once can keep the last waiters past the default 10 s on a small machine.
      writeFileSync(join(docroot, store.dir, '.htaccess'), `SetEnv PSOSessionStore "${store.url}"\nSetEnv PSOSessionLockTimeout 90\n`, { mode: 0o644 });
      mkdirSync(join(docroot, `${store.dir}-down`), { mode: 0o755 });
      writeFileSync(join(docroot, `${store.dir}-down`, '.htaccess'), `SetEnv PSOSessionStore "${store.downUrl}"\n`, { mode: 0o644 });
      await bundleHandler({ entry: join(ROOT, 'samples', 'quick.ts'), outfile: join(docroot, store.dir, 'quick.cgi'), stores: [store.dir], nodeModules: join(ROOT, 'node_modules') });
      copyFileSync(join(docroot, store.dir, 'quick.cgi'), join(docroot, `${store.dir}-down`, 'quick.cgi'));
      chmodSync(join(docroot, `${store.dir}-down`, 'quick.cgi'), 0o755);
      writeFileSync(join(docroot, '.htaccess'), [
        'Options +ExecCGI',
        'AddHandler cgi-script .cgi',
        `SetEnv PSOServiceId ${SERVICE}`,
        'SetEnv PSOSessionExpire "15*60"',
        '',
      ].join('\n'), { mode: 0o644 });
      apache = await startApache({ docroot });
    });

    after(async function () {
      await apache?.stop();
      if (base) rmSync(base, { recursive: true, force: true });
      if (setUp) await store.tearDown();
    });

    it('loses no increment under 200 concurrent requests on one session (50 at a time), and leaves no lock', async () => {
      const jar = new CookieJar();
      const first = await jar.fetch(url(page));
      const firstBody = await first.text();
      assert.equal(first.status, 200, `${firstBody}\n${apache!.errorLog()}`);
      assert.equal(counter(firstBody), 1);
      const id = jar.cookies.get(SERVICE);
      assert.ok(id);
      const key = sessionKey(SERVICE, id);
      const cookie = jar.header();

      const seen = await limited(Array.from({ length: 200 }, (_, i) => i), 50, async () => {
        const { status, body } = await get(page, cookie);
        assert.equal(status, 200, `${body}\n${apache!.errorLog()}`);
        return counter(body);
      });
      seen.sort((a, b) => a - b);
      assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => 2 + i), 'each request saw its own count');

      // A lock left behind would hold the next request for the whole lock timeout, then 503.
      const last = await get(page, cookie);
      assert.equal(last.status, 200, `${last.body}\n${apache!.errorLog()}`);
      assert.equal(counter(last.body), 202);
      assert.ok(last.ms < 3_000, `the request after the burst took ${last.ms} ms`);
      assert.equal(await store.stored(key), 202);
      // The response can leave the CGI a moment before its release reaches the store.
      let held = await store.locksHeld(key);
      for (let i = 0; held > 0 && i < 20; i++) {
        await sleep(100);
        held = await store.locksHeld(key);
      }
      assert.equal(held, 0, 'every lock was released');
    });

    it('answers 503 within seconds when the store is down, naming it in the error log without its password', async () => {
      // A new session fails on saving; a known one (the cookie of a working page) on locking.
      const jar = new CookieJar();
      const started = Date.now();
      assert.equal((await jar.fetch(url(page))).status, 200);
      // A 503 from a timeout would take 5 s (PSOSessionStoreTimeout) or more; a working request sets the pace.
      const limit = 3_000 + (Date.now() - started);
      const bodies: string[] = [];
      for (const cookie of [undefined, jar.header()]) {
        const { status, body, ms } = await get(`/${store.dir}-down/quick.cgi`, cookie);
        assert.equal(status, 503, `${body}\n${apache!.errorLog()}`);
        assert.ok(ms < limit, `the 503 took ${ms} ms\n${apache!.errorLog()}`);
        bodies.push(body);
      }
      let log = apache!.errorLog();
      for (let i = 0; !log.includes(store.downName) && i < 20; i++) {
        await sleep(100);
        log = apache!.errorLog();
      }
      assert.ok(log.includes(store.downName), `the error log names ${store.downName}:\n${log}`);
      assert.ok(!log.includes(DOWN_PASSWORD), `the error log shows the password:\n${log}`);
      for (const body of bodies) assert.ok(!body.includes(DOWN_PASSWORD), `the response shows the password: ${body}`);
    });
  });
}

const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
const recordCount = (data: string | null | undefined) => (data == null ? undefined : (JSON.parse(data).data.reloads as number));

// A database of its own, emptied before and after.
const REDIS_DB = 9;
let redis: ReturnType<typeof createClient> | undefined;
describeCgiStore({
  label: 'Redis',
  dir: 'redis',
  skipVar: 'PSO_REDIS_SKIP',
  driver: 'redis',
  url: `redis://127.0.0.1:6379/${REDIS_DB}`,
  downUrl: `redis://:${DOWN_PASSWORD}@127.0.0.1:1/${REDIS_DB}`,
  downName: `redis://:***@127.0.0.1:1/${REDIS_DB}`,
  setUp: async () => {
    redis = createClient({ url: `redis://127.0.0.1:6379/${REDIS_DB}`, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
    redis.on('error', () => {});
    await redis.connect();
    await redis.flushDb();
  },
  tearDown: async () => {
    if (!redis?.isOpen) return;
    await redis.flushDb();
    await redis.close();
  },
  stored: async (key) => recordCount(await redis!.get(`pso:sess:${key}`)),
  locksHeld: async () => (await redis!.keys('pso:lock:*')).length,
});

const PG_TABLE = `pso_cgi_${tag}`;
let pgClient: pg.Client | undefined;
describeCgiStore({
  label: 'PostgreSQL',
  dir: 'postgres',
  skipVar: 'PSO_POSTGRES_SKIP',
  driver: 'pg',
  url: `postgres://postgres@127.0.0.1:5432/test?table=${PG_TABLE}`,
  downUrl: `postgres://postgres:${DOWN_PASSWORD}@127.0.0.1:1/test?table=${PG_TABLE}`,
  downName: `postgres://postgres:***@127.0.0.1:1/test?table=${PG_TABLE}`,
  setUp: async () => {
    pgClient = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', connectionTimeoutMillis: 5_000 });
    pgClient.on('error', () => undefined);
    await pgClient.connect();
  },
  tearDown: async () => {
    try {
      await pgClient?.query(`DROP TABLE IF EXISTS "${PG_TABLE}"`);
    } finally {
      await pgClient?.end();
    }
  },
  stored: async (key) => recordCount((await pgClient!.query(`SELECT data FROM "${PG_TABLE}" WHERE key = $1`, [key])).rows[0]?.data),
  // The store's advisory lock of the key, held by any backend.
  locksHeld: async (key) => (await pgClient!.query(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
    [key],
  )).rows[0].n as number,
});

const MYSQL_TABLE = `pso_cgi_${tag}`;
const MYSQL_URL = `mysql://root@127.0.0.1:3306/test?table=${MYSQL_TABLE}`;
let mysqlConn: mysql.Connection | undefined;
describeCgiStore({
  label: 'MySQL/MariaDB',
  dir: 'mysql',
  skipVar: 'PSO_MYSQL_SKIP',
  driver: 'mysql2',
  url: MYSQL_URL,
  downUrl: `mysql://root:${DOWN_PASSWORD}@127.0.0.1:1/test?table=${MYSQL_TABLE}`,
  downName: `mysql://root:***@127.0.0.1:1/test?table=${MYSQL_TABLE}`,
  setUp: async () => {
    mysqlConn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectTimeout: 5_000 });
    mysqlConn.on('error', () => undefined);
  },
  tearDown: async () => {
    try {
      await mysqlConn?.query(`DROP TABLE IF EXISTS \`${MYSQL_TABLE}\``);
    } finally {
      await mysqlConn?.end();
    }
  },
  stored: async (key) => {
    const [rows] = await mysqlConn!.query<mysql.RowDataPacket[]>(`SELECT data FROM \`${MYSQL_TABLE}\` WHERE k = ?`, [key]);
    return recordCount(rows[0]?.data);
  },
  // GET_LOCK names are server-wide: the store's name for the key, free again.
  locksHeld: async (key) => {
    const store = new MysqlStore(MYSQL_URL);
    const name = store.lockName(key);
    await store.close();
    const [rows] = await mysqlConn!.query<mysql.RowDataPacket[]>('SELECT IS_FREE_LOCK(?) AS free', [name]);
    return Number(rows[0]!.free) === 1 ? 0 : 1;
  },
});
