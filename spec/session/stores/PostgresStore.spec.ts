import assert from 'node:assert/strict';
import pg from 'pg';
import { PostgresStore } from '../../../src/session/stores/PostgresStore.js';
import { describeSqlStore, type Admin } from './sqlStoreSuite.js';

const PASSWORD = 'pso-s3cret';

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A connection for checks, opened again when the server was restarted under it. */
function admin(first?: pg.Client, onClose?: (c: pg.Client) => Promise<unknown>): Admin {
  let client: Promise<pg.Client> | undefined = first && Promise.resolve(first);
  const current = () => {
    const p = (client ??= connect().then((c) => {
      const forget = () => client === p && (client = undefined);
      c.once('error', forget).once('end', forget);
      return c;
    }));
    return p;
  };
  return {
    query: async (sql, params) => (await (await current()).query(sql, params)).rows,
    close: async () => {
      const c = await current();
      await onClose?.(c);
      await c.end();
    },
  };
}

describeSqlStore({
  label: 'PostgresStore',
  module: 'PostgresStore',
  schemes: ['postgres:', 'postgresql:'],
  skipVar: 'PSO_POSTGRES_SKIP',
  service: 0,
  // Trust authentication ignores the password, which lets the suite check it is never shown.
  url: `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test`,
  password: PASSWORD,
  make: (url) => new PostgresStore(url),
  admin: async () => admin(),
  corrupt: async (a, table, key, data) => void (await a.query(`UPDATE ${table} SET data = $1 WHERE key = $2`, [data, key])),
  tableExists: async (a, table) => (await a.query('SELECT to_regclass($1) IS NOT NULL AS ok', [table]))[0]!.ok === true,
  dropTable: async (a, table) => void (await a.query(`DROP TABLE IF EXISTS ${table}`)),
  killLockHolder: async (a, _store, key) => {
    const rows = await a.query(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
      [key],
    );
    if (rows.length !== 1) throw new Error(`expected one backend holding the lock of ${key}, found ${rows.length}`);
  },
  blockTable: async (table) => {
    const client = await connect();
    await client.query('BEGIN');
    await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    return admin(client, (c) => c.query('ROLLBACK'));
  },
  stopCommand: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main stop -m fast',
  downMessage: /ECONNREFUSED|terminat|Connection terminated/,
  // Given to the server when each connection starts; the store's own setting must come after it.
  strictIsolationParams: `options=${encodeURIComponent('-c default_transaction_isolation=repeatable\\ read')}`,
});

// A CGI process that sweeps expired sessions is a new store each time. Its sweep, and its
// table set-up, must not lock the sessions' table against writes: while a request waits for a
// session's lock (a new connection's first statements hold the table for writing), such a
// lock queued every writer, the lock's holder among them, behind it until a statement timeout.
describe('PostgresStore: a new store sweeping and setting up while a session is locked and waited for', function () {
  this.timeout(60_000);
  const table = `pso_sweep_${process.pid}`;
  const url = `postgres://postgres@127.0.0.1:5432/test?table=${table}&statement_timeout=4000`;
  let a: pg.Client;
  const stores: PostgresStore[] = [];
  const store = () => {
    const s = new PostgresStore(url);
    stores.push(s);
    return s;
  };

  before(async function () {
    if (process.env.PSO_POSTGRES_SKIP) this.skip();
    a = await connect();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    if (a) {
      for (const t of [table, `${table}_users`, `${table}_user_gens`]) await a.query(`DROP TABLE IF EXISTS "${t}"`);
      await a.end();
    }
  });

  it('answers at once, and the lock holder then saves at once', async () => {
    const holder = store();
    await holder.init();
    const key = 'svc:~swept';
    const held = await holder.lockAndGet(key, 5000);
    // Another process's request for the same session: a new connection, waiting on the server.
    const waiting = store().lockAndGet(key, 30_000);
    for (let i = 0; ; i++) {
      const { rows } = await a.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
      if (rows[0].n > 0) break;
      if (i > 100) throw new Error('the second request never waited for the lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    let t = Date.now();
    assert.equal(await store().gc(), 0);
    assert.ok(Date.now() - t < 2000, `a new store's gc took ${Date.now() - t} ms while a request waited for a lock`);
    t = Date.now();
    await store().init();
    assert.ok(Date.now() - t < 2000, `a new store's set-up took ${Date.now() - t} ms while a request waited for a lock`);
    t = Date.now();
    await held.setAndRelease!({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000 });
    assert.ok(Date.now() - t < 2000, `the holder's save took ${Date.now() - t} ms`);
    const next = await waiting;
    assert.deepEqual({ ...next.record()?.data }, { n: 1 });
    await next.release();
  });
});
