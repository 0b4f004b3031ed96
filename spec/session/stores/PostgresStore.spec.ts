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
