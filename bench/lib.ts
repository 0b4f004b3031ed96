// Shared by the benchmarks (file-store.ts, stores.ts) and their server
// processes (servers.ts, store-servers.ts): options, child servers, a plain
// HTTP client, the autocannon run with its consistency tally, the lost-update
// run and the text tables.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { Agent, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceRequest } from 'pso-ts';

const require = createRequire(import.meta.url);

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const RESULTS_DIR = join(ROOT, '.bench-results');

// ---- options ---------------------------------------------------------------------

export interface Options<K extends string = string> {
  duration: number;
  warmup: number;
  sessions: number;
  connections: number;
  concurrent: number;
  only: K[] | undefined;
  pause: number;
  cpuProf: boolean;
  /** Times every target is measured, in alternating order (see stores.ts). */
  rounds: number;
}

/** Parses the common options; `--only` names are checked by `known`, and mapped by `expand` (groups). */
export function parseOptions<K extends string>(
  argv: string[],
  known: (name: string) => boolean,
  expand: (name: string) => K[] = (n) => [n as K],
  defaults: Partial<Options<K>> = {},
): Options<K> {
  const o: Options<K> = { duration: 10, warmup: 3, sessions: 1000, connections: 32, concurrent: 200, only: undefined, pause: 0, cpuProf: false, rounds: 1, ...defaults };
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
      const names = value().split(',');
      const unknown = names.filter((k) => !known(k));
      if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')}`);
      o.only = names.flatMap(expand);
    }
    else if (a === '--pause') o.pause = positive();
    else if (a === '--rounds') o.rounds = Math.floor(positive());
    else if (a === '--cpu-prof') o.cpuProf = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---- servers in child processes ------------------------------------------------

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
  /** The server process's CPU time so far (user + system, ms) and the requests it has had. */
  usage(): Promise<ServerUsage>;
}

export const children = new Set<ChildProcess>();

/** What a server process has used, as {@link RunningServer.usage} reports it. */
export interface ServerUsage {
  cpuMs: number;
  /** Requests the server has had; undefined: it does not count them, so the client's measured requests are used. */
  requests?: number;
}

/** Forks `script args…`, which answers `{ port }` over IPC once it listens (see {@link serveChild}). */
export function startServer(script: string, args: string[], label: string, execArgv: string[] = []): Promise<RunningServer> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
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
    const timer = setTimeout(() => fail(new Error(`${label} server did not start within 15 s`)), 15_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stop();
      reject(e);
    };
    const early = (code: number | null) => fail(new Error(`${label} server exited (code ${code}) before listening`));
    child.once('error', fail);
    child.once('exit', early);
    const usage = () =>
      new Promise<ServerUsage>((res, rej) => {
        const onUsage = (m: any) => {
          if (typeof m?.cpuMs !== 'number') return;
          child.off('message', onUsage);
          res({ cpuMs: m.cpuMs, requests: m.requests });
        };
        child.on('message', onUsage);
        if (!child.connected) return rej(new Error(`${label} server is gone`));
        child.send('usage');
      });
    child.once('message', (m: any) => {
      clearTimeout(timer);
      child.off('exit', early);
      if (typeof m?.port !== 'number') return fail(new Error(`${label} server sent ${JSON.stringify(m)}`));
      resolve({ port: m.port, stop, usage });
    });
  });
}

/** The server side of {@link startServer}: reports the port, stops on 'stop' or disconnect (after `cleanup`, bounded). */
export async function serveChild(start: () => Promise<{ server: Server; port: number; cleanup?: () => Promise<unknown> }>): Promise<void> {
  const { server, port, cleanup } = await start();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    server.close(() => {
      if (!cleanup) process.exit(0);
      cleanup().then(
        () => process.exit(0),
        () => process.exit(0),
      );
    });
    server.closeAllConnections();
  };
  let requests = 0;
  server.on('request', () => requests++);
  process.on('message', (m) => {
    if (m === 'stop') stop();
    else if (m === 'usage') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpuMs: (user + system) / 1000, requests });
    }
  });
  process.on('disconnect', stop);
  process.send!({ port });
}

export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * How the client reads a benchmark's counter page: where it is, the count in
 * its body, and how to read the count without changing it.
 */
export interface CounterPage {
  /** The path that increments the session's counter (GET). */
  path: string;
  /** The count in a body (NaN when it holds none); undefined for a page that keeps no count (a hello-world baseline). */
  count?: (body: string) => number;
  /** A path that answers the count without changing it; undefined: one more increment is read, less one. */
  peekPath?: string;
}

/** The page of the node:http benchmark servers: `/` answers the incremented count, `/peek` the count. */
export const PLAIN_COUNTER: CounterPage = { path: '/', count: (body) => Number.parseInt(body, 10), peekPath: '/peek' };

/** Reads a session's count through `page` (see {@link CounterPage.peekPath}). */
export async function peekCount(port: number, page: CounterPage, cookie: string, agent: Agent, timeoutMs = 15_000): Promise<number> {
  const r = await get(port, page.peekPath ?? page.path, cookie, agent, timeoutMs);
  if (r.status !== 200) throw new Error(`reading the count: status ${r.status}: ${r.body.trim().slice(0, 200)}`);
  const count = page.count!(r.body);
  if (!Number.isFinite(count)) throw new Error(`reading the count: no count in ${JSON.stringify(r.body.slice(0, 200))}`);
  return page.peekPath ? count : count - 1;
}

/** The pso handler of every benchmark: `/` increments `count`, `/peek` reads it. */
export function psoCounter(request: ServiceRequest) {
  request.sendHttpHeaders('text/plain');
  const count = request.path === '/peek' ? (request.session.get('count', 0) as number) : request.session.increment('count');
  request.write(`${count}\n`);
}

// ---- plain HTTP ------------------------------------------------------------------

export interface Reply {
  status: number;
  body: string;
  cookie: string | undefined;
}

export function get(port: number, path: string, cookie: string | undefined, agent: Agent, timeoutMs = 15_000): Promise<Reply> {
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
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Creates `n` sessions, one request each; `fake`: the server sets no cookie, send one of the same size anyway. */
export async function createSessions(port: number, n: number, limit: number, fake = false, path = '/'): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: limit });
  const cookies = new Array<string>(n);
  try {
    await pool(n, limit, async (i) => {
      const r = await get(port, path, undefined, agent);
      if (r.status !== 200) throw new Error(`creating session ${i}: status ${r.status}: ${r.body.trim()}`);
      const cookie = fake ? `sid=${String(i).padStart(27, '0')}` : r.cookie;
      if (!cookie) throw new Error(`creating session ${i}: no Set-Cookie`);
      cookies[i] = cookie;
    });
  } finally {
    agent.destroy();
  }
  if (new Set(cookies).size !== n) throw new Error('session cookies are not distinct');
  return cookies;
}

export function gitState(): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

export function environment() {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    tmpdir: tmpdir(),
    git: gitState(),
  };
}

/** The value after `--name` on the command line, if any (for benchmarks with options of their own). */
export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** `--name N` as a positive integer, or `fallback` when it is not given. */
export function argCount(name: string, fallback: number): number {
  const text = argValue(name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} needs a positive integer`);
  return v;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a run that overstays its budget. */
export function watchdog(budgetMs: number): void {
  const timer = setTimeout(() => {
    console.error(`bench: still running after ${budgetMs / 1000} s; stopping`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(2);
  }, budgetMs);
  timer.unref();
}

/** Runs a benchmark's main when its module is the entry point. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      for (const c of children) c.kill('SIGKILL');
      process.exit(2);
    },
  );
}

// ---- A. throughput -------------------------------------------------------------------

/** What the client saw, across warm-up and measurement. */
export interface Tally {
  next: number;
  last: Float64Array;
  ok: number;
  other: number;
  notIncreasing: number;
  /** The counts each session's answers showed. */
  seen: (Set<number> | undefined)[];
  /** Answers that showed a count another answer of the same session had shown: an increment lost. */
  repeated: number;
  /** The first few repeated counts: which session, the count, the body. */
  repeatedSamples?: string[];
}

export interface LoadResult {
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

export async function load(port: number, cookies: string[], seconds: number, connections: number, tally: Tally, page: CounterPage = PLAIN_COUNTER): Promise<LoadResult> {
  const countOf = page.count;
  const autocannon = require('autocannon');
  const n = cookies.length;
  const r = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        path: page.path,
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
          if (!countOf) return;
          const count = countOf(body);
          // Two answers of one session may overtake each other when both are in flight (a latency above
          // the time the client takes to come back to the session): a count lower than one seen before
          // is then no loss. A count seen twice is: two increments gave one result.
          const seen = (tally.seen[ctx.i] ??= new Set());
          if (seen.has(count)) {
            tally.repeated++;
            if ((tally.repeatedSamples ??= []).length < 5) tally.repeatedSamples.push(`session ${ctx.i}: ${count} again: ${JSON.stringify(body.slice(0, 120))}`);
          }
          seen.add(count);
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

export interface Measured extends LoadResult {
  warmup: LoadResult;
  /**
   * CPU time of the server process per request while measured (ms): less
   * skewed than requests/s by other work on the machine, which the server
   * does not pay for.
   */
  serverCpuMsPerRequest: number | undefined;
  /**
   * CPU time of the database server's processes (PostgreSQL, MariaDB, Redis)
   * per request while measured (ms), read from /proc: the other half of a
   * store's cost, which the server process's figure leaves out.
   */
  dbCpuMsPerRequest: number | undefined;
  /**
   * CPU time of the load generator (this process) per request while
   * measured (ms): on a machine whose CPUs the client shares with the
   * servers, what it takes is not left to them.
   */
  clientCpuMsPerRequest: number | undefined;
  /** How busy the machine's CPUs were while measured (0 to 1, from /proc/stat). */
  machineBusy: number | undefined;
  check: {
    /** 200 responses seen by the client (warm-up and measurement). */
    acked: number;
    /** Increments found in the store afterwards (sum of counts minus the creating requests). */
    applied: number | undefined;
    /** Responses whose count was not above the last count seen for that session (answers that overtook each other, or a loss). */
    notIncreasing: number;
    /** Responses whose count an earlier response of the same session had shown: a lost increment. */
    repeated: number;
    /** The first few of them, for the report. */
    repeatedSamples: string[];
    /** Sessions whose stored count is below the last count a client was shown. */
    regressed: number | undefined;
  };
}

/**
 * Creates the sessions, warms up, measures, then reads every session back
 * (`/peek`) unless `bare` (no sessions: fake cookies, nothing to read).
 * `page`: how to read the counter of a server other than the node:http ones.
 */
export async function measure(port: number, o: Options, bare = false, usage?: () => Promise<ServerUsage>, page: CounterPage = PLAIN_COUNTER): Promise<Measured> {
  const cookies = await createSessions(port, o.sessions, o.connections, bare, page.path);
  const tally: Tally = { next: 0, last: new Float64Array(cookies.length).fill(1), ok: 0, other: 0, notIncreasing: 0, seen: [], repeated: 0 };
  if (bare) tally.last.fill(0);
  const warmup = await load(port, cookies, o.warmup, o.connections, tally, page);
  const before = await usage?.();
  const [dbBefore, machineBefore] = await Promise.all([databaseCpuMs(), machineCpu()]);
  const clientBefore = process.cpuUsage();
  const measured = await load(port, cookies, o.duration, o.connections, tally, page);
  const client = process.cpuUsage(clientBefore);
  const [dbAfter, machineAfter] = await Promise.all([databaseCpuMs(), machineCpu()]);
  const clientCpuMsPerRequest = measured.requests > 0 ? (client.user + client.system) / 1000 / measured.requests : undefined;
  const after = await usage?.();
  const served = before && after ? (after.requests ?? measured.requests) - (before.requests ?? 0) : 0;
  const serverCpuMsPerRequest = before && after && served > 0 ? (after.cpuMs - before.cpuMs) / served : undefined;
  const dbCpuMsPerRequest = dbBefore !== undefined && dbAfter !== undefined && measured.requests > 0 ? (dbAfter - dbBefore) / measured.requests : undefined;
  const machineBusy =
    machineBefore && machineAfter && machineAfter.total > machineBefore.total
      ? 1 - (machineAfter.idle - machineBefore.idle) / (machineAfter.total - machineBefore.total)
      : undefined;
  let applied: number | undefined;
  let regressed: number | undefined;
  if (!bare && page.count) {
    applied = 0;
    regressed = 0;
    const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
    try {
      await pool(cookies.length, o.connections, async (i) => {
        const count = await peekCount(port, page, cookies[i]!, agent).catch((e: Error) => {
          throw new Error(`session ${i}: ${e.message}`);
        });
        applied! += count - 1;
        if (count < tally.last[i]!) regressed!++;
      });
    } finally {
      agent.destroy();
    }
  }
  return { ...measured, warmup, serverCpuMsPerRequest, dbCpuMsPerRequest, clientCpuMsPerRequest, machineBusy, check: { acked: tally.ok, applied, notIncreasing: tally.notIncreasing, repeated: tally.repeated, repeatedSamples: tally.repeatedSamples ?? [], regressed } };
}

/** The database servers' process names, as /proc/<pid>/stat gives them. */
const DATABASE_PROCESSES = new Set(['postgres', 'mariadbd', 'mysqld', 'redis-server']);
/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * The fields of /proc/<pid>/stat after "pid (comm) ": state, ppid, pgrp, ...;
 * utime and stime (clock ticks) are [11] and [12]. comm may hold spaces, so
 * the line is split after its last closing parenthesis.
 */
export function procStatFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process's own CPU time so far (ms), user and system, from /proc. */
export function processCpuMs(pid: number): { user: number; system: number } {
  const fields = procStatFields(pid);
  return { user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND };
}

/** One process as /proc/<pid>/stat gives it: CPU times in clock ticks. */
interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime: the process's own CPU time. */
  ticks: number;
  /** cutime + cstime: its children's, once it has waited for them. */
  childTicks: number;
}

/** Every process's /proc stat; undefined without /proc. */
async function processStats(): Promise<ProcStat[] | undefined> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  const stats: ProcStat[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        // "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis.
        const open = stat.indexOf('(');
        const close = stat.lastIndexOf(')');
        const fields = stat.slice(close + 2).split(' ');
        // Fields 4 (ppid) and 14 to 17 (utime, stime, cutime, cstime) of the whole line are 1 and 11 to 14 after comm.
        stats.push({
          pid: Number(pid),
          ppid: Number(fields[1]),
          comm: stat.slice(open + 1, close),
          ticks: Number(fields[11]) + Number(fields[12]),
          childTicks: Number(fields[13]) + Number(fields[14]),
        });
      } catch {
        // The process ended meanwhile.
      }
    }),
  );
  return stats;
}

/** CPU time (user + system, ms) of every database server process so far; undefined without /proc. */
export async function databaseCpuMs(): Promise<number | undefined> {
  const stats = await processStats();
  if (!stats) return undefined;
  const ticks = stats.filter((p) => DATABASE_PROCESSES.has(p.comm)).reduce((n, p) => n + p.ticks, 0);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time (user + system, ms) so far of the processes under `roots` (the
 * roots and all their descendants), with that of the descendants they have
 * already waited for: a CGI's time is counted once it has exited, in its
 * parent's. The difference of two readings is what the tree used between
 * them (a process present at the first and gone at the second moves its
 * time into its parent's child time). Undefined without /proc.
 *
 * @example
 * ```ts
 * const before = await processTreeCpuMs([nginxPid, phpFpmPid]);
 * // ... load ...
 * const used = (await processTreeCpuMs([nginxPid, phpFpmPid]))! - before!;
 * ```
 */
export async function processTreeCpuMs(roots: readonly number[]): Promise<number | undefined> {
  const stats = await processStats();
  if (!stats) return undefined;
  const children = new Map<number, ProcStat[]>();
  for (const p of stats) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (p: ProcStat) => {
    if (seen.has(p.pid)) return;
    seen.add(p.pid);
    ticks += p.ticks + p.childTicks;
    for (const c of children.get(p.pid) ?? []) visit(c);
  };
  for (const root of roots) {
    const p = stats.find((s) => s.pid === root);
    if (p) visit(p);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The machine's CPU ticks so far, in all and idle (idle + iowait); undefined without /proc. */
export async function machineCpu(): Promise<{ total: number; idle: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const n = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return { total, idle: n[3]! + (n[4] ?? 0) };
  } catch {
    return undefined;
  }
}

// ---- B. lost updates -------------------------------------------------------------------

export interface Increments {
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

/**
 * Creates one session, sends `concurrent` increments of it at once (one
 * connection each, each given up after `timeoutMs`), reads the count.
 */
export async function concurrentIncrements(port: number, concurrent: number, page: CounterPage = PLAIN_COUNTER, timeoutMs = 30_000): Promise<Increments> {
  if (!page.count) throw new Error(`${page.path} keeps no count`);
  const agent = new Agent({ keepAlive: false, maxSockets: concurrent });
  try {
    const first = await get(port, page.path, undefined, agent);
    if (first.status !== 200 || !first.cookie) throw new Error(`creating the session: status ${first.status}, cookie ${first.cookie}`);
    const initial = page.count(first.body);
    const statuses: Record<string, number> = {};
    let failures = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrent }, () =>
        get(port, page.path, first.cookie, agent, timeoutMs).then(
          (r) => void (statuses[r.status] = (statuses[r.status] ?? 0) + 1),
          () => void failures++,
        ),
      ),
    );
    const elapsedMs = performance.now() - started;
    const final = await peekCount(port, page, first.cookie, agent, timeoutMs);
    return { requests: concurrent, initial, final, kept: final - initial, ok200: statuses['200'] ?? 0, statuses, failures, elapsedMs };
  } finally {
    agent.destroy();
  }
}

/** The row of the lost-updates table (see {@link LOST_HEADER}). */
export function lostRow(label: string, r: Increments): string[] {
  const other = Object.entries(r.statuses).filter(([s]) => s !== '200');
  return [
    label,
    String(r.initial),
    String(r.final),
    String(r.kept),
    String(r.requests),
    String(r.requests - r.kept),
    String(r.ok200),
    other.length ? other.map(([s, n]) => `${s}x${n}`).join(' ') : '-',
    String(r.failures),
    fmt(r.elapsedMs),
  ];
}
export const LOST_HEADER = ['target', 'before', 'after', 'increments kept', 'expected', 'lost', '200s', 'other statuses', 'failed', 'ms'];
export const LOST_NOTE = '  before: the count after the request that created the session; after: the count read once all had answered.';

// ---- report ------------------------------------------------------------------------------

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

export const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
  /** Reported, but does not fail the run (e.g. a lost update by a store without locks). */
  informational?: boolean;
}

/**
 * Every 200, no count given twice, and (with a store to read) none lost.
 * Counts out of order are reported but pass: two answers of one session
 * overtake each other when both are in flight at once (mod_fcgid's queue
 * holds a request for a second or more), which loses nothing.
 */
export function consistencyCheck(label: string, r: Measured): Check {
  const clean = r.errors + r.warmup.errors + r.non2xx + r.warmup.non2xx === 0 && r.check.repeated === 0;
  const consistent = r.check.applied === undefined || (r.check.applied >= r.check.acked && r.check.regressed === 0);
  return {
    name: `${label}: all 200, no count given twice${r.check.applied === undefined ? '' : ', none lost'}`,
    pass: clean && consistent,
    detail:
      `errors ${r.errors + r.warmup.errors}, non-2xx ${r.non2xx + r.warmup.non2xx}, repeated ${r.check.repeated}, out of order ${r.check.notIncreasing}` +
      (r.check.applied === undefined ? '' : `, applied ${r.check.applied} vs acked ${r.check.acked}, regressed ${r.check.regressed}`),
  };
}
