// pso serve with two workers against one, on the file store: does a second
// process on the same port and session directory serve more?
//
//   node dist/bench/workers.js [--duration 10] [--warmup 3] [--sessions 1000]
//                              [--connections 32] [--concurrent 200] [--rounds 3]
//                              [--only workers-1,workers-2,workers-1-process-lock] [--pause 0]
//
// Each target is `pso serve dist/bench/counterHandler.js --workers N` in a child
// process (the CLI, as deployed), sessions in a fresh directory under the temp
// directory, with the default lock (a lock file per session, held across the
// workers, as in the one-worker run; the one-worker run with
// `PSOSessionLock process`, an in-process lock only, is shown for reference).
// A. throughput: sessions round-robin over the connections (autocannon in this
//    process), every target measured --rounds times, the order reversed every
//    other round; the ratio is the median of the per-round ratios.
// B. lost updates: 200 concurrent increments of one session (each on its own
//    connection, so they go round the workers): the count must end at 200.
// Results: stdout and .bench-results/workers.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  table,
  watchdog,
  type Check,
  type Increments,
  type Measured,
  type Options,
} from './lib.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');
const HANDLER = join(HERE, 'counterHandler.js');
const RESULTS_FILE = join(RESULTS_DIR, 'workers.json');

type Kind = 'workers-1' | 'workers-2' | 'workers-1-process-lock';

interface Target {
  kind: Kind;
  label: string;
  workers: number;
  lock: 'file' | 'process';
}

const TARGETS: Target[] = [
  { kind: 'workers-1', label: '1. pso serve --workers 1 (default lock, across processes)', workers: 1, lock: 'file' },
  { kind: 'workers-2', label: '2. pso serve --workers 2 (default lock, across processes)', workers: 2, lock: 'file' },
  { kind: 'workers-1-process-lock', label: '3. pso serve --workers 1 (PSOSessionLock process, reference)', workers: 1, lock: 'process' },
];

/** A running `pso serve`, started from the command line as a user would. */
interface Server {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const servers = new Set<ChildProcess>();

async function startServe(target: Target, dir: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // +30 ms per node start, and nothing to do with serving.
  delete env.NODE_EXTRA_CA_CERTS;
  for (const k of Object.keys(env)) if (k.startsWith('PSO')) delete env[k];
  const args = [CLI, 'serve', HANDLER, '--port', '0', '--workers', String(target.workers), '-D', `PSOSessionFileLoader_Path=${dir}`, '-D', `PSOSessionLock=${target.lock}`];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(child);
  // Its log (the primary says when it stops) is shown only when something went wrong.
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      servers.delete(child);
      if (code !== 0 && log) process.stderr.write(`\n${target.kind} exited with code ${code}:\n${log}`);
      resolve();
    }));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target.kind} did not start within 20 s: ${out}${log}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(() => reject(new Error(`${target.kind} exited before listening: ${out}${log}`)));
  });
  return { port, pid: child.pid!, stop };
}

/** CPU time (user + system, ms) of a process and its children, from /proc. */
async function treeCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stats = await Promise.all(
      (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(async (p) => {
        try {
          const stat = await readFile(`/proc/${p}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return { pid: Number(p), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
        } catch {
          return undefined;
        }
      }),
    );
    const ticks = stats.filter((s) => s && (s.pid === pid || s.ppid === pid)).reduce((n, s) => n + s!.ticks, 0);
    return ticks * 10;
  } catch {
    return undefined;
  }
}

interface ThroughputResult extends Measured {
  kind: Kind;
  label: string;
  round: number;
  load1: number;
  /** CPU of the server's processes (primary and workers) per request, over the whole run (creation, warm-up, measure, read-back). */
  treeCpuMsPerRequest: number | undefined;
}

interface LostUpdateResult extends Increments {
  kind: Kind;
  label: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function withServe<T>(target: Target, fn: (server: Server) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `pso-bench-${target.kind}-`));
  try {
    const server = await startServe(target, dir);
    try {
      return await fn(server);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function throughput(target: Target, o: Options<Kind>, round: number): Promise<ThroughputResult> {
  const load1 = loadavg()[0]!;
  return withServe(target, async (server) => {
    const before = await treeCpuMs(server.pid);
    const r = await measure(server.port, o);
    const after = await treeCpuMs(server.pid);
    const requests = r.requests + r.warmup.requests + 2 * o.sessions;
    const treeCpuMsPerRequest = before !== undefined && after !== undefined ? (after - before) / requests : undefined;
    return { kind: target.kind, label: target.label, round, load1, treeCpuMsPerRequest, ...r };
  });
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseOptions<Kind>(argv, (k) => TARGETS.some((t) => t.kind === k), (k) => [k as Kind], { rounds: 3 });
  watchdog((o.rounds * TARGETS.length * (o.warmup + o.duration + o.pause + 60) + TARGETS.length * 60 + 60) * 1000);
  const wanted = (k: Kind) => !o.only || o.only.includes(k);
  const env = environment();
  const rev = env.git ? `, pso ${env.git.commit.slice(0, 7)}${env.git.dirty ? '+changes' : ''}` : '';
  console.log(`workers bench: node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}), sessions in ${env.tmpdir}${rev}`);
  console.log(
    `A. throughput: ${o.sessions} sessions round-robin over ${o.connections} connections, ` +
      `${o.warmup} s warm-up + ${o.duration} s measured per target, ${o.rounds} round${o.rounds === 1 ? '' : 's'}\n`,
  );

  const selected = TARGETS.filter((t) => wanted(t.kind));
  const runs: ThroughputResult[] = [];
  const failed: { phase: string; kind: Kind; label: string; error: string }[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    if (o.rounds > 1) console.log(`  round ${round} of ${o.rounds}`);
    for (const t of round % 2 === 1 ? selected : [...selected].reverse()) {
      if (o.pause && (runs.length || failed.length)) await sleep(o.pause * 1000);
      process.stdout.write(`  running ${t.label} ...`);
      try {
        const r = await throughput(t, o, round);
        console.log(` ${fmt(r.reqPerSec)} req/s`);
        runs.push(r);
      } catch (e) {
        console.log(` FAILED: ${(e as Error).message}`);
        failed.push({ phase: `throughput, round ${round}`, kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
      }
    }
  }

  const runsOf = (k: Kind) => runs.filter((r) => r.kind === k);
  const medianRun = (k: Kind) => [...runsOf(k)].sort((a, b) => a.reqPerSec - b.reqPerSec)[(runsOf(k).length - 1) >> 1];
  const ratiosTo = (k: Kind, anchor: Kind) => runsOf(k).flatMap((r) => runsOf(anchor).filter((a) => a.round === r.round).map((a) => r.reqPerSec / a.reqPerSec));
  const rows = [['target', 'req/s', 'runs', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'x 1 worker', 'cpu ms/req', 'busy %', 'acked', 'applied', 'not-incr', 'load']];
  const checks: Check[] = [];
  for (const t of selected) {
    const r = medianRun(t.kind);
    if (!r) continue;
    const xs = t.kind === 'workers-1' ? [] : ratiosTo(t.kind, 'workers-1');
    rows.push([
      r.label,
      fmt(r.reqPerSec),
      runsOf(t.kind).map((v) => fmt(v.reqPerSec)).join('/'),
      fmt(r.latencyP50),
      fmt(r.latencyP99),
      String(runsOf(t.kind).reduce((n, v) => n + v.errors + v.warmup.errors, 0)),
      String(runsOf(t.kind).reduce((n, v) => n + v.non2xx + v.warmup.non2xx, 0)),
      xs.length ? fmt(median(xs), 2) : '-',
      fmt(r.treeCpuMsPerRequest, 3),
      r.machineBusy === undefined ? '-' : fmt(r.machineBusy * 100),
      String(r.check.acked),
      r.check.applied === undefined ? '-' : String(r.check.applied),
      String(r.check.notIncreasing),
      fmt(r.load1, 1),
    ]);
    for (const run of runsOf(t.kind)) checks.push(consistencyCheck(`${t.label}, round ${run.round}`, run));
  }
  console.log(`\n${table(rows)}`);
  const two = ratiosTo('workers-2', 'workers-1');
  if (two.length) console.log(`\n  --workers 2 / --workers 1: ${fmt(median(two), 2)}x (median of ${two.map((v) => fmt(v, 2)).join(', ')})`);
  console.log(
    '  req/s: the median run (its other columns are from that run too); runs: every round\'s req/s, in round order;\n' +
      '  x 1 worker: the median over rounds of req/s over row 1\'s, the two measured one after the other;\n' +
      '  cpu ms/req: CPU of the server\'s processes (primary and workers) per request over the whole run (the client,\n' +
      '  autocannon in this process, shares the machine); busy %: the machine\'s CPUs while measured;\n' +
      '  acked: 200s seen; applied: increments found in the sessions afterwards; not-incr: counts that did not grow.',
  );

  console.log(`\nB. lost updates: ${o.concurrent} concurrent increments of one session (one connection each)\n`);
  const lost: LostUpdateResult[] = [];
  for (const t of selected) {
    try {
      lost.push({ kind: t.kind, label: t.label.replace(/^\d+\. /, ''), ...(await withServe(t, (s) => concurrentIncrements(s.port, o.concurrent))) });
    } catch (e) {
      console.log(`  ${t.label}: FAILED: ${(e as Error).message}`);
      failed.push({ phase: 'lost updates', kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
    }
  }
  const lostRows = [LOST_HEADER];
  for (const r of lost) {
    lostRows.push(lostRow(r.label, r));
    checks.push({ name: `lost updates, ${r.label}: exactly ${r.requests} kept`, pass: r.kept === r.requests, detail: `kept ${r.kept}` });
  }
  console.log(table(lostRows));
  console.log(LOST_NOTE);

  for (const f of failed) checks.push({ name: `${f.phase}, ${f.label}: ran`, pass: false, detail: f.error.split('\n')[0]! });
  console.log('\nChecks');
  for (const c of checks) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const report = { bench: 'workers', date: new Date().toISOString(), env, options: o, throughput: runs, ratio: two.length ? median(two) : undefined, lostUpdates: lost, failed, checks };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
  for (const c of servers) c.kill('SIGKILL');
  return checks.every((c) => c.pass) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
