// Stores restarted under load: see README.md.
//
//   node dist/bench/store-restart.js [--store redis,postgres,mysql] [--outages 3] [--down 3] [--sessions 4]
//
// `pso serve` on each store, four sessions incremented without pause, the
// store stopped, kept down `--down` seconds and started again, `--outages`
// times; the timeline of each outage as the clients saw it, and every answer
// checked (a 503 with Retry-After while down, a count never older than
// acknowledged). Redis is a private redis-server; PostgreSQL and MariaDB are
// the machine's own, always started again, even after a failure.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isMain } from 'pso-ts';
import { runOutages, type OutageReport } from '../spec/support/storeOutage.js';
import { cannotRestart, machineDatabase, privateRedis, type StoreService } from '../spec/support/storeServices.js';
import { RESULTS_DIR, environment, runMain, table } from './lib.js';

type Kind = StoreService['kind'];

interface RestartOptions {
  stores: Kind[];
  outages: number;
  downSeconds: number;
  sessions: number;
}

function parse(argv: string[]): RestartOptions {
  const o: RestartOptions = { stores: ['redis', 'postgres', 'mysql'], outages: 3, downSeconds: 3, sessions: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
      return n;
    };
    if (a === '--outages') o.outages = Math.floor(positive());
    else if (a === '--down') o.downSeconds = positive();
    else if (a === '--sessions') o.sessions = Math.floor(positive());
    else if (a === '--store') {
      const names = value().split(',');
      const bad = names.filter((n) => !['redis', 'postgres', 'mysql'].includes(n));
      if (bad.length) throw new Error(`--store: unknown ${bad.join(', ')} (redis, postgres, mysql)`);
      o.stores = names as Kind[];
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const ms = (n: number | undefined) => (n === undefined ? '-' : String(n));

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const env = environment();
  console.log(`store-restart: ${o.outages} outages of ${o.downSeconds} s per store (${o.stores.join(', ')}), ${o.sessions} sessions, PSOSessionStoreTimeout 2, PSOSessionLockTimeout 3; node ${env.node}, ${env.cpus} CPUs`);
  const runs: OutageReport[] = [];
  const skipped: string[] = [];
  for (const kind of o.stores) {
    const why = cannotRestart(kind);
    if (why) {
      skipped.push(`${kind}: ${why}`);
      console.log(`\n${kind}: skipped: ${why}`);
      continue;
    }
    console.log(`\n${kind}:`);
    const service = kind === 'redis' ? await privateRedis() : await machineDatabase(kind);
    try {
      runs.push(await runOutages({ service, outages: o.outages, downMs: o.downSeconds * 1000, sessions: o.sessions, progress: (l) => console.log(`  ${l}`) }));
    } finally {
      await service.dispose();
    }
  }
  const rows = [['store', 'outage', 'stop', 'down', 'first 503', 'start', 'up', 'first 200', 'every session', 'recovered in']];
  for (const r of runs) {
    r.timelines.forEach((t, i) => rows.push([
      r.store, String(i + 1), ms(t.stop), ms(t.down), ms(t.first503), ms(t.start), ms(t.up), ms(t.first200), ms(t.allSessions),
      t.allSessions === undefined ? '-' : `${t.allSessions - t.up} ms`,
    ]));
  }
  console.log(`\nTimelines (ms from the start of the load)\n\n${table(rows)}`);
  console.log('  stop: the stop command issued; down: the store refuses connections; start: the start command issued; up: it accepts them;\n  recovered in: from up to every session answered 200.');
  const totals = [['store', 'answers', '200', '503', 'other', 'acknowledged', 'max latency ms', 'bound ms', 'violations', 'elapsed s']];
  for (const r of runs) {
    const all = Object.values(r.statuses).reduce((a, b) => a + b, 0);
    const other = all - (r.statuses[200] ?? 0) - (r.statuses[503] ?? 0);
    totals.push([r.store, String(all), String(r.statuses[200] ?? 0), String(r.statuses[503] ?? 0), String(other), String(r.acknowledged), String(r.maxLatencyMs), String(r.latencyBoundMs), String(r.violations.length), (r.elapsedMs / 1000).toFixed(0)]);
  }
  console.log(`\n${table(totals)}`);
  for (const r of runs) for (const v of r.violations) console.log(`  VIOLATION (${r.store}): ${v}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'store-restart.json');
  await writeFile(file, `${JSON.stringify({ bench: 'store-restart', date: new Date().toISOString(), env, options: o, runs, skipped }, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), file) || file}`);
  return runs.every((r) => r.violations.length === 0) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
