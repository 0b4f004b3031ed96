// The session features on every real store, through node:http: release()
// and read-only sessions do not hold up the same visitor's other requests,
// flash messages survive Post/Redirect/Get, reload() sees another request's
// save, touch() moves the stored expiry, and the id travels in a header.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  ServiceHandler, TOKENS, closeStores, createContainer, openStore, serve,
  type Handler, type PsoServer, type SessionStore,
} from '../../../src/index.js';
import { FileStore } from '../../../src/session/stores/FileStore.js';
import { CookieJar } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';
import { sessionKey } from '../../support/sessionFiles.js';

const run = `${process.pid}_${Date.now() % 1_000_000}`;
const SERVICE = `feat${run}`;
const TABLE = `pso_feat_${run}`;

/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}
/** Requests that wait inside the handler, by their `key` query parameter: entered, and let go. */
const holds = new Map<string, { inside: ReturnType<typeof gate>; done: ReturnType<typeof gate> }>();
const holdFor = (key: string) => {
  let h = holds.get(key);
  if (!h) holds.set(key, (h = { inside: gate(), done: gate() }));
  return h;
};

const handler: Handler = async (request) => {
  const s = request.session;
  const key = request.getInput('key', '');
  switch (request.path) {
    case '/count':
      return request.write(String(s.increment('n')));
    case '/hold': {
      // release=1: saved and unlocked first; readonly=1 (see options): opened read-only; else it holds the lock.
      if (request.getInput('release')) {
        s.set('held', key);
        await s.release();
      }
      const h = holdFor(key);
      h.inside.open();
      await h.done.wait;
      const reloaded = request.getInput('reload') ? await s.reload() : undefined;
      return request.write(`${String(s.get('n'))}${reloaded === undefined ? '' : ` ${reloaded}`}`);
    }
    case '/note':
      s.flash('info', `noted ${request.getInput('text', '')}`);
      return request.redirect('/flashes', 303);
    case '/flashes':
      return request.write(JSON.stringify(s.flashes()));
    case '/touch':
      return request.write(String(await s.touch()));
    default:
      return request.sendStatus(404);
  }
};
const readOnlySession = (r: { path: string; getInput(n: string): string | undefined }) => (r.getInput('readonly') ? true : r.path === '/touch');

interface StoreCase {
  name: string;
  skip?: () => string | undefined;
  url: (tmp: string) => string;
  cleanup?: () => Promise<void>;
}

const STORES: StoreCase[] = [
  { name: 'files', url: (tmp) => `file://${tmp}/sessions` },
  { name: 'SQLite', url: (tmp) => `sqlite://${tmp}/sessions.db` },
  {
    name: 'Redis', skip: () => process.env.PSO_REDIS_SKIP || undefined, url: () => 'redis://127.0.0.1:6379/0',
    cleanup: async () => {
      const store = await openStore('redis://127.0.0.1:6379/0') as SessionStore;
      for (const k of (await store.list?.()) ?? []) if (k.startsWith(`${SERVICE}:`)) await store.destroy(k);
    },
  },
  {
    name: 'PostgreSQL', skip: () => process.env.PSO_POSTGRES_SKIP || undefined, url: () => `postgres://postgres@127.0.0.1:5432/test?table=${TABLE}`,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
      await c.end();
    },
  },
  {
    name: 'MySQL', skip: () => process.env.PSO_MYSQL_SKIP || undefined, url: () => `mysql://root@127.0.0.1:3306/test?table=${TABLE}`,
    cleanup: async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
      await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
      await c.end();
    },
  },
];

for (const store of STORES) {
  describe(`session features on the ${store.name} store (node:http)`, function () {
    this.timeout(30_000);
    let tmp: string;
    let url: string;
    let server: PsoServer;
    let logger: MemoryLogger;
    let base: string;

    before(async function () {
      const reason = store.skip?.();
      if (reason) {
        console.log(`    skipping the ${store.name} store: ${reason}`);
        this.skip();
      }
      tmp = mkdtempSync(join(tmpdir(), 'pso-features-'));
      url = store.url(tmp);
      const container = createContainer();
      logger = new MemoryLogger();
      container.rebind(TOKENS.Logger).toConstantValue(logger);
      server = await serve(handler, {
        port: 0, moduleName: SERVICE, serviceHandler: new ServiceHandler(container), readOnlySession,
        directives: { PSOSessionStore: url, PSOSessionLockTimeout: '1', PSOSessionGCProbability: '0', PSOSessionHeader: 'X-Session-Id' },
      });
      base = server.url.replace(/\/$/, '');
    });
    after(async () => {
      await server?.close();
      await store.cleanup?.().catch(() => undefined);
      await closeStores();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    /** A visitor whose session holds n = 1. */
    async function visitor(): Promise<CookieJar> {
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(`${base}/count`)).text(), '1');
      return jar;
    }
    /** Starts a request that waits in the handler, and resolves once it is inside. */
    async function hold(jar: CookieJar, query: string): Promise<{ key: string; response: Promise<string> }> {
      const key = `k${Math.random().toString(36).slice(2)}`;
      const response = jar.fetch(`${base}/hold?key=${key}&${query}`).then((r) => r.text());
      await holdFor(key).inside.wait;
      return { key, response };
    }
    const letGo = (key: string) => holdFor(key).done.open();
    const storeRecord = async (jar: CookieJar) => {
      const s = (await openStore(url)) as SessionStore | undefined;
      const files = s ?? new FileStore(join(tmp, 'sessions'));
      return files.get(sessionKey(SERVICE, jar.cookies.get(SERVICE)!));
    };

    it('release(): a request of the same session goes on while the first is still in its handler, and sees its save', async () => {
      const jar = await visitor();
      const held = await hold(jar, 'release=1');
      assert.equal(await (await jar.fetch(`${base}/count`)).text(), '2', logger.lines.map((l) => l.message).join('\n'));
      letGo(held.key);
      assert.equal(await held.response, '1');
      assert.equal((await storeRecord(jar))!.data.held, held.key);
    });

    it('read-only: a request of the same session goes on beside it; beside a writable one it waits out the lock (503)', async () => {
      const jar = await visitor();
      const ro = await hold(jar, 'readonly=1');
      assert.equal(await (await jar.fetch(`${base}/count`)).text(), '2');
      letGo(ro.key);
      assert.equal(await ro.response, '1');
      assert.equal((await storeRecord(jar))!.data.n, 2, 'the read-only request wrote nothing back');
      const rw = await hold(jar, '');
      assert.equal((await jar.fetch(`${base}/count`)).status, 503);
      letGo(rw.key);
      await rw.response;
    });

    it('reload(): a released request reads what a parallel request saved', async () => {
      const jar = await visitor();
      const held = await hold(jar, 'release=1&reload=1');
      assert.equal(await (await jar.fetch(`${base}/count`)).text(), '2');
      letGo(held.key);
      assert.equal(await held.response, '2 true');
    });

    it('flash(): Post/Redirect/Get shows each message once, on the page the redirect leads to', async () => {
      const jar = new CookieJar();
      for (let i = 0; i < 5; i++) {
        const post = await jar.fetch(`${base}/note?text=t${i}`, { method: 'POST' });
        assert.equal(post.status, 303);
        const page = await jar.fetch(new URL(post.headers.get('location')!, base).href);
        assert.deepEqual(JSON.parse(await page.text()), [{ kind: 'info', message: `noted t${i}` }]);
      }
      assert.deepEqual(JSON.parse(await (await jar.fetch(`${base}/flashes`)).text()), []);
    });

    it('touch(): moves the stored expiry to a full lifetime from now, in a read-only request, the data unchanged', async () => {
      const jar = await visitor();
      const stored = (await storeRecord(jar))!;
      const s = ((await openStore(url)) as SessionStore | undefined) ?? new FileStore(join(tmp, 'sessions'));
      const key = sessionKey(SERVICE, jar.cookies.get(SERVICE)!);
      const soon = Date.now() + 120_000;
      await s.set(key, { ...stored, expires: soon });
      const res = await jar.fetch(`${base}/touch`);
      assert.equal(await res.text(), 'true');
      const after = (await s.get(key))!;
      assert.ok(after.expires > Date.now() + 23 * 3600_000, `${(after.expires - Date.now()) / 1000} s left`);
      assert.deepEqual({ ...after.data }, { n: 1 });
      assert.equal(res.headers.get('cache-control'), 'private, no-store');
    });

    it('PSOSessionHeader: the id travels in X-Session-Id, and an id the store does not have is not adopted', async () => {
      const first = await fetch(`${base}/count`);
      const id = first.headers.get('x-session-id')!;
      assert.equal(await (await fetch(`${base}/count`, { headers: { 'X-Session-Id': id } })).text(), '2');
      const planted = await fetch(`${base}/count`, { headers: { 'X-Session-Id': 'Q'.repeat(27) } });
      assert.equal(await planted.text(), '1');
      assert.notEqual(planted.headers.get('x-session-id'), 'Q'.repeat(27));
    });
  });
}
