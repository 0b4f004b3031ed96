// pso's session stores side by side with the usual Node session stacks, on
// the node:http host: memory (against fastify + @fastify/session and
// express-session), Redis, PostgreSQL, MySQL/MariaDB, and SQLite alone.
//
//   node dist/bench/stores.js [--duration 10] [--warmup 3] [--sessions 1000]
//                             [--connections 32] [--concurrent 200] [--only memory,redis]
//                             [--pause 0] [--rounds 3] [--cpu-prof]
//
// A. throughput: sessions round-robin over the connections, autocannon in this
//    process, each server in a child process (dist/bench/store-servers.js).
//    Every target is measured --rounds times, pso next to its anchor, the
//    order reversed every other round: a shared machine's speed drifts, and
//    a ratio of two runs taken one after the other drifts less.
// B. lost updates: 200 concurrent increments of one session.
// Results: stdout and .bench-results/stores.json.
//
// Every target gets its own Redis keys (DB 5, flushed before and after), SQL
// tables (unique names, dropped after) or SQLite file (deleted after).
import { readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isMain } from 'pso-ts';
import {
  HERE,
  LOST_HEADER,
  LOST_NOTE,
  RESULTS_DIR,
  ROOT,
  concurrentIncrements,
  consistencyCheck,
  environment,
  fmt,
  lostRow,
  measure,
  parseOptions,
  runMain,
  sleep,
  startServer,
  table,
  watchdog,
  type Check,
  type Increments,
  type Measured,
  type Options,
  type RunningServer,
} from './lib.js';

const SERVER_SCRIPT = join(HERE, 'store-servers.js');
const RESULTS_FILE = join(RESULTS_DIR, 'stores.json');

// The services (127.0.0.1 only); Redis DB 5 is flushed before and after each target.
const REDIS_URL = 'redis://127.0.0.1:6379/5';
const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

type Group = 'bare' | 'memory' | 'redis' | 'postgres' | 'mysql' | 'sqlite';
type Kind =
  | 'bare'
  | 'pso-memory'
  | 'fastify-memory'
  | 'express-memory'
  | 'pso-redis'
  | 'express-redis'
  | 'pso-postgres'
  | 'express-postgres'
  | 'pso-mysql'
  | 'express-mysql'
  | 'pso-sqlite';

interface Target {
  kind: Kind;
  group: Group;
  label: string;
  /** For pso rows: the anchor it is measured against, and the ratio it must reach. */
  anchor?: Kind;
  goal?: number;
}

const TARGETS: Target[] = [
  { kind: 'bare', group: 'bare', label: '1. bare node:http, no session' },
  { kind: 'pso-memory', group: 'memory', label: '2. pso memory store', anchor: 'fastify-memory', goal: 1 },
  { kind: 'fastify-memory', group: 'memory', label: '3. fastify + @fastify/session (memory)' },
  { kind: 'express-memory', group: 'memory', label: '4. express-session MemoryStore' },
  { kind: 'pso-redis', group: 'redis', label: '5. pso redis store', anchor: 'express-redis', goal: 1.5 },
  { kind: 'express-redis', group: 'redis', label: '6. express-session + connect-redis' },
  { kind: 'pso-postgres', group: 'postgres', label: '7. pso postgres store', anchor: 'express-postgres', goal: 1.5 },
  { kind: 'express-postgres', group: 'postgres', label: '8. express-session + connect-pg-simple' },
  { kind: 'pso-mysql', group: 'mysql', label: '9. pso mysql store', anchor: 'express-mysql', goal: 1.5 },
  { kind: 'express-mysql', group: 'mysql', label: '10. express-session + express-mysql-session' },
  { kind: 'pso-sqlite', group: 'sqlite', label: '11. pso sqlite store' },
];
const GROUPS: Group[] = ['bare', 'memory', 'redis', 'postgres', 'mysql', 'sqlite'];
/** Part B: every session target (without the label's number). */
const LOST_TARGETS = TARGETS.filter((t) => t.kind !== 'bare').map((t) => ({ ...t, label: t.label.replace(/^\d+\. /, '') }));

const isPso = (k: Kind) => k.startsWith('pso-');

// ---- backends: a fresh place per target, cleaned up after ---------------------------------

const RUN_ID = `${Date.now().toString(36)}_${process.pid}`;
let serial = 0;

/** Admin connections of this process, opened on first use. */
const admin: { redis?: any; pg?: any; mysql?: any } = {};

async function redisAdmin() {
  if (!admin.redis) {
    const { createClient } = await import('redis');
    const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 5000, reconnectStrategy: false } });
    client.on('error', () => undefined);
    await client.connect();
    admin.redis = client;
  }
  return admin.redis;
}

async function pgAdmin() {
  if (!admin.pg) {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    admin.pg = client;
  }
  return admin.pg;
}

async function mysqlAdmin() {
  if (!admin.mysql) {
    const mysql = await import('mysql2/promise');
    const u = new URL(MYSQL_URL);
    admin.mysql = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: u.username, database: u.pathname.slice(1), connectTimeout: 5000 });
  }
  return admin.mysql;
}

async function closeAdmin(): Promise<void> {
  await Promise.allSettled([admin.redis?.quit(), admin.pg?.end(), admin.mysql?.end()]);
}

/** connect-pg-simple's own table.sql, under another name. */
async function createPgSimpleTable(table: string): Promise<void> {
  const sql = await readFile(join(ROOT, 'node_modules', 'connect-pg-simple', 'table.sql'), 'utf8');
  const renamed = sql.replaceAll('"session_pkey"', `"${table}_pkey"`).replaceAll('"IDX_session_expire"', `"${table}_expire_idx"`).replaceAll('"session"', `"${table}"`);
  await (await pgAdmin()).query(renamed);
}

/** Prepares what `kind` stores into; returns its server config and the cleanup. */
async function backend(kind: Kind): Promise<{ config: Record<string, string>; cleanup: () => Promise<void> }> {
  const table = `pso_bench_${RUN_ID}_${++serial}`;
  const none = async () => {};
  switch (kind) {
    case 'pso-redis':
    case 'express-redis': {
      const flush = async () => void (await (await redisAdmin()).flushDb());
      await flush();
      return { config: { url: REDIS_URL, prefix: `bench:${RUN_ID}:` }, cleanup: flush };
    }
    case 'pso-postgres':
    case 'express-postgres': {
      if (kind === 'express-postgres') await createPgSimpleTable(table);
      else await pgAdmin();
      const url = kind === 'pso-postgres' ? `${POSTGRES_URL}?table=${table}` : POSTGRES_URL;
      return { config: { url, table }, cleanup: async () => void (await (await pgAdmin()).query(`DROP TABLE IF EXISTS "${table}"`)) };
    }
    case 'pso-mysql':
    case 'express-mysql': {
      await mysqlAdmin();
      const url = kind === 'pso-mysql' ? `${MYSQL_URL}?table=${table}` : MYSQL_URL;
      return { config: { url, table }, cleanup: async () => void (await (await mysqlAdmin()).query(`DROP TABLE IF EXISTS \`${table}\``)) };
    }
    case 'pso-sqlite': {
      const dir = await mkdtemp(join(tmpdir(), 'pso-bench-sqlite-'));
      return { config: { url: `sqlite://${join(dir, 'sessions.db')}` }, cleanup: () => rm(dir, { recursive: true, force: true }) };
    }
    case 'pso-memory':
      return { config: { url: 'memory:' }, cleanup: none };
    default:
      return { config: {}, cleanup: none };
  }
}

/** Runs `fn` against a fresh server of `kind` over a fresh backend. */
async function withServer<T>(kind: Kind, o: Options<Kind>, profile: boolean, fn: (port: number, server: RunningServer) => Promise<T>): Promise<T> {
  const { config, cleanup } = await backend(kind);
  try {
    const execArgv = profile && o.cpuProf && kind !== 'bare' ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS_DIR, 'profiles', kind)}`] : [];
    const server = await startServer(SERVER_SCRIPT, [kind, JSON.stringify(config)], kind, execArgv);
    try {
      return await fn(server.port, server);
    } finally {
      await server.stop();
    }
  } finally {
    await cleanup();
  }
}

// ---- A and B ---------------------------------------------------------------------------------

interface ThroughputResult extends Measured {
  kind: Kind;
  label: string;
  /** Which round measured it (from 1). */
  round: number;
  /** The 1-minute load average when the target started: other work on the machine skews the numbers. */
  load1: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The run with the median requests/s (the lower middle one of an even count). */
function medianRun<R extends { reqPerSec: number }>(runs: R[]): R | undefined {
  if (!runs.length) return undefined;
  const sorted = [...runs].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[(sorted.length - 1) >> 1];
}

interface LostUpdateResult extends Increments {
  kind: Kind;
  label: string;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseOptions<Kind>(
    argv,
    (k) => GROUPS.includes(k as Group) || TARGETS.some((t) => t.kind === k),
    (k) => (GROUPS.includes(k as Group) ? TARGETS.filter((t) => t.group === k).map((t) => t.kind) : [k as Kind]),
    { rounds: 3 },
  );
  // Everything is bounded: a run that overstays is stopped.
  watchdog((o.rounds * TARGETS.length * (o.warmup + o.duration + o.pause + 60) + LOST_TARGETS.length * 60 + 60) * 1000);

  const wanted = (k: Kind) => !o.only || o.only.includes(k);
  const env = environment();
  const rev = env.git ? `, pso ${env.git.commit.slice(0, 7)}${env.git.dirty ? '+changes' : ''}` : '';
  console.log(`stores bench: node ${env.node}, ${env.cpus} CPUs (${env.cpuModel})${rev}`);
  console.log(`services: ${REDIS_URL}, ${POSTGRES_URL}, ${MYSQL_URL}; SQLite in ${env.tmpdir}`);
  console.log(
    `A. throughput: ${o.sessions} sessions round-robin over ${o.connections} connections, ` +
      `${o.warmup} s warm-up + ${o.duration} s measured per target, ${o.rounds} round${o.rounds === 1 ? '' : 's'}\n`,
  );

  // Each round measures every target once, each pso target next to its anchor; even rounds go in
  // the reverse order, so that neither side of a pair always runs first (or on a warmer machine).
  const runs: ThroughputResult[] = [];
  const failed: { phase: string; kind: Kind; label: string; error: string }[] = [];
  const selected = TARGETS.filter((t) => wanted(t.kind));
  for (let round = 1; round <= o.rounds; round++) {
    if (o.rounds > 1) console.log(`  round ${round} of ${o.rounds}`);
    for (const t of round % 2 === 1 ? selected : [...selected].reverse()) {
      if (o.pause && (runs.length || failed.length)) await sleep(o.pause * 1000);
      process.stdout.write(`  running ${t.label} ...`);
      try {
        const load1 = loadavg()[0]!;
        const r = await withServer(t.kind, o, round === 1, (port, server) => measure(port, o, t.kind === 'bare', server.usage));
        console.log(` ${fmt(r.reqPerSec)} req/s`);
        runs.push({ kind: t.kind, label: t.label, round, load1, ...r });
      } catch (e) {
        console.log(` FAILED: ${(e as Error).message}`);
        failed.push({ phase: `throughput, round ${round}`, kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
      }
    }
  }

  // A target's row is its median run (every column from that one run); a pso row's ratio is the
  // median of its per-round ratios, each from two runs measured one after the other.
  const runsOf = (k: Kind | undefined) => runs.filter((r) => r.kind === k);
  const results = selected.map((t) => medianRun(runsOf(t.kind))).filter((r): r is ThroughputResult => r !== undefined);
  const ratios = (t: Target): number[] => {
    const mine = runsOf(t.kind);
    const theirs = runsOf(t.anchor);
    return mine.flatMap((r) => theirs.filter((a) => a.round === r.round).map((a) => r.reqPerSec / a.reqPerSec));
  };
  const by = (k: Kind | undefined) => results.find((r) => r.kind === k);
  /** Server and database CPU time per measured request. */
  const cpuWithDb = (r: ThroughputResult) => (r.serverCpuMsPerRequest ?? 0) + (r.dbCpuMsPerRequest ?? 0);
  const bare = by('bare');
  const checks: Check[] = [];
  const rows = [['target', 'req/s', 'runs', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'x anchor', 'goal', 'x bare', 'cpu ms/req', 'cpu x', 'db ms/req', 'cpu+db x', 'busy %', 'acked', 'applied', 'not-incr', 'load']];
  for (const r of results) {
    const t = TARGETS.find((t) => t.kind === r.kind)!;
    const anchor = by(t.anchor);
    const xs = t.anchor ? ratios(t) : [];
    const x = xs.length ? median(xs) : undefined;
    let goal = '-';
    if (x !== undefined && t.goal !== undefined) {
      const pass = x >= t.goal;
      goal = `>=${t.goal}x ${pass ? 'PASS' : 'FAIL'}`;
      checks.push({
        name: `${r.label} >= ${t.goal}x ${anchor!.label.replace(/^\d+\. /, '')}`,
        pass,
        detail: `${fmt(x, 2)}x (median of ${xs.length} round${xs.length === 1 ? '' : 's'}: ${xs.map((v) => fmt(v, 2)).join(', ')})`,
      });
    }
    const all = runsOf(r.kind);
    rows.push([
      r.label,
      fmt(r.reqPerSec),
      all.length > 1 ? all.map((v) => fmt(v.reqPerSec)).join('/') : '-',
      fmt(r.latencyP50),
      fmt(r.latencyP99),
      String(all.reduce((n, v) => n + v.errors + v.warmup.errors, 0)),
      String(all.reduce((n, v) => n + v.non2xx + v.warmup.non2xx, 0)),
      x === undefined ? '-' : fmt(x, 2),
      goal,
      bare && r !== bare ? fmt(r.reqPerSec / bare.reqPerSec, 2) : '-',
      fmt(r.serverCpuMsPerRequest, 3),
      anchor?.serverCpuMsPerRequest && r.serverCpuMsPerRequest ? fmt(anchor.serverCpuMsPerRequest / r.serverCpuMsPerRequest, 2) : '-',
      fmt(r.dbCpuMsPerRequest, 3),
      anchor && r.dbCpuMsPerRequest && anchor.dbCpuMsPerRequest ? fmt(cpuWithDb(anchor) / cpuWithDb(r), 2) : '-',
      r.machineBusy === undefined ? '-' : fmt(r.machineBusy * 100),
      String(r.check.acked),
      r.check.applied === undefined ? '-' : String(r.check.applied),
      String(r.check.notIncreasing),
      fmt(r.load1, 1),
    ]);
  }
  console.log(`\n${table(rows)}`);
  console.log(
    '  req/s: the median run (its other columns are from that run too); runs: every round\'s req/s, in round order;\n' +
      '  errors/non-2xx: warm-up + measured, all rounds; x anchor: the median over rounds of pso req/s over the row it is\n' +
      '  paired with (2/3, 5/6, 7/8, 9/10), the two measured one after the other in each round;\n' +
      '  cpu ms/req: CPU time of the server process per measured request (its own work only, so less skewed by the rest of\n' +
      '  the machine than req/s; the database and the client are not in it); cpu x: the anchor\'s over pso\'s;\n' +
      '  db ms/req: CPU time of the database server processes (postgres, mariadbd, redis-server) per measured request,\n' +
      '  shared with whatever else uses them; cpu+db x: the anchor\'s server and database CPU per request over pso\'s;\n' +
      '  busy %: how busy the machine\'s CPUs were while measured;\n' +
      '  acked: 200 responses seen; applied: increments found in the store afterwards (may exceed acked by requests\n' +
      '  in flight when a run stops); not-incr: responses whose count did not grow; load: 1-minute load average at the\n' +
      `  start of the target (${env.cpus} CPUs shared by client, server and database).`,
  );
  // Anchors without locks may lose an update when a slow request overlaps the next one of its session: noted only.
  for (const r of runs) {
    const label = o.rounds > 1 ? `${r.label} (round ${r.round})` : r.label;
    checks.push({ ...consistencyCheck(label, r), informational: r.kind !== 'bare' && !isPso(r.kind) });
  }

  console.log(`\nB. lost updates: ${o.concurrent} concurrent increments of one session (one connection each)\n`);
  const lost: LostUpdateResult[] = [];
  for (const t of LOST_TARGETS.filter((t) => wanted(t.kind))) {
    try {
      const r = await withServer(t.kind, o, false, (port) => concurrentIncrements(port, o.concurrent));
      lost.push({ kind: t.kind, label: t.label, ...r });
    } catch (e) {
      console.log(`  ${t.label}: FAILED: ${(e as Error).message}`);
      failed.push({ phase: 'lost updates', kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
    }
  }
  const lostRows = [LOST_HEADER];
  for (const r of lost) {
    lostRows.push(lostRow(r.label, r));
    if (isPso(r.kind)) {
      checks.push({ name: `lost updates, ${r.label}: exactly ${r.requests} kept`, pass: r.kept === r.requests, detail: `kept ${r.kept}` });
    }
  }
  console.log(table(lostRows));
  console.log(LOST_NOTE);
  await closeAdmin();

  for (const f of failed) checks.push({ name: `${f.phase}, ${f.label}: ran`, pass: false, detail: f.error.split('\n')[0]! });

  console.log('\nChecks');
  for (const c of checks) console.log(`  ${c.pass ? 'PASS' : c.informational ? 'NOTE' : 'FAIL'}  ${c.name}: ${c.detail}`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const services = { redis: REDIS_URL, postgres: POSTGRES_URL, mysql: MYSQL_URL };
  const report = { bench: 'stores', date: new Date().toISOString(), env, services, options: o, throughput: results, runs, lostUpdates: lost, failed, checks };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
  if (o.cpuProf) console.log(`CPU profiles: ${relative(process.cwd(), join(RESULTS_DIR, 'profiles'))}`);
  return checks.every((c) => c.pass || c.informational) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
