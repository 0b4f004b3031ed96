// What the index of users' sessions costs each store: the same counter on
// sessions bound to nobody and on sessions logged in (bound to one of 100
// users), where every request also reads its user's generation.
//
//   node dist/bench/user-index.js [--duration 10] [--warmup 3] [--sessions 1000]
//                                 [--connections 32] [--rounds 3] [--only files,memory,sqlite,redis,postgres,mysql]
//
// Each server runs in a child process (dist/bench/user-index-server.js) over a
// fresh backend (a directory, Redis keys under a prefix, tables), the two modes
// measured one after the other, in alternating order per round.
// Results: stdout and .bench-results/user-index.json.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMain } from 'pso-ts';
import { HERE, RESULTS_DIR, consistencyCheck, environment, fmt, measure, parseOptions, runMain, startServer, table, watchdog, type Measured } from './lib.js';

const SERVER_SCRIPT = join(HERE, 'user-index-server.js');
const RESULTS_FILE = join(RESULTS_DIR, 'user-index.json');
const REDIS_URL = 'redis://127.0.0.1:6379/5';
const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

const STORES = ['files', 'memory', 'sqlite', 'redis', 'postgres', 'mysql'] as const;
type Store = (typeof STORES)[number];
type Mode = 'anonymous' | 'users';

const RUN_ID = `${Date.now().toString(36)}_${process.pid}`;
let serial = 0;

/** A fresh place for one server, and how to remove it. */
async function backend(store: Store): Promise<{ directives: Record<string, string>; cleanup: () => Promise<void> }> {
  const name = `pso_ubench_${RUN_ID}_${++serial}`;
  switch (store) {
    case 'files':
    case 'sqlite': {
      const dir = await mkdtemp(join(tmpdir(), 'pso-ubench-'));
      const directives: Record<string, string> = store === 'files' ? { PSOSessionFileLoader_Path: join(dir, 'sessions') } : { PSOSessionStore: `sqlite://${join(dir, 'sessions.db')}` };
      return { directives, cleanup: () => rm(dir, { recursive: true, force: true }) };
    }
    case 'memory':
      return { directives: { PSOSessionStore: 'memory:' }, cleanup: async () => {} };
    case 'redis': {
      const prefix = `${name}:`;
      return {
        directives: { PSOSessionStore: `${REDIS_URL}?prefix=${prefix}` },
        cleanup: async () => {
          const { createClient } = await import('redis');
          const client = await createClient({ url: REDIS_URL }).connect();
          for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length) await client.del(keys);
          await client.close();
        },
      };
    }
    case 'postgres':
      return {
        directives: { PSOSessionStore: `${POSTGRES_URL}?table=${name}` },
        cleanup: async () => {
          const pg = (await import('pg')).default;
          const client = new pg.Client({ connectionString: POSTGRES_URL });
          await client.connect();
          await client.query(`DROP TABLE IF EXISTS "${name}", "${name}_users", "${name}_user_gens"`);
          await client.end();
        },
      };
    case 'mysql':
      return {
        directives: { PSOSessionStore: `${MYSQL_URL}?table=${name}` },
        cleanup: async () => {
          const mysql = await import('mysql2/promise');
          const conn = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
          await conn.query(`DROP TABLE IF EXISTS \`${name}\`, \`${name}_users\`, \`${name}_user_gens\``);
          await conn.end();
        },
      };
  }
}

interface Run extends Measured {
  store: Store;
  mode: Mode;
  round: number;
  load1: number;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseOptions<Store>(argv, (k) => (STORES as readonly string[]).includes(k), undefined, { rounds: 3 });
  const stores = STORES.filter((s) => !o.only || o.only.includes(s));
  watchdog((o.rounds * stores.length * 2 * (o.warmup + o.duration + 60) + 60) * 1000);
  const env = environment();
  console.log(`user-index bench: node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}); ${o.sessions} sessions (100 users), ${o.connections} connections, ` +
    `${o.warmup} s warm-up + ${o.duration} s measured, ${o.rounds} round(s)\n`);
  const runs: Run[] = [];
  const failed: string[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const store of stores) {
      for (const mode of (round % 2 ? ['anonymous', 'users'] : ['users', 'anonymous']) as Mode[]) {
        process.stdout.write(`  round ${round}: ${store}, ${mode} ...`);
        const { directives, cleanup } = await backend(store);
        try {
          const load1 = loadavg()[0]!;
          const server = await startServer(SERVER_SCRIPT, [mode, JSON.stringify({ directives })], `${store} ${mode}`);
          try {
            const r = await measure(server.port, o, false, server.usage);
            console.log(` ${fmt(r.reqPerSec)} req/s`);
            runs.push({ store, mode, round, load1, ...r });
          } finally {
            await server.stop();
          }
        } catch (e) {
          console.log(` FAILED: ${(e as Error).message}`);
          failed.push(`${store} ${mode}: ${(e as Error).message}`);
        } finally {
          await cleanup().catch(() => undefined);
        }
      }
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
  };
  const rows = [['store', 'anonymous req/s', 'logged-in req/s', 'logged-in / anonymous', 'cpu ms/req anon', 'cpu ms/req users', 'db ms/req anon', 'db ms/req users', 'errors', 'load']];
  for (const store of stores) {
    const of = (mode: Mode) => runs.filter((r) => r.store === store && r.mode === mode);
    const [a, u] = [of('anonymous'), of('users')];
    if (!a.length || !u.length) continue;
    // The ratio of each round's pair, measured one after the other: less skewed by the machine's drift.
    const ratios = u.flatMap((x) => a.filter((y) => y.round === x.round).map((y) => x.reqPerSec / y.reqPerSec));
    rows.push([
      store,
      fmt(median(a.map((r) => r.reqPerSec))),
      fmt(median(u.map((r) => r.reqPerSec))),
      fmt(median(ratios), 2),
      fmt(median(a.map((r) => r.serverCpuMsPerRequest ?? NaN)), 3),
      fmt(median(u.map((r) => r.serverCpuMsPerRequest ?? NaN)), 3),
      fmt(median(a.map((r) => r.dbCpuMsPerRequest ?? NaN)), 3),
      fmt(median(u.map((r) => r.dbCpuMsPerRequest ?? NaN)), 3),
      String([...a, ...u].reduce((n, r) => n + r.errors + r.non2xx + r.warmup.errors + r.warmup.non2xx, 0)),
      fmt(median([...a, ...u].map((r) => r.load1)), 1),
    ]);
  }
  console.log(`\n${table(rows)}`);
  console.log('  medians over rounds; logged-in / anonymous: the median of each round\'s ratio of the two runs measured one after the other;\n' +
    '  cpu ms/req: the server process per measured request; db ms/req: the database server processes (postgres, mariadbd, redis-server);\n' +
    '  load: the 1-minute load average when the runs started (other work on the machine skews every figure).');
  // Every answer 200, every count rising, no increment lost.
  const inconsistent = runs.map((r) => consistencyCheck(`${r.store} ${r.mode} round ${r.round}`, r)).filter((c) => !c.pass);
  for (const c of inconsistent) console.log(`  CHECK FAILED: ${c.name}: ${c.detail}`);
  for (const f of failed) console.log(`  FAILED: ${f}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(RESULTS_FILE, JSON.stringify({ env, options: o, runs, failed }, null, 2));
  console.log(`\nresults: ${RESULTS_FILE}`);
  return failed.length || inconsistent.length ? 1 : 0;
}

if (isMain(import.meta.url)) runMain(main);
