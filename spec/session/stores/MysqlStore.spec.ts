import mysql from 'mysql2/promise';
import { MysqlStore } from '../../../src/session/stores/MysqlStore.js';
import { describeSqlStore, type Admin, type SqlStore } from './sqlStoreSuite.js';

// root has no password here, so the suite works as a user of its own, with one, to check it is never shown.
const USER = `pso_spec_${process.pid}`;
const PASSWORD = 'pso-s3cret';

async function connect(): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectTimeout: 5000 });
  conn.on('error', () => undefined);
  return conn;
}

/** A connection for checks, opened again when the server was restarted under it. */
function admin(first?: mysql.Connection, onClose?: (c: mysql.Connection) => Promise<unknown>): Admin {
  let conn: Promise<mysql.Connection> | undefined = first && Promise.resolve(first);
  const current = () => {
    const p = (conn ??= connect().then((c) => {
      const forget = () => conn === p && (conn = undefined);
      c.once('error', forget).once('end', forget);
      return c;
    }));
    return p;
  };
  return {
    query: async (sql, params) => (await (await current()).query(sql, params))[0] as Record<string, unknown>[],
    close: async () => {
      const c = await current();
      await onClose?.(c);
      await c.end();
    },
  };
}

describeSqlStore({
  label: 'MysqlStore',
  module: 'MysqlStore',
  schemes: ['mysql:', 'mariadb:'],
  skipVar: 'PSO_MYSQL_SKIP',
  service: 1,
  url: `mysql://${USER}:${PASSWORD}@127.0.0.1:3306/test`,
  password: PASSWORD,
  make: (url) => new MysqlStore(url) as unknown as SqlStore,
  admin: async () => {
    const a = admin(undefined, (c) => c.query(`DROP USER IF EXISTS ?@'%'`, [USER]));
    await a.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [USER, PASSWORD]);
    await a.query(`GRANT ALL ON test.* TO ?@'%'`, [USER]);
    return a;
  },
  corrupt: async (a, table, key, data) => void (await a.query(`UPDATE ${table} SET data = ? WHERE k = ?`, [data, key])),
  tableExists: async (a, table) => (await a.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]))[0]!.n === 1,
  dropTable: async (a, table) => void (await a.query(`DROP TABLE IF EXISTS ${table}`)),
  killLockHolder: async (a, store, key) => {
    const rows = await a.query('SELECT IS_USED_LOCK(?) AS id', [(store as unknown as MysqlStore).lockName(key)]);
    const id = Number(rows[0]?.id);
    if (!Number.isInteger(id) || id <= 0) throw new Error(`no connection holds the lock of ${key}`);
    await a.query(`KILL ${id}`);
  },
  blockTable: async (table) => {
    const conn = await connect();
    await conn.query(`LOCK TABLES ${table} WRITE`);
    return admin(conn, (c) => c.query('UNLOCK TABLES'));
  },
  sharedConnections: true,
  stopCommand: 'mariadb-admin -u root shutdown',
  downMessage: /ECONNREFUSED|PROTOCOL_CONNECTION_LOST|closed the connection/,
});
