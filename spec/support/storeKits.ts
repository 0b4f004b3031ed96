// The stores the specs of users' sessions and id rotation run on, each as the
// directives that choose it, with what a spec needs to set it up, skip it
// and clean up after it: files, memory, SQLite, Redis, PostgreSQL, MySQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { closeStores, openStore, type SessionStore } from '../../src/index.js';

/** One store, as a spec sees it. */
export interface StoreKit {
  label: string;
  /** Whether several processes can share it (every store but memory). */
  shared: boolean;
  /** Why its suite is skipped (a service that is down), or nothing. */
  skip(): string | undefined;
  /** Makes a fresh place for one suite (a directory, a table, a key prefix) and returns its directives. */
  setUp(): Promise<Record<string, string>>;
  /** The store those directives name, opened in this process (the file store for files). */
  open(directives: Record<string, string>): Promise<SessionStore>;
  /** Removes what {@link setUp} made. */
  tearDown(): Promise<void>;
}

const run = `${process.pid}_${Date.now() % 1_000_000}`;
let counter = 0;

function tempKit(label: string, directives: (dir: string) => Record<string, string>, shared = true): StoreKit {
  let dir: string | undefined;
  return {
    label,
    shared,
    skip: () => undefined,
    setUp: async () => {
      dir = mkdtempSync(join(tmpdir(), 'pso-users-'));
      return directives(dir);
    },
    open: async (d) => {
      if (d.PSOSessionFileLoader_Path) {
        const { FileStore } = await import('../../src/session/stores/FileStore.js');
        return new FileStore(d.PSOSessionFileLoader_Path, { parents: false });
      }
      return (await openStore(d.PSOSessionStore!))!;
    },
    tearDown: async () => {
      await closeStores();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function sqlKit(label: string, skipVar: string, base: string, drop: (tables: string[]) => Promise<void>): StoreKit {
  const tables: string[] = [];
  return {
    label,
    shared: true,
    skip: () => process.env[skipVar] || undefined,
    setUp: async () => {
      const table = `pso_users_${run}_${++counter}`;
      tables.push(table);
      return { PSOSessionStore: `${base}?table=${table}` };
    },
    open: async (d) => (await openStore(d.PSOSessionStore!))!,
    tearDown: async () => {
      await closeStores();
      await drop(tables.splice(0).flatMap((t) => [t, `${t}_users`, `${t}_user_gens`])).catch(() => undefined);
    },
  };
}

/** Every store, in the order the suites run. */
export const STORE_KITS: StoreKit[] = [
  tempKit('files', (dir) => ({ PSOSessionFileLoader_Path: join(dir, 'sessions') })),
  tempKit('memory:', () => ({ PSOSessionStore: 'memory:' }), false),
  tempKit('SQLite', (dir) => ({ PSOSessionStore: `sqlite://${join(dir, 'sessions.db')}` })),
  (() => {
    const prefixes: string[] = [];
    return {
      label: 'Redis',
      shared: true,
      skip: () => process.env.PSO_REDIS_SKIP || undefined,
      setUp: async () => {
        const prefix = `spec_users_${run}_${++counter}:`;
        prefixes.push(prefix);
        return { PSOSessionStore: `redis://127.0.0.1:6379/0?prefix=${prefix}` };
      },
      open: async (d: Record<string, string>) => (await openStore(d.PSOSessionStore!))!,
      tearDown: async () => {
        await closeStores();
        const client = await createClient({ url: 'redis://127.0.0.1:6379/0' }).connect();
        try {
          for (const prefix of prefixes.splice(0)) {
            for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length) await client.del(keys);
          }
        } finally {
          await client.close();
        }
      },
    } satisfies StoreKit;
  })(),
  sqlKit('PostgreSQL', 'PSO_POSTGRES_SKIP', 'postgres://postgres@127.0.0.1:5432/test', async (tables) => {
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await client.connect();
    try {
      await client.query(`DROP TABLE IF EXISTS ${tables.join(', ')}`);
    } finally {
      await client.end();
    }
  }),
  sqlKit('MySQL', 'PSO_MYSQL_SKIP', 'mysql://root@127.0.0.1:3306/test', async (tables) => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
    try {
      await conn.query(`DROP TABLE IF EXISTS ${tables.join(', ')}`);
    } finally {
      await conn.end();
    }
  }),
];
