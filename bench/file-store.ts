// File session stores side by side: pso's CookieFileImpl against
// express-session + session-file-store, with a bare node:http anchor.
//
//   node dist/bench/file-store.js [--duration 10] [--warmup 3] [--sessions 1000]
//                                 [--connections 32] [--concurrent 200] [--only pso,express]
//                                 [--pause 0] [--cpu-prof]
//
// A. throughput: sessions round-robin over the connections, autocannon in this
//    process, each server in a child process (dist/bench/servers.js).
// B. lost updates: 200 concurrent increments of one session.
// Results: stdout and .bench-results/file-store.json.
//
// Before each target a probe times creating files in the temp directory: on
// ext4, inode allocation slows down for minutes after many files were
// deleted, and every save here creates and deletes one. --pause waits
// between targets.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from 'pso-ts';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const SERVER_SCRIPT = join(HERE, 'servers.js');
const RESULTS_DIR = join(ROOT, '.bench-results');
const RESULTS_FILE = join(RESULTS_DIR, 'file-store.json');

type Kind = 'bare' | 'pso' | 'pso-filelock' | 'pso-fsync' | 'express';

const THROUGHPUT_TARGETS: { kind: Kind; label: string }[] = [
  { kind: 'bare', label: '1. bare node:http, no session' },
  { kind: 'pso', label: '2. pso file store' },
  { kind: 'pso-filelock', label: '3. pso, PSOSessionLock file' },
  { kind: 'pso-fsync', label: '4. pso, Fsync on' },
  { kind: 'express', label: '5. express-session + file-store' },
];
const LOST_UPDATE_TARGETS: { kind: Kind; label: string }[] = [
  { kind: 'pso', label: 'pso file store' },
  { kind: 'pso-fsync', label: 'pso, Fsync on' },
  { kind: 'pso-filelock', label: 'pso, PSOSessionLock file (extra)' },
  { kind: 'express', label: 'express-session + file-store' },
];

interface Options {
  duration: number;
  warmup: number;
  sessions: number;
  connections: number;
  concurrent: number;
  only: Kind[] | undefined;
  pause: number;
  cpuProf: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { duration: 10, warmup: 3, sessions: 1000, connections: 32, concurrent: 200, only: undefined, pause: 0, cpuProf: false };
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
    if (a === '--duration') o.duration = positive();
    else if (a === '--warmup') o.warmup = positive();
    else if (a === '--sessions') o.sessions = Math.floor(positive());
    else if (a === '--connections') o.connections = Math.floor(positive());
    else if (a === '--concurrent') o.concurrent = Math.floor(positive());
    else if (a === '--only') {
      o.only = value().split(',') as Kind[];
      const unknown = o.only.filter((k) => !THROUGHPUT_TARGETS.some((t) => t.kind === k));
      if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')}`);
    }
    else if (a === '--pause') o.pause = positive();
    else if (a === '--cpu-prof') o.cpuProf = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---- servers in child processes ------------------------------------------------

interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

function startServer(kind: Kind, dir: string, execArgv: string[] = []): Promise<RunningServer> {
  const child = fork(SERVER_SCRIPT, [kind, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => children.delete(child));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${kind} server did not start within 15 s`)), 15_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stop();
      reject(e);
    };
    const early = (code: number | null) => fail(new Error(`${kind} server exited (code ${code}) before listening`));
    child.once('error', fail);
    child.once('exit', early);
    child.once('message', (m: any) => {
      clearTimeout(timer);
      child.off('exit', early);
      if (typeof m?.port !== 'number') return fail(new Error(`${kind} server sent ${JSON.stringify(m)}`));
      resolve({ port: m.port, stop });
    });
  });
}

// ---- plain HTTP ------------------------------------------------------------------

interface Reply {
  status: number;
  body: string;
  cookie: string | undefined;
}

function get(port: number, path: string, cookie: string | undefined, agent: Agent, timeoutMs = 15_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {}, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs `fn` on 0..n-1 with at most `limit` at a time. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function createSessions(kind: Kind, port: number, n: number, limit: number): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: limit });
  const cookies = new Array<string>(n);
  try {
    await pool(n, limit, async (i) => {
      const r = await get(port, '/', undefined, agent);
      if (r.status !== 200) throw new Error(`creating session ${i}: status ${r.status}: ${r.body.trim()}`);
      // The bare server sets no cookie: send one of the same size anyway.
      const cookie = kind === 'bare' ? `sid=${String(i).padStart(27, '0')}` : r.cookie;
      if (!cookie) throw new Error(`creating session ${i}: no Set-Cookie`);
      cookies[i] = cookie;
    });
  } finally {
    agent.destroy();
  }
  if (new Set(cookies).size !== n) throw new Error('session cookies are not distinct');
  return cookies;
}

/** Microseconds to create (and close) one empty file in the temp directory, over 50 files. */
function createProbe(): number {
  const dir = mkdtempSync(join(tmpdir(), 'pso-bench-probe-'));
  try {
    const started = performance.now();
    for (let i = 0; i < 50; i++) closeSync(openSync(join(dir, String(i)), 'wx', 0o600));
    return ((performance.now() - started) * 1000) / 50;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function gitState(): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- A. throughput -------------------------------------------------------------------

/** What the client saw, across warm-up and measurement. */
interface Tally {
  next: number;
  last: Float64Array;
  ok: number;
  other: number;
  notIncreasing: number;
}

interface LoadResult {
  reqPerSec: number;
  reqPerSecStddev: number;
  latencyP50: number;
  latencyP99: number;
  latencyMean: number;
  requests: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function load(port: number, cookies: string[], seconds: number, connections: number, tally: Tally): Promise<LoadResult> {
  const n = cookies.length;
  const r = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        path: '/',
        setupRequest(req: any, ctx: any) {
          const i = tally.next++ % n;
          ctx.i = i;
          req.headers.cookie = cookies[i];
          return req;
        },
        onResponse(status: number, body: string, ctx: any) {
          if (status !== 200) {
            tally.other++;
            return;
          }
          tally.ok++;
          const count = Number.parseInt(body, 10);
          if (!(count > tally.last[ctx.i]!)) tally.notIncreasing++;
          else tally.last[ctx.i] = count;
        },
      },
    ],
  });
  return {
    reqPerSec: r.requests.mean,
    reqPerSecStddev: r.requests.stddev,
    latencyP50: r.latency.p50,
    latencyP99: r.latency.p99,
    latencyMean: r.latency.mean,
    requests: r.requests.total,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

interface ThroughputResult extends LoadResult {
  kind: Kind;
  label: string;
  /** File creation cost just before the run (see createProbe). */
  createProbeUs: number;
  warmup: LoadResult;
  check: {
    /** 200 responses seen by the client (warm-up and measurement). */
    acked: number;
    /** Increments found in the store afterwards (sum of counts minus the creating requests). */
    applied: number | undefined;
    /** Responses whose count was not above the last count seen for that session. */
    notIncreasing: number;
    /** Sessions whose stored count is below the last count a client was shown. */
    regressed: number | undefined;
  };
}

async function throughput(target: { kind: Kind; label: string }, o: Options): Promise<ThroughputResult> {
  const createProbeUs = createProbe();
  const dir = await mkdtemp(join(tmpdir(), `pso-bench-${target.kind}-`));
  const execArgv =
    o.cpuProf && target.kind.startsWith('pso') ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS_DIR, 'profiles', target.kind)}`] : [];
  const server = await startServer(target.kind, dir, execArgv);
  try {
    const cookies = await createSessions(target.kind, server.port, o.sessions, o.connections);
    const tally: Tally = { next: 0, last: new Float64Array(cookies.length).fill(1), ok: 0, other: 0, notIncreasing: 0 };
    if (target.kind === 'bare') tally.last.fill(0);
    const warmup = await load(server.port, cookies, o.warmup, o.connections, tally);
    const measured = await load(server.port, cookies, o.duration, o.connections, tally);
    let applied: number | undefined;
    let regressed: number | undefined;
    if (target.kind !== 'bare') {
      applied = 0;
      regressed = 0;
      const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
      try {
        await pool(cookies.length, o.connections, async (i) => {
          const r = await get(server.port, '/peek', cookies[i], agent);
          if (r.status !== 200) throw new Error(`reading session ${i}: status ${r.status}`);
          const count = Number.parseInt(r.body, 10);
          applied! += count - 1;
          if (count < tally.last[i]!) regressed!++;
        });
      } finally {
        agent.destroy();
      }
    }
    return {
      kind: target.kind,
      label: target.label,
      createProbeUs,
      ...measured,
      warmup,
      check: { acked: tally.ok, applied, notIncreasing: tally.notIncreasing, regressed },
    };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- B. lost updates -------------------------------------------------------------------

interface LostUpdateResult {
  kind: Kind;
  label: string;
  requests: number;
  /** The count after the creating request. */
  initial: number;
  /** The count read afterwards. */
  final: number;
  /** Increments that were kept: final - initial. */
  kept: number;
  ok200: number;
  statuses: Record<string, number>;
  failures: number;
  elapsedMs: number;
}

async function lostUpdates(target: { kind: Kind; label: string }, o: Options): Promise<LostUpdateResult> {
  const dir = await mkdtemp(join(tmpdir(), `pso-bench-lost-${target.kind}-`));
  const server = await startServer(target.kind, dir);
  const agent = new Agent({ keepAlive: false, maxSockets: o.concurrent });
  try {
    const first = await get(server.port, '/', undefined, agent);
    if (first.status !== 200 || !first.cookie) throw new Error(`creating the session: status ${first.status}, cookie ${first.cookie}`);
    const initial = Number.parseInt(first.body, 10);
    const statuses: Record<string, number> = {};
    let failures = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrent }, () =>
        get(server.port, '/', first.cookie, agent, 30_000).then(
          (r) => void (statuses[r.status] = (statuses[r.status] ?? 0) + 1),
          () => void failures++,
        ),
      ),
    );
    const elapsedMs = performance.now() - started;
    const last = await get(server.port, '/peek', first.cookie, agent);
    if (last.status !== 200) throw new Error(`reading the counter: status ${last.status}`);
    const final = Number.parseInt(last.body, 10);
    return {
      kind: target.kind,
      label: target.label,
      requests: o.concurrent,
      initial,
      final,
      kept: final - initial,
      ok200: statuses['200'] ?? 0,
      statuses,
      failures,
      elapsedMs,
    };
  } finally {
    agent.destroy();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- report ------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseOptions(argv);
  // Everything is bounded: a run that overstays is stopped.
  const budgetMs = (THROUGHPUT_TARGETS.length * (o.warmup + o.duration + o.pause + 60) + LOST_UPDATE_TARGETS.length * 60 + 60) * 1000;
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${budgetMs / 1000} s; stopping`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(2);
  }, budgetMs);
  watchdog.unref();

  const wanted = (k: Kind) => !o.only || o.only.includes(k);
  const env = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    tmpdir: tmpdir(),
    git: gitState(),
  };
  const rev = env.git ? `, pso ${env.git.commit.slice(0, 7)}${env.git.dirty ? '+changes' : ''}` : '';
  console.log(`file-store bench: node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}), sessions in ${env.tmpdir}${rev}`);
  console.log(
    `A. throughput: ${o.sessions} sessions round-robin over ${o.connections} connections, ` +
      `${o.warmup} s warm-up + ${o.duration} s measured per target\n`,
  );

  const results: ThroughputResult[] = [];
  const failed: { phase: string; kind: Kind; label: string; error: string }[] = [];
  for (const t of THROUGHPUT_TARGETS.filter((t) => wanted(t.kind))) {
    if (o.pause && (results.length || failed.length)) await sleep(o.pause * 1000);
    process.stdout.write(`  running ${t.label} ...`);
    try {
      const r = await throughput(t, o);
      console.log(` ${fmt(r.reqPerSec)} req/s`);
      results.push(r);
    } catch (e) {
      console.log(` FAILED: ${(e as Error).message}`);
      failed.push({ phase: 'throughput', kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
    }
  }
  const by = (k: Kind) => results.find((r) => r.kind === k);
  const bare = by('bare');
  const express = by('express');
  const rows = [['target', 'req/s', '±sd', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'x express', 'x bare', 'acked', 'applied', 'not-incr', 'mkfile us']];
  for (const r of results) {
    rows.push([
      r.label,
      fmt(r.reqPerSec),
      fmt(r.reqPerSecStddev),
      fmt(r.latencyP50),
      fmt(r.latencyP99),
      String(r.errors + r.warmup.errors),
      String(r.non2xx + r.warmup.non2xx),
      express && r !== express ? fmt(r.reqPerSec / express.reqPerSec, 2) : '-',
      bare && r !== bare ? fmt(r.reqPerSec / bare.reqPerSec, 2) : '-',
      String(r.check.acked),
      r.check.applied === undefined ? '-' : String(r.check.applied),
      String(r.check.notIncreasing),
      fmt(r.createProbeUs),
    ]);
  }
  console.log(`\n${table(rows)}`);
  console.log(
    '  errors/non-2xx: warm-up + measured; acked: 200 responses seen; applied: increments found in the store afterwards\n' +
      '  (may exceed acked by requests in flight when a run stops); not-incr: responses whose count did not grow;\n' +
      '  mkfile us: cost of creating one file in the temp directory just before the target ran.',
  );

  const checks: { name: string; pass: boolean; detail: string }[] = [];
  const pso = by('pso');
  const fsync = by('pso-fsync');
  if (pso && express) {
    const x = pso.reqPerSec / express.reqPerSec;
    checks.push({ name: 'pso >= 3x express-session (item 2 / item 5)', pass: x >= 3, detail: `${fmt(x, 2)}x` });
  }
  if (fsync && express) {
    const x = fsync.reqPerSec / express.reqPerSec;
    checks.push({ name: 'pso fsync >= express-session (item 4 / item 5)', pass: x >= 1, detail: `${fmt(x, 2)}x` });
  }
  for (const r of results) {
    const clean = r.errors + r.warmup.errors + r.non2xx + r.warmup.non2xx === 0 && r.check.notIncreasing === 0;
    const consistent = r.check.applied === undefined || (r.check.applied >= r.check.acked && r.check.regressed === 0);
    checks.push({
      name: `${r.label}: all 200, counters increase${r.check.applied === undefined ? '' : ', none lost'}`,
      pass: clean && consistent,
      detail:
        `errors ${r.errors + r.warmup.errors}, non-2xx ${r.non2xx + r.warmup.non2xx}, not increasing ${r.check.notIncreasing}` +
        (r.check.applied === undefined ? '' : `, applied ${r.check.applied} vs acked ${r.check.acked}, regressed ${r.check.regressed}`),
    });
  }

  console.log(`\nB. lost updates: ${o.concurrent} concurrent increments of one session (one connection each)\n`);
  const lost: LostUpdateResult[] = [];
  for (const t of LOST_UPDATE_TARGETS.filter((t) => wanted(t.kind))) {
    try {
      lost.push(await lostUpdates(t, o));
    } catch (e) {
      console.log(`  ${t.label}: FAILED: ${(e as Error).message}`);
      failed.push({ phase: 'lost updates', kind: t.kind, label: t.label, error: String((e as Error).stack ?? e) });
    }
  }
  const lostRows = [['target', 'before', 'after', 'increments kept', 'expected', 'lost', '200s', 'other statuses', 'failed', 'ms']];
  for (const r of lost) {
    const other = Object.entries(r.statuses).filter(([s]) => s !== '200');
    lostRows.push([
      r.label,
      String(r.initial),
      String(r.final),
      String(r.kept),
      String(r.requests),
      String(r.requests - r.kept),
      String(r.ok200),
      other.length ? other.map(([s, n]) => `${s}x${n}`).join(' ') : '-',
      String(r.failures),
      fmt(r.elapsedMs),
    ]);
    if (r.kind === 'pso' || r.kind === 'pso-fsync') {
      checks.push({ name: `lost updates, ${r.label}: exactly ${r.requests} kept`, pass: r.kept === r.requests, detail: `kept ${r.kept}` });
    }
  }
  console.log(table(lostRows));
  console.log('  before: the count after the request that created the session; after: the count read once all had answered.');

  for (const f of failed) checks.push({ name: `${f.phase}, ${f.label}: ran`, pass: false, detail: f.error.split('\n')[0]! });

  console.log('\nChecks');
  for (const c of checks) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const report = { bench: 'file-store', date: new Date().toISOString(), env, options: o, throughput: results, lostUpdates: lost, failed, checks };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
  if (o.cpuProf) console.log(`CPU profiles: ${relative(process.cwd(), join(RESULTS_DIR, 'profiles'))}`);
  return checks.every((c) => c.pass) ? 0 : 1;
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      for (const c of children) c.kill('SIGKILL');
      process.exit(2);
    },
  );
}
