import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import {
  ConfigurationError, CorruptSessionError, SessionBusyError, closeStores, openStore, type PsoServer, type SessionRecord,
} from '../../../src/index.js';
import { ownStartTime } from '../../../src/session/locks/processLiveness.js';
import { SqliteStore } from '../../../src/session/stores/SqliteStore.js';
import { CookieJar, ROOT } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';
import { assertNoLostIncrements, startCounterServer } from '../../support/counterServer.js';
import { sessionKey } from '../../support/sessionFiles.js';

const run = promisify(execFile);
const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000, ...patch });
const modeOf = (p: string) => (statSync(p).mode & 0o777).toString(8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SqliteStore', function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let url: string;
  const stores: SqliteStore[] = [];
  const open = (options = {}) => {
    const store = new SqliteStore(url, options);
    stores.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-sqlite-spec-'));
    file = join(dir, 'db/sessions.db');
    url = `sqlite://${file}`;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await closeStores();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('configuration', () => {
    it('takes sqlite:///absolute/path and names itself by the URL', () => {
      const store = new SqliteStore('sqlite:///var/lib/pso/s%20x.db');
      assert.equal(store.path, '/var/lib/pso/s x.db');
      assert.equal(store.name, 'sqlite:///var/lib/pso/s%20x.db');
      assert.equal(new SqliteStore('/srv/a.db').name, 'sqlite:///srv/a.db');
    });

    for (const [bad, why] of [
      ['sqlite::memory:', /in-memory database would be private to one process/],
      ['sqlite:sessions.db', /must be absolute/],
      ['sqlite://host/sessions.db', /"host" is read as a host name/],
      ['sqlite:///var/lib/pso/', /names a directory/],
      ['sqlite:///x.db?mode=ro', /query and fragment are not supported/],
      ['relative/path.db', /must be absolute/],
    ] as const) {
      it(`refuses ${bad} with a ConfigurationError naming PSOSessionStore`, async () => {
        assert.throws(() => new SqliteStore(bad), (e: unknown) => e instanceof ConfigurationError && why.test(e.message) && /^PSOSessionStore=/.test(e.message));
        if (bad.startsWith('sqlite:')) await assert.rejects(openStore(bad), ConfigurationError);
      });
    }

    it('is what PSOSessionStore=sqlite:///... opens', async () => {
      const store = await openStore(url);
      assert.ok(store instanceof SqliteStore);
      assert.equal(store.name, url);
    });
  });

  describe('the store contract', () => {
    it('creates the directory 0700, the database 0600 in WAL mode, and the tables, on first use only', async () => {
      const store = open();
      assert.throws(() => statSync(file), /ENOENT/, 'nothing is created before first use');
      await store.set('svc:a', record());
      assert.equal(modeOf(join(dir, 'db')), '700');
      assert.equal(modeOf(file), '600');
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").all() as { name: string }[]).map((r) => r.name);
        assert.ok(tables.includes('pso_sessions') && tables.includes('pso_session_locks') && tables.includes('pso_sessions_expires'), tables.join());
      } finally {
        db.close();
      }
    });

    it('init() creates the database and its tables at once (pso store init)', async () => {
      await open().init();
      assert.equal(modeOf(file), '600');
      const db = new Database(file, { readonly: true });
      try {
        assert.equal((db.prepare('SELECT count(*) AS n FROM pso_sessions').get() as { n: number }).n, 0);
      } finally {
        db.close();
      }
    });

    it('gives back what was set, under keys holding ":", and forgets destroyed ones', async () => {
      const store = open();
      const r = record({ data: { user: { name: 'ada' }, list: [1, 'two', null] }, expiry: { kind: 'after', seconds: 900 }, timeouts: { idle: 60 } });
      await store.set('svc:a:b:c', r);
      await store.set('svc:a', record({ data: { other: true } }));
      const read = (await store.get('svc:a:b:c'))!;
      assert.deepEqual({ ...read, data: { ...read.data } }, r);
      assert.equal(await store.get('svc:a:b'), undefined);
      assert.deepEqual({ ...(await store.get('svc:a'))!.data }, { other: true });
      await store.set('svc:a:b:c', record({ data: { n: 2 } }));
      assert.equal((await store.get('svc:a:b:c'))!.data.n, 2, 'set replaces');
      await store.destroy('svc:a:b:c');
      await store.destroy('svc:never');
      assert.equal(await store.get('svc:a:b:c'), undefined);
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
      await store.destroy('svc:t');
      await store.touch('svc:t', later);
      assert.equal(await store.get('svc:t'), undefined);
    });

    it('never returns an expired record; gc deletes them and says how many; count and list see live ones', async () => {
      const store = open();
      await store.set('svc:old1', record({ expires: Date.now() + 100 }));
      await store.set('svc:old2', record({ expires: Date.now() + 100 }));
      await store.set('svc:live', record());
      assert.equal(await store.count(), 3);
      await sleep(150);
      assert.equal(await store.get('svc:old1'), undefined);
      assert.equal(await store.count(), 1);
      assert.deepEqual(await store.list(), ['svc:live']);
      const db = new Database(file);
      const rows = () => (db.prepare('SELECT count(*) AS n FROM pso_sessions').get() as { n: number }).n;
      try {
        assert.equal(rows(), 3, 'expired rows stay until gc');
        assert.equal(await store.gc(), 2);
        assert.equal(rows(), 1);
        assert.equal(await store.gc(), 0);
      } finally {
        db.close();
      }
    });

    it('throws CorruptSessionError for a row it cannot read back', async () => {
      const store = open();
      await store.set('svc:x', record());
      const db = new Database(file);
      try {
        db.prepare("INSERT INTO pso_sessions (key, data, expires) VALUES ('svc:bad', '{\"v\":1,\"created\":', ?), ('svc:shape', '[1]', ?)").run(Date.now() + 60_000, Date.now() + 60_000);
      } finally {
        db.close();
      }
      await assert.rejects(store.get('svc:bad'), CorruptSessionError);
      await assert.rejects(store.get('svc:shape'), /not a JSON object/);
      assert.ok(await store.get('svc:x'));
    });

    it('follows the file when it is replaced, as every other process would', async () => {
      const store = open();
      await store.set('svc:a', record());
      rmSync(file);
      rmSync(`${file}-wal`, { force: true });
      rmSync(`${file}-shm`, { force: true });
      assert.equal(await store.get('svc:a'), undefined, 'a new, empty database');
      await store.set('svc:b', record());
      const other = open();
      assert.ok(await other.get('svc:b'), 'another instance sees what was written to the new file');
    });
  });

  describe('the lock', () => {
    it('is exclusive between two store instances, and waits until released', async () => {
      const a = open();
      const b = open();
      const release = await a.lock('svc:k', 1_000);
      await assert.rejects(b.lock('svc:k', 150), (e: unknown) => e instanceof SessionBusyError && /still locked after \d+ ms/.test(e.message) && e.message.includes(url));
      const other = await b.lock('svc:other', 100);
      await other();
      const waiting = b.lock('svc:k', 5_000);
      await sleep(50);
      await release();
      const second = await waiting;
      await release(); // twice is harmless, and does not free b's lock
      await assert.rejects(a.lock('svc:k', 100), SessionBusyError);
      await second();
      await (await a.lock('svc:k', 100))();
    });

    it('takes over an expired lock, and the old holder\'s release does not free the new one', async () => {
      const a = open({ lockTtlMs: 60_000 });
      const b = open();
      // A holder that stopped renewing: its lock's expiry has passed.
      const old = await a.lock('svc:k', 1_000);
      const db = new Database(file);
      try {
        db.prepare('UPDATE pso_session_locks SET expires = 0').run();
      } finally {
        db.close();
      }
      const started = Date.now();
      const taken = await b.lock('svc:k', 1_000);
      assert.ok(Date.now() - started < 500);
      await old();
      await assert.rejects(a.lock('svc:k', 100), SessionBusyError, 'b still holds it');
      await taken();
    });

    it('renews a held lock, so a long request keeps it past its lifetime', async () => {
      const a = open({ lockTtlMs: 150 });
      const b = open({ lockTtlMs: 150 });
      const release = await a.lock('svc:k', 1_000);
      await sleep(500);
      await assert.rejects(b.lock('svc:k', 100), SessionBusyError);
      await release();
    });

    it('takes over at once the lock of a process of this machine that died', async () => {
      const store = open();
      await store.set('svc:x', record());
      const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      const deadPid = Number(child.stdout);
      const db = new Database(file);
      try {
        db.prepare('INSERT INTO pso_session_locks (key, token, expires) VALUES (?, ?, ?)').run('svc:k', `${deadPid} ${hostname()} x`, Date.now() + 3_600_000);
        db.prepare('INSERT INTO pso_session_locks (key, token, expires) VALUES (?, ?, ?)').run('svc:alive', `${process.pid} ${hostname()} x`, Date.now() + 3_600_000);
        db.prepare('INSERT INTO pso_session_locks (key, token, expires) VALUES (?, ?, ?)').run('svc:foreign', `${deadPid} another-host x`, Date.now() + 3_600_000);
      } finally {
        db.close();
      }
      await (await store.lock('svc:k', 200))();
      await assert.rejects(store.lock('svc:alive', 100), SessionBusyError, 'a live holder keeps it');
      if (ownStartTime() !== undefined) {
        // This process's pid, but the start time of an earlier process that had it: that holder is gone.
        const db2 = new Database(file);
        db2.prepare('INSERT INTO pso_session_locks (key, token, expires) VALUES (?, ?, ?)').run('svc:reused', `${process.pid} ${hostname()} x ${Number(ownStartTime()) - 1}`, Date.now() + 3_600_000);
        db2.close();
        await (await store.lock('svc:reused', 200))();
      }
      await assert.rejects(store.lock('svc:foreign', 100), SessionBusyError, 'another host\'s holder is judged by expiry only');
    });

    it('keeps child processes from losing any of 4 × 25 increments', async () => {
      const child = join(ROOT, 'spec/support/store-lock-child.mjs');
      await Promise.all(Array.from({ length: 4 }, () => run(process.execPath, [child, url, 'svc:counter', '25'])));
      const store = open();
      assert.equal((await store.get('svc:counter'))!.data.n, 100);
      const db = new Database(file, { readonly: true });
      try {
        assert.deepEqual(db.prepare('SELECT key FROM pso_session_locks').all(), [], 'every lock was released');
      } finally {
        db.close();
      }
    });
  });

  describe('under a node:http server (PSOSessionStore)', () => {
    let server: PsoServer | undefined;
    let logger: MemoryLogger;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    async function start(storeUrl: string) {
      ({ server, logger } = await startCounterServer('st', { PSOSessionStore: storeUrl, PSOSessionStoreTimeout: '2' }));
      return server.url;
    }

    it('holds 200 concurrent increments of one session without losing one', async () => {
      const jar = await assertNoLostIncrements(await start(url));
      const store = (await openStore(url)) as SqliteStore;
      assert.deepEqual(await store.list(), [sessionKey('st', jar.cookies.get('st')!)]);
    });

    it('answers 503 naming the store while its file cannot be opened, keeps serving, and goes on when it is fixed', async () => {
      // The database's directory is a file: nothing can be created there.
      const blocker = join(dir, 'blocker');
      writeFileSync(blocker, 'not a directory');
      const blockedUrl = `sqlite://${blocker}/sessions.db`;
      const base = await start(blockedUrl);
      for (let i = 0; i < 2; i++) {
        const res = await fetch(base);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
      }
      assert.match(logger.text(), new RegExp(`session store ${blockedUrl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} unavailable: (get|set|lock) failed: .*ENOTDIR`));
      rmSync(blocker);
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(base)).text(), '1');
      assert.equal(await (await jar.fetch(base)).text(), '2');
      assert.equal(modeOf(blocker), '700');
    });

    it('answers 503 while the database file is garbage, and finds its sessions again once it is restored', async () => {
      const base = await start(url);
      const jar = new CookieJar();
      for (const n of ['1', '2']) assert.equal(await (await jar.fetch(base)).text(), n);
      const saved = join(dir, 'saved');
      mkdirSync(saved);
      const parts = ['', '-wal', '-shm'];
      for (const p of parts) if (existsSync(`${file}${p}`)) renameSync(`${file}${p}`, join(saved, `db${p}`));
      writeFileSync(file, 'this is not an SQLite database, just some garbage bytes '.repeat(100));
      const down = await jar.fetch(base);
      assert.equal(down.status, 503, await down.clone().text());
      assert.match(logger.text(), new RegExp(`session store sqlite://${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} unavailable: .*failed: file is not a database`));
      assert.equal((await fetch(`${base}/other`)).status, 503, 'a new visitor too, and the server still answers');
      rmSync(file);
      for (const p of parts) if (existsSync(join(saved, `db${p}`))) renameSync(join(saved, `db${p}`), `${file}${p}`);
      assert.equal(await (await jar.fetch(base)).text(), '3', 'nothing was lost');
    });
  });
});
