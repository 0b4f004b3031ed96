// The tests PostgresStore and MysqlStore share, against the real servers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConfigurationError, CorruptSessionError, SessionBusyError, closeStores, openStore,
  type PsoServer, type SessionRecord, type SessionStore,
} from '../../../src/index.js';
import { CLI, CookieJar, ROOT, runProcess } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';
import { assertNoLostIncrements, startCounterServer } from '../../support/counterServer.js';

/** What the suite needs of a store beyond the contract. */
export type SqlStore = SessionStore & Required<Pick<SessionStore, 'lock' | 'lockAndGet' | 'gc' | 'count' | 'list' | 'touch' | 'init' | 'close'>> & {
  readonly table: string;
  poolStats(): { total: number; idle: number; waiting: number; locks: number };
};

/** A plain connection for checks behind the store's back. */
export interface Admin {
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** One engine: how to reach it, and the few statements that differ. */
export interface SqlStoreKit {
  label: string;
  module: 'PostgresStore' | 'MysqlStore';
  /** The URL schemes that name it. */
  schemes: [string, string];
  skipVar: string;
  /** Index in ensure-system.mjs SERVICES. */
  service: number;
  /** The store URL without `table`; it carries a password, to check it never shows. */
  url: string;
  password: string;
  make(url: string): SqlStore;
  admin(): Promise<Admin>;
  /** Overwrites a stored row's data. */
  corrupt(admin: Admin, table: string, key: string, data: string): Promise<void>;
  tableExists(admin: Admin, table: string): Promise<boolean>;
  dropTable(admin: Admin, table: string): Promise<void>;
  /** Closes the server side of the connection holding `key`'s lock. */
  killLockHolder(admin: Admin, store: SqlStore, key: string): Promise<void>;
  /** Starts a transaction that blocks every write and read of `table` until `admin.close()`. */
  blockTable(table: string): Promise<Admin>;
  /** Stops the local server (the store suite starts it again). */
  stopCommand: string;
  /** A message of the driver when the server is down. */
  downMessage: RegExp;
  /**
   * The store's connections each hold the locks of many sessions and batch
   * the requests' statements (MySQL), instead of one connection per lock
   * handed from holder to waiter (PostgreSQL).
   */
  sharedConnections?: boolean;
  /** URL parameters (after `&`) that make the server's default isolation stricter than READ COMMITTED, where the engine lets a URL do so. */
  strictIsolationParams?: string;
}

const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000, ...patch });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ensureSystem(): Promise<{ SERVICES: { port: number; start: string }[]; ensureService(s: unknown): Promise<string | undefined> }> {
  return import(pathToFileURL(join(ROOT, 'spec/support/ensure-system.mjs')).href);
}

function idleAgain(store: SqlStore, message: string): void {
  const s = store.poolStats();
  assert.equal(s.locks, 0, `${message}: no lock held (${JSON.stringify(s)})`);
  assert.equal(s.waiting, 0, `${message}: nobody waiting (${JSON.stringify(s)})`);
  assert.equal(s.idle, s.total, `${message}: every connection back in the pool (${JSON.stringify(s)})`);
}

export function describeSqlStore(kit: SqlStoreKit): void {
  describe(`${kit.label} (real server)`, function () {
    this.timeout(60_000);
    const run = `${process.pid}_${Date.now() % 1_000_000}`;
    const tables: string[] = [];
    const stores: SqlStore[] = [];
    let admin: Admin;

    /** A table of this run, dropped at the end. */
    const tableName = (suffix = '') => {
      const t = `pso_spec_${run}${suffix}`;
      if (!tables.includes(t)) tables.push(t);
      return t;
    };
    const urlOf = (table: string, params = '') => `${kit.url}?table=${table}${params}`;
    const open = (table = tableName(), params = '') => {
      const store = kit.make(urlOf(table, params));
      stores.push(store);
      return store;
    };

    before(async function () {
      const reason = process.env[kit.skipVar];
      if (reason) {
        process.stderr.write(`${kit.label} suite skipped: ${reason}\n`);
        this.skip();
      }
      admin = await kit.admin();
    });
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
      await closeStores();
    });
    after(async () => {
      if (!admin) return;
      for (const t of tables) await kit.dropTable(admin, t).catch(() => undefined);
      await admin.close();
    });

    describe('contract', () => {
      it('round-trips a record, replaces it, and says undefined for an unknown key', async () => {
        const store = open();
        const r = record({ data: { n: 1, s: 'é😀\\"\'', list: [1, { a: null }] }, expiry: { kind: 'after', seconds: 60 }, timeouts: { idle: 30 } });
        r.expires = Math.round(r.expires);
        await store.set('svc:a', r);
        const read = (await store.get('svc:a'))!;
        assert.deepEqual({ ...read, data: { ...read.data } }, { ...r, data: { ...r.data } });
        await store.set('svc:a', record({ data: { n: 2 } }));
        assert.equal((await store.get('svc:a'))!.data.n, 2);
        assert.equal(await store.get('svc:nobody'), undefined);
      });

      it('creates its table on first use, once, even when many processes start at once', async () => {
        const table = tableName('_fresh');
        const many = Array.from({ length: 8 }, () => open(table));
        await Promise.all(many.map((s, i) => s.set(`svc:${i}`, record())));
        assert.equal(await many[0]!.count(), 8);
        assert.ok(await kit.tableExists(admin, table));
        await many[0]!.init();
      });

      it('deletes with destroy, and destroying a missing key is no error', async () => {
        const store = open();
        await store.set('svc:d', record());
        await store.destroy('svc:d');
        assert.equal(await store.get('svc:d'), undefined);
        await store.destroy('svc:d');
      });

      it('touch moves the expiry without rewriting the data, and writes a record that is gone', async () => {
        const store = open();
        const r = record({ data: { n: 7 } });
        await store.set('svc:t', r);
        const later = Math.round(Date.now() + 3_600_000);
        await store.touch('svc:t', { ...r, expires: later });
        const read = (await store.get('svc:t'))!;
        assert.equal(read.expires, later);
        assert.equal(read.data.n, 7);
        await store.touch('svc:gone', record({ data: { n: 8 } }));
        assert.equal((await store.get('svc:gone'))!.data.n, 8);
      });

      it('never returns an expired record, even before gc', async () => {
        const store = open();
        await store.set('svc:old', record({ expires: Date.now() - 1 }));
        assert.equal(await store.get('svc:old'), undefined);
        await store.set('svc:soon', record({ expires: Date.now() + 300 }));
        assert.ok(await store.get('svc:soon'));
        await sleep(400);
        assert.equal(await store.get('svc:soon'), undefined);
      });

      it('counts and lists unexpired records; gc deletes the expired ones', async () => {
        const table = tableName('_gc');
        const store = open(table);
        await store.set('svc:1', record());
        await store.set('svc:2', record());
        await store.set('svc:x', record({ expires: Date.now() - 1000 }));
        await store.set('svc:y', record({ expires: Date.now() - 1 }));
        assert.equal(await store.count(), 2);
        assert.deepEqual(await store.list(), ['svc:1', 'svc:2']);
        assert.equal(await store.gc(), 2);
        assert.equal(await store.gc(), 0);
        const rows = await admin.query(`SELECT COUNT(*) AS n FROM ${table}`);
        assert.equal(Number(rows[0]!.n), 2);
      });

      it('throws CorruptSessionError for a row that is not a session', async () => {
        const table = tableName();
        const store = open(table);
        for (const garbage of ['{"v":1,"created":1,', 'null', '{"v":1,"created":1,"expires":2,"data":[]}', 'gASVAAAAAAAAAAB9lC4=']) {
          await store.set('svc:bad', record());
          await kit.corrupt(admin, table, 'svc:bad', garbage);
          await assert.rejects(store.get('svc:bad'), CorruptSessionError, garbage);
        }
        await store.destroy('svc:bad');
        idleAgain(store, 'after corrupt rows');
      });

      it('keeps SQL in keys and data inert', async () => {
        const table = tableName('_sql');
        const store = open(table);
        const keys = [
          "svc:'; DROP TABLE " + table + '; --',
          'svc:" OR 1=1 --',
          "svc:' OR '1'='1",
          'svc:\\',
          "svc:\\'; SELECT 1; --",
          'svc:%',
          'svc:_',
          'svc:$1',
          'svc:?',
        ];
        for (const [i, key] of keys.entries()) await store.set(key, record({ data: { i, sql: `'); DELETE FROM ${table}; --`, bs: '\\\'' } }));
        assert.ok(await kit.tableExists(admin, table), 'the table is still there');
        assert.deepEqual((await store.list()).sort(), [...keys].sort());
        for (const [i, key] of keys.entries()) {
          const read = (await store.get(key))!;
          assert.equal(read.data.i, i, key);
          assert.equal(read.data.sql, `'); DELETE FROM ${table}; --`);
          assert.equal(read.data.bs, '\\\'');
        }
        assert.equal(await store.get("svc:' OR ''='"), undefined);
        assert.equal(await store.get('svc:%%'), undefined);
        await store.destroy('svc:%');
        assert.equal(await store.count(), keys.length - 1, 'only the key named was deleted');
      });

      it('is what PSOSessionStore opens for both of its schemes', async () => {
        const table = tableName('_scheme');
        for (const scheme of kit.schemes) {
          const store = await openStore(urlOf(table).replace(/^[a-z]+:/, scheme));
          assert.equal(store?.constructor.name, kit.module, scheme);
          await store!.set(`svc:${scheme}`, record());
        }
        assert.equal(await open(table).count(), 2);
      });

      it('pso store init|count|gc <url> create the table, count and collect', async () => {
        const table = tableName('_cli');
        const pso = (...args: string[]) => runProcess(process.execPath, [CLI, 'store', ...args, urlOf(table)], process.env);
        const init = await pso('init');
        assert.equal(init.code, 0, init.stderr);
        assert.match(init.stdout, /is ready/);
        assert.ok(!init.stdout.includes(kit.password));
        assert.ok(await kit.tableExists(admin, table));
        const store = open(table);
        await store.set('svc:live', record());
        await store.set('svc:dead', record({ expires: Date.now() - 1 }));
        assert.equal((await pso('count')).stdout, '1\n');
        assert.match((await pso('gc')).stdout, /removed 1 expired session\(s\)/);
      });

      it('refuses a table name that is not a plain identifier, and hides the password in its name', () => {
        for (const bad of ['x;drop', 'a b', '1abc', '"q"', 'x`y', 'a'.repeat(64)]) {
          assert.throws(() => kit.make(`${kit.url}?table=${encodeURIComponent(bad)}`), ConfigurationError, bad);
        }
        assert.throws(() => kit.make(`${kit.url}?pool=0`), ConfigurationError);
        assert.throws(() => kit.make(`${kit.url}?pool=ten`), ConfigurationError);
        const store = open();
        assert.ok(store.name.includes(':***@'), store.name);
        assert.ok(!store.name.includes(kit.password), store.name);
      });

      it('bounds a statement that waits: it fails after statement_timeout and leaves the pool clean', async () => {
        const table = tableName('_slow');
        const store = open(table, '&statement_timeout=300');
        await store.set('svc:s', record());
        const blocker = await kit.blockTable(table);
        try {
          const started = Date.now();
          await assert.rejects(store.get('svc:s'));
          const took = Date.now() - started;
          assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
        } finally {
          await blocker.close();
        }
        assert.equal((await store.get('svc:s'))!.data.n, 1);
        idleAgain(store, 'after a statement timeout');
      });
    });

    describe('locks', () => {
      it('are exclusive between two store instances, time out with SessionBusyError, and pass on when released', async () => {
        const table = tableName();
        const a = open(table);
        const b = open(table);
        const release = await a.lock('svc:L', 1000);
        const started = Date.now();
        await assert.rejects(b.lock('svc:L', 300), SessionBusyError);
        const took = Date.now() - started;
        assert.ok(took >= 280 && took < 1500, `timed out after ${took} ms`);
        const other = await b.lock('svc:other', 300);
        await other();
        const waiting = b.lock('svc:L', 5000);
        await sleep(150);
        await release();
        const next = await waiting;
        assert.ok(Date.now() - started >= 450);
        await next();
        await release(); // a second call is harmless
        idleAgain(a, 'holder');
        idleAgain(b, 'waiter');
      });

      it('lose no update when two store instances increment one session concurrently', async () => {
        const table = tableName();
        const stores = [open(table), open(table)];
        const increment = async (store: SqlStore) => {
          const release = await store.lock('svc:count', 20_000);
          try {
            const n = ((await store.get('svc:count'))?.data.n as number | undefined) ?? 0;
            await sleep(1);
            await store.set('svc:count', record({ data: { n: n + 1 } }));
          } finally {
            await release();
          }
        };
        await Promise.all(Array.from({ length: 60 }, (_, i) => increment(stores[i % 2]!)));
        assert.equal((await stores[0]!.get('svc:count'))!.data.n, 60);
      });

      it('lose no update between real processes doing read-modify-write increments', async () => {
        const table = tableName();
        const child = join(ROOT, 'spec/support/sql-store-lock-child.mjs');
        const results = await Promise.all(
          Array.from({ length: 4 }, () => runProcess(process.execPath, [child, kit.module, urlOf(table), 'svc:proc', '25'], process.env)),
        );
        for (const r of results) assert.equal(r.code, 0, r.stderr);
        const store = open(table);
        assert.equal((await store.get('svc:proc'))!.data.n, 100);
      });

      it('never leak a pool connection: many cycles, a timeout, an exhausted pool', async () => {
        const table = tableName();
        const store = open(table, '&pool=3');
        const other = open(table);
        for (let i = 0; i < 50; i++) await (await store.lock(`svc:c${i % 5}`, 1000))();
        await Promise.all(Array.from({ length: 30 }, async (_, i) => (await store.lock(`svc:p${i}`, 10_000))()));
        assert.ok(store.poolStats().total <= 3, JSON.stringify(store.poolStats()));
        // A connection asked of the pool may come after the work it was for was done elsewhere: it goes straight back.
        await sleep(50);
        idleAgain(store, 'after 80 lock cycles');

        const held = await other.lock('svc:busy', 1000);
        await assert.rejects(store.lock('svc:busy', 200), SessionBusyError);
        await held();
        idleAgain(store, 'after a lock timeout');

        if (kit.sharedConnections) {
          // Locks share connections: a full pool takes more locks, and the session's statements run beside them.
          const four = await Promise.all([1, 2, 3, 4].map((i) => store.lock(`svc:f${i}`, 1000)));
          assert.ok(store.poolStats().total <= 3, JSON.stringify(store.poolStats()));
          assert.equal(store.poolStats().locks, 4);
          await assert.rejects(other.lock('svc:f4', 200), SessionBusyError, 'the fourth lock is really held');
          await store.set('svc:f1', record());
          assert.ok(await store.get('svc:f1'));
          await Promise.all(four.map((r) => r()));
        } else {
          // Three locks fill the pool: a fourth waits for a connection, times out, and leaves nothing behind.
          const three = await Promise.all([1, 2, 3].map((i) => store.lock(`svc:f${i}`, 1000)));
          await assert.rejects(store.lock('svc:f4', 200), SessionBusyError);
          // The session's statements run on its lock connection, so a full pool does not block them.
          await store.set('svc:f1', record());
          assert.ok(await store.get('svc:f1'));
          await Promise.all(three.map((r) => r()));
        }
        await sleep(50);
        idleAgain(store, 'after an exhausted pool');
        assert.ok(store.poolStats().total <= 3);
        await (await store.lock('svc:f4', 1000))();
      });

      it('never leak a connection that dies while it holds a lock, and the lock is freed', async () => {
        const table = tableName();
        const store = open(table);
        const other = open(table);
        const release = await store.lock('svc:k', 1000);
        await kit.killLockHolder(admin, store, 'svc:k');
        await sleep(200);
        await assert.rejects(store.get('svc:k'), 'statements of a session whose lock connection died fail');
        await release();
        idleAgain(store, 'after the lock connection died');
        await (await other.lock('svc:k', 2000))();
        await store.set('svc:k', record());
        assert.ok(await store.get('svc:k'), 'the store goes on');
      });

      it('close() gives back connections still held for locks', async () => {
        const table = tableName();
        const store = kit.make(urlOf(table));
        const other = open(table);
        await store.lock('svc:z', 1000);
        await store.close();
        await (await other.lock('svc:z', 2000))();
      });
    });

    describe('lockAndGet', () => {
      it('reads under the lock, excludes lock() and other lockAndGet callers, and times out with SessionBusyError', async () => {
        const table = tableName();
        const a = open(table);
        const b = open(table);
        await a.set('svc:G', record({ data: { n: 7 } }));
        const held = await a.lockAndGet('svc:G', 1000);
        assert.equal(held.record()?.data.n, 7);
        const started = Date.now();
        await assert.rejects(b.lockAndGet('svc:G', 300), SessionBusyError);
        await assert.rejects(b.lock('svc:G', 300), SessionBusyError);
        assert.ok(Date.now() - started < 2500);
        const waiting = b.lockAndGet('svc:G', 5000);
        await sleep(100);
        await held.setAndRelease!(record({ data: { n: 8 } }));
        const next = await waiting;
        assert.equal(next.record()?.data.n, 8, 'the next holder reads the write made before the lock passed on');
        await next.release();
        await held.release(); // harmless after setAndRelease
        const none = await a.lockAndGet('svc:none', 1000);
        assert.equal(none.record(), undefined);
        await none.release();
        await sleep(20);
        idleAgain(a, 'holder');
        idleAgain(b, 'waiter');
      });

      it('lose no update when two store instances increment one session concurrently', async () => {
        const table = tableName();
        const stores = [open(table, '&pool=3'), open(table, '&pool=3')];
        const increment = async (store: SqlStore, i: number) => {
          const held = await store.lockAndGet('svc:count2', 20_000);
          try {
            const n = (held.record()?.data.n as number | undefined) ?? 0;
            // Half of them write in the same step as the unlock, half write then unlock.
            if (i % 2) await held.setAndRelease!(record({ data: { n: n + 1 } }));
            else await store.set('svc:count2', record({ data: { n: n + 1 } }));
          } finally {
            await held.release();
          }
        };
        await Promise.all(Array.from({ length: 60 }, (_, i) => increment(stores[i % 2]!, i)));
        assert.equal((await stores[0]!.get('svc:count2'))!.data.n, 60);
        await sleep(20);
        for (const s of stores) idleAgain(s, 'after the increments');
      });

      it('creates the table on first use with the lock held, and reports a corrupt row only when it is read', async () => {
        const table = tableName('_lg');
        const store = open(table);
        const held = await store.lockAndGet('svc:first', 1000);
        assert.equal(held.record(), undefined);
        await held.setAndRelease!(record({ data: { n: 1 } }));
        assert.equal((await store.get('svc:first'))!.data.n, 1);
        await kit.corrupt(admin, table, 'svc:first', 'not json');
        const again = await store.lockAndGet('svc:first', 1000);
        assert.throws(() => again.record(), CorruptSessionError);
        await again.release();
        await sleep(20);
        idleAgain(store, 'after a corrupt row');
      });

      it('goes on after a lock timeout on a connection it had not used before', async () => {
        const table = tableName('_fresh');
        const other = open(table);
        const held = await other.lockAndGet('svc:t', 1000);
        const fresh = open(table, '&pool=1');
        await assert.rejects(fresh.lockAndGet('svc:t', 200), SessionBusyError);
        await held.release();
        for (let n = 1; n <= 3; n++) {
          const next = await fresh.lockAndGet('svc:t', 1000);
          assert.equal(next.record()?.data.n, n === 1 ? undefined : n - 1);
          await next.setAndRelease!(record({ data: { n } }));
        }
        assert.equal((await fresh.get('svc:t'))!.data.n, 3);
        await sleep(20);
        for (const s of [other, fresh]) idleAgain(s, 'after a lock timeout');
      });

      it('frees the lock when the write fails, and the connection goes back', async () => {
        const table = tableName();
        const store = open(table);
        const other = open(table);
        const held = await store.lockAndGet('svc:w', 1000);
        // JSON cannot hold a bigint: the write fails before it is sent, the lock stays held until release().
        await assert.rejects(held.setAndRelease!(record({ data: { n: 10n as unknown as number } })));
        await held.release();
        await (await other.lockAndGet('svc:w', 2000)).release();
        await sleep(20);
        idleAgain(store, 'after a failed write');
      });

      it('loses no update among 3 store instances, 2 connections each, incrementing 6 sessions 240 times', async () => {
        const table = tableName('_ho4');
        const stores = [open(table, '&pool=2'), open(table, '&pool=2'), open(table, '&pool=2')];
        const increment = async (i: number) => {
          const store = stores[i % 3]!;
          const key = `svc:many${i % 6}`;
          const held = await store.lockAndGet(key, 30_000);
          try {
            const n = (held.record()?.data.n as number | undefined) ?? 0;
            // Some release without writing first, then take the lock again.
            if (i % 5 === 0) {
              await held.release();
              const again = await store.lockAndGet(key, 30_000);
              const m = (again.record()?.data.n as number | undefined) ?? 0;
              await again.setAndRelease!(record({ data: { n: m + 1 } }));
              return;
            }
            await held.setAndRelease!(record({ data: { n: n + 1 } }));
          } finally {
            await held.release();
          }
        };
        await Promise.all(Array.from({ length: 240 }, (_, i) => increment(i)));
        for (let k = 0; k < 6; k++) assert.equal((await stores[0]!.get(`svc:many${k}`))!.data.n, 40, `session ${k}`);
        await sleep(20);
        for (const s of stores) idleAgain(s, 'after the increments');
      });

      if (kit.strictIsolationParams) {
        it('loses no update when the server\'s default isolation is stricter than READ COMMITTED', async () => {
          const table = tableName('_iso');
          const stores = [open(table, `&pool=2&${kit.strictIsolationParams}`), open(table, `&pool=2&${kit.strictIsolationParams}`)];
          const increment = async (i: number) => {
            const held = await stores[i % 2]!.lockAndGet('svc:iso', 30_000);
            try {
              const n = (held.record()?.data.n as number | undefined) ?? 0;
              await held.setAndRelease!(record({ data: { n: n + 1 } }));
            } finally {
              await held.release();
            }
          };
          await Promise.all(Array.from({ length: 80 }, (_, i) => increment(i)));
          assert.equal((await stores[0]!.get('svc:iso'))!.data.n, 80);
        });
      }
    });

    if (kit.sharedConnections) describeBatches(); else describe('handing a connection over', () => {
      /** Resolves once `p` settles, telling whether it is still pending after `ms`. */
      const pendingAfter = async (p: Promise<unknown>, ms: number) => {
        let settled = false;
        p.then(() => (settled = true), () => (settled = true));
        await sleep(ms);
        return !settled;
      };

      it('serves a request waiting for a connection with the lock and record taken in the holder\'s last batch', async () => {
        const table = tableName('_ho');
        const store = open(table, '&pool=1');
        const other = open(table);
        await store.set('svc:b', record({ data: { n: 41 } }));
        const a = await store.lockAndGet('svc:a', 2000);
        const waiting = store.lockAndGet('svc:b', 5000);
        assert.equal(await pendingAfter(waiting, 100), true, 'the only connection is held: the second request waits');
        await a.setAndRelease!(record({ data: { n: 1 } }));
        const b = await waiting;
        assert.equal(b.record()?.data.n, 41, 'the record was read under the lock');
        // The lock is really held: another instance cannot take it until it is released.
        await assert.rejects(other.lockAndGet('svc:b', 200), SessionBusyError);
        await b.setAndRelease!(record({ data: { n: 42 } }));
        const c = await other.lockAndGet('svc:b', 2000);
        assert.equal(c.record()?.data.n, 42);
        await c.release();
        assert.equal((await other.get('svc:a'))!.data.n, 1);
        // An expired row read by a handover batch is no record.
        await store.set('svc:old', record({ data: { n: 9 }, expires: Date.now() - 1000 }));
        const a2 = await store.lockAndGet('svc:a2', 2000);
        const old = store.lockAndGet('svc:old', 5000);
        await a2.setAndRelease!(record());
        const expired = await old;
        assert.equal(expired.record(), undefined);
        // The handover to a request without a row freed the holder's lock and holds the waiter's.
        await (await other.lockAndGet('svc:a2', 500)).release();
        await assert.rejects(other.lockAndGet('svc:old', 200), SessionBusyError);
        await expired.release();
        // And to a request whose session was never written.
        const a3 = await store.lockAndGet('svc:a3', 2000);
        const fresh = store.lockAndGet('svc:never', 5000);
        assert.equal(await pendingAfter(fresh, 50), true);
        await a3.setAndRelease!(record({ data: { n: 3 } }));
        const never = await fresh;
        assert.equal(never.record(), undefined);
        const a3again = await other.lockAndGet('svc:a3', 500);
        assert.equal(a3again.record()?.data.n, 3);
        await a3again.release();
        await assert.rejects(other.lockAndGet('svc:never', 200), SessionBusyError);
        await never.setAndRelease!(record({ data: { n: 1 } }));
        const neverAgain = await other.lockAndGet('svc:never', 500);
        assert.equal(neverAgain.record()?.data.n, 1, 'written, and its lock free');
        await neverAgain.release();
        await sleep(20);
        for (const s of [store, other]) idleAgain(s, 'after a handover');
      });

      it('hands over on a release without a write too, and the next request of the same session reads the last write', async () => {
        const table = tableName('_ho2');
        const store = open(table, '&pool=1');
        const a = await store.lockAndGet('svc:s', 2000);
        const same = store.lockAndGet('svc:s', 5000);
        const b = store.lockAndGet('svc:t', 5000);
        await a.setAndRelease!(record({ data: { n: 7 } }));
        const s2 = await same;
        assert.equal(s2.record()?.data.n, 7, 'the same session, next in line, reads the write before it');
        await s2.release();
        const t = await b;
        assert.equal(t.record(), undefined);
        await t.release();
        await sleep(20);
        idleAgain(store, 'after handovers');
      });

      it('times out a request that waits too long for a connection, without taking one', async () => {
        const table = tableName('_ho3');
        const store = open(table, '&pool=1');
        const a = await store.lockAndGet('svc:x', 2000);
        const started = Date.now();
        await assert.rejects(store.lockAndGet('svc:y', 150), SessionBusyError);
        assert.ok(Date.now() - started < 1000, 'the wait is bounded by the timeout');
        await a.setAndRelease!(record());
        const y = await store.lockAndGet('svc:y', 1000);
        await y.release();
        await sleep(20);
        idleAgain(store, 'after a queued request timed out');
      });

    });

    /** The server's count of statements run, all connections together. */
    const statements = async () => Number((await admin.query("SHOW GLOBAL STATUS LIKE 'Questions'"))[0]!.Value);
    /** Connections of the server waiting in `GET_LOCK` right now. */
    const lockWaits = async () => Number((await admin.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT GET_LOCK(%'"))[0]!.n);

    function describeBatches(): void {
      describe('batching requests on shared connections', () => {
        it('takes the locks and records of concurrent requests in one exchange, each lock really held', async () => {
          const table = tableName('_b1');
          const store = open(table, '&pool=1');
          const other = open(table);
          const keys = Array.from({ length: 8 }, (_, i) => `svc:b${i}`);
          for (const [i, k] of keys.entries()) await other.set(k, record({ data: { n: i } }));
          const before = await statements();
          const held = await Promise.all(keys.map((k) => store.lockAndGet(k, 2000)));
          // The first request goes alone, the 7 that came while it was on the wire together: 2 statements each time.
          const ran = (await statements()) - before;
          assert.ok(ran <= 6, `8 lock requests cost ${ran} statements (1 of them this count)`);
          keys.forEach((k, i) => assert.equal(held[i]!.record()?.data.n, i, k));
          assert.deepEqual([store.poolStats().total, store.poolStats().locks], [1, 8]);
          for (const k of keys) await assert.rejects(other.lockAndGet(k, 50), SessionBusyError, `${k} is locked`);
          await Promise.all(held.map((h, i) => h.setAndRelease!(record({ data: { n: i + 100 } }))));
          for (const [i, k] of keys.entries()) {
            const next = await other.lockAndGet(k, 500);
            assert.equal(next.record()?.data.n, i + 100, `${k} was written before its lock was freed`);
            await next.release();
          }
          await sleep(20);
          idleAgain(store, 'after batches');
        });

        it('fails a write the server refuses alone: its lock stays held, the others of its batch are written and unlocked', async () => {
          const mode = String((await admin.query('SELECT @@GLOBAL.sql_mode AS m'))[0]!.m);
          assert.match(mode, /STRICT_TRANS_TABLES|STRICT_ALL_TABLES/, 'the server refuses an out-of-range value');
          const table = tableName('_b2');
          const store = open(table, '&pool=1');
          const other = open(table);
          const keys = Array.from({ length: 5 }, (_, i) => `svc:w${i}`);
          for (const k of keys) await other.set(k, record({ data: { n: 1 } }));
          const held = await Promise.all(keys.map((k) => store.lockAndGet(k, 2000)));
          // The first write goes alone; the other four share a batch, and the third of them is out of BIGINT's range.
          const results = await Promise.allSettled(held.map((h, i) => h.setAndRelease!(record({ data: { n: 2 }, ...(i === 2 ? { expires: 1e30 } : {}) }))));
          assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
          assert.match(String((results[2] as PromiseRejectedResult).reason), /out of range/i);
          await assert.rejects(other.lockAndGet('svc:w2', 100), SessionBusyError, 'the refused write left its lock held');
          for (const k of keys.filter((_, i) => i !== 2)) {
            const next = await other.lockAndGet(k, 500);
            assert.equal(next.record()?.data.n, 2, k);
            await next.release();
          }
          await held[2]!.release();
          const kept = await other.lockAndGet('svc:w2', 500);
          assert.equal(kept.record()?.data.n, 1, 'nothing of the refused write was kept');
          await kept.release();
          await sleep(20);
          idleAgain(store, 'after a refused write');
        });

        it('writes a session too big for the server apart: it fails alone, and the sessions locked beside it go on', async () => {
          const limit = Number((await admin.query('SELECT @@GLOBAL.max_allowed_packet AS n'))[0]!.n);
          const table = tableName('_big');
          const store = open(table, '&pool=2');
          const other = open(table);
          await other.set('svc:big', record({ data: { n: 1 } }));
          // One after the other: the second lock goes to the idle connection holding the first.
          const big = await store.lockAndGet('svc:big', 1000);
          const small = await store.lockAndGet('svc:small', 1000);
          assert.equal(store.poolStats().total, 1, 'both locks on one connection');
          // The server refuses a packet over its limit and closes the connection that sent it.
          await assert.rejects(big.setAndRelease!(record({ data: { s: 'x'.repeat(limit + 1024) } })));
          await small.setAndRelease!(record({ data: { n: 2 } }));
          assert.equal((await other.get('svc:small'))!.data.n, 2, 'the lock beside it was not lost');
          await assert.rejects(other.lockAndGet('svc:big', 100), SessionBusyError, 'its own lock is still held');
          await big.release();
          const after = await other.lockAndGet('svc:big', 500);
          assert.equal(after.record()?.data.n, 1, 'nothing of the refused write was kept');
          await after.release();
          await sleep(20);
          idleAgain(store, 'after a write too big');
        });

        it('waits for a lock another process holds on the server, on a connection of its own, while other requests go on', async () => {
          const table = tableName('_b3');
          const store = open(table, '&pool=2');
          const other = open(table);
          const theirs = await other.lockAndGet('svc:x', 1000);
          const theirs2 = await other.lockAndGet('svc:x2', 1000);
          const waiting = store.lockAndGet('svc:x', 5000);
          await sleep(100);
          // A second wait would take the last connection: it polls instead.
          const waiting2 = store.lockAndGet('svc:x2', 5000);
          await sleep(100);
          assert.equal(await lockWaits(), 1, 'one connection waits in GET_LOCK');
          const started = Date.now();
          for (let i = 0; i < 5; i++) await (await store.lockAndGet(`svc:y${i}`, 1000)).setAndRelease!(record());
          assert.ok(Date.now() - started < 1000, `other sessions went on (${Date.now() - started} ms)`);
          assert.equal(store.poolStats().total, 2);
          await theirs.setAndRelease!(record({ data: { n: 5 } }));
          const mine = await waiting;
          assert.equal(mine.record()?.data.n, 5, 'read after the lock came');
          await mine.release();
          await theirs2.setAndRelease!(record({ data: { n: 6 } }));
          const mine2 = await waiting2;
          assert.equal(mine2.record()?.data.n, 6);
          await mine2.release();
          await sleep(20);
          idleAgain(store, 'after a wait');
        });

        it('polls for a busy lock when every connection holds locks, and takes it once it is free', async () => {
          const table = tableName('_b4');
          const store = open(table, '&pool=1');
          const other = open(table);
          const mine = await store.lockAndGet('svc:h', 1000);
          const theirs = await other.lockAndGet('svc:x', 1000);
          const waiting = store.lockAndGet('svc:x', 3000);
          await sleep(200);
          assert.equal(await lockWaits(), 0, 'no connection holding a lock waits on the server');
          await mine.setAndRelease!(record({ data: { n: 1 } }));
          await theirs.setAndRelease!(record({ data: { n: 7 } }));
          const got = await waiting;
          assert.equal(got.record()?.data.n, 7);
          await got.release();
          await sleep(20);
          idleAgain(store, 'after polling');
        });

        it('breaks the locks of a connection that dies, and only those; the store goes on', async () => {
          const table = tableName('_b5');
          const store = open(table, '&pool=2');
          const other = open(table);
          const a = await store.lockAndGet('svc:a', 1000);
          // Taken by waiting on the server, so on the other connection.
          const theirs = await other.lockAndGet('svc:x', 1000);
          const waiting = store.lockAndGet('svc:x', 5000);
          await sleep(100);
          await theirs.release();
          const x = await waiting;
          await kit.killLockHolder(admin, store, 'svc:a');
          await sleep(200);
          await assert.rejects(a.setAndRelease!(record()), /lock failed/);
          // A write large enough to go on another connection is refused all the same.
          await assert.rejects(store.set('svc:a', record({ data: { s: 'x'.repeat(1 << 20) } })), /lock failed/);
          await assert.rejects(a.setAndRelease!(record({ data: { s: 'x'.repeat(1 << 20) } })), /lock failed/);
          await a.release();
          await x.setAndRelease!(record({ data: { n: 3 } }));
          assert.equal((await other.get('svc:x'))!.data.n, 3);
          assert.equal(await other.get('svc:a'), undefined, 'nothing written without the lock');
          await (await other.lockAndGet('svc:a', 500)).release();
          const again = await store.lockAndGet('svc:a', 1000);
          await again.setAndRelease!(record({ data: { n: 1 } }));
          assert.equal((await other.get('svc:a'))!.data.n, 1);
          await sleep(20);
          idleAgain(store, 'after a dead connection');
        });

        it('tries a lock again on another connection when the one it was tried on dies before answering', async () => {
          const table = tableName('_b7');
          const store = open(table, '&pool=2&statement_timeout=4000');
          await store.set('svc:k', record({ data: { n: 4 } }));
          const blocker = await kit.blockTable(table);
          let unblocked = false;
          try {
            // The try is granted, then its read waits for the table; the connection is killed meanwhile.
            const taking = store.lockAndGet('svc:k', 10_000);
            let id: number | undefined;
            for (let i = 0; i < 50 && id === undefined; i++) {
              await sleep(20);
              const rows = await admin.query("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT k, data, expires%'");
              if (rows.length) id = Number(rows[0]!.id);
            }
            assert.ok(id, 'the batch waits for the table');
            await admin.query(`KILL ${id}`);
            await sleep(200);
            await blocker.close();
            unblocked = true;
            const started = Date.now();
            const held = await taking;
            assert.ok(Date.now() - started < 2000, `the dead connection was noticed at once, not after statement_timeout (${Date.now() - started} ms)`);
            assert.equal(held.record()?.data.n, 4, 'read under a lock taken on another connection');
            await held.setAndRelease!(record({ data: { n: 5 } }));
          } finally {
            if (!unblocked) await blocker.close();
          }
          assert.equal((await store.get('svc:k'))!.data.n, 5);
          await sleep(20);
          idleAgain(store, 'after a connection died under a batch');
        });

        it('creates its table when a batch finds it missing, with the locks held', async () => {
          const table = tableName('_b6');
          const store = open(table, '&pool=1');
          const other = open(table);
          const keys = Array.from({ length: 6 }, (_, i) => `svc:t${i}`);
          const held = await Promise.all(keys.map((k) => store.lockAndGet(k, 3000)));
          for (const h of held) assert.equal(h.record(), undefined);
          await assert.rejects(other.lockAndGet('svc:t3', 50), SessionBusyError);
          await Promise.all(held.map((h, i) => h.setAndRelease!(record({ data: { n: i } }))));
          for (const [i, k] of keys.entries()) assert.equal((await other.get(k))!.data.n, i);
          await sleep(20);
          idleAgain(store, 'after creating the table');
        });
      });
    }

    describe('through node:http with PSOSessionStore', () => {
      let server: PsoServer | undefined;
      let logger: MemoryLogger;
      afterEach(async () => {
        await server?.close();
        server = undefined;
      });

      async function start(url: string, directives: Record<string, string> = {}) {
        ({ server, logger } = await startCounterServer('sq', { PSOSessionStore: url, ...directives }));
        return server.url;
      }

      it('holds 200 concurrent increments of one session without losing one', async () => {
        await assertNoLostIncrements(await start(urlOf(tableName())));
      });

      describe('when the server goes down and comes back', () => {
        after(async () => {
          // Whatever happened in the test, the service runs again for the next suites.
          const { SERVICES, ensureService } = await ensureSystem();
          const problem = await ensureService(SERVICES[kit.service]);
          assert.equal(problem, undefined, problem);
        });

        it('answers 503 naming the store (not its password) and keeps serving; then goes on without a restart', async function () {
          const { SERVICES, ensureService } = await ensureSystem();
          const storeUrl = urlOf(tableName());
          const url = await start(storeUrl, { PSOSessionStoreTimeout: '3' });
          const jar = new CookieJar();
          assert.equal(await (await jar.fetch(url)).text(), '1');
          assert.equal(await (await jar.fetch(url)).text(), '2');

          const stop = spawnSync('sh', ['-c', kit.stopCommand], { encoding: 'utf8', timeout: 60_000 });
          assert.equal(stop.status, 0, stop.stderr);
          try {
            for (let i = 0; i < 3; i++) {
              const down = await jar.fetch(url);
              assert.equal(down.status, 503);
              assert.equal(down.headers.get('retry-after'), '5');
            }
            assert.equal((await fetch(url)).status, 503, 'a new visitor too');
            assert.equal((await fetch(new URL('favicon.ico', url))).status, 404, 'the server still answers');
            const name = `session store ${kit.make(storeUrl).name} unavailable`;
            assert.ok(logger.text().includes(name), `${name} in\n${logger.text()}`);
            assert.match(logger.text(), kit.downMessage);
            assert.ok(!logger.text().includes(kit.password), 'the password is never logged');
          } finally {
            const problem = await ensureService(SERVICES[kit.service]);
            assert.equal(problem, undefined, problem);
          }
          const back = await jar.fetch(url);
          assert.equal(back.status, 200, logger.text());
          assert.equal(await back.text(), '3', 'the session survived, the server was not restarted');
          assert.equal(await (await jar.fetch(url)).text(), '4');
        });
      });
    });
  });
}

