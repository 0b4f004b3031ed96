// kill -9 of `pso serve` at random moments under load, over and over, with a
// client that keeps what each session was last acknowledged at: after every
// restart each session must be that state or newer, readable, the same
// session, and not held by a lock its dead holder left. The suite runs a few
// dozen kills (spec/reliability/kill9.spec.ts), bench/kill9.ts a thousand.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { parseRecord } from '../../src/session/SessionRecord.js';
import { SqliteStore } from '../../src/session/stores/SqliteStore.js';
import { freePort } from './apache.js';
import { CLI, ROOT, cleanEnv } from './http.js';
import { sessionFileName, sessionKey } from './sessionFiles.js';
import { storedRecord } from './storedFile.js';

/** The handler module every server of a run serves. */
export const COUNTER_MODULE = join(ROOT, 'dist/spec/support/counterModule.js');
const SERVICE = 'k9';
const AFTER_WORKER_KILL = 'after a worker was killed';

/** Which store the servers of a run share. */
export type KillStore = 'file' | 'sqlite';
/** What was killed: a single-process server, one worker of `--workers 2`, or the primary with its workers. */
export type KillKind = 'process' | 'worker' | 'primary';

/** Options of {@link runKills}. */
export interface KillRunOptions {
  store: KillStore;
  /** A fresh directory for the sessions (or the database). */
  dir: string;
  /** How many kills in all. */
  kills: number;
  /** Servers run as one process, as `--workers 2`, or each in turn. */
  servers: 'single' | 'workers' | 'both';
  /** Sessions under load (default 4), each with this many request loops (default 2). */
  sessions?: number;
  loopsPerSession?: number;
  /** The load before each kill lasts a random time in this range, ms (default 20 to 300). */
  loadMs?: [number, number];
  /**
   * `PSOSessionLockTimeout` of the servers, seconds (default 10, pso's own):
   * a lock left by a dead holder is broken at once, so any 503 says a lock
   * outlived its holder by that long.
   */
  lockTimeoutSeconds?: number;
  /** Seed of the random moments (default: from the clock; printed in the report). */
  seed?: number;
  progress?: (line: string) => void;
}

/** What {@link runKills} saw. */
export interface KillRunReport {
  seed: number;
  kills: Record<KillKind, number>;
  /** Servers started. */
  starts: number;
  /** Increments answered 200. */
  acknowledged: number;
  /** Requests with no answer (cut by a kill, or refused while no server ran). */
  unanswered: number;
  /** Session states compared with what the client knew (each answer and each read-back). */
  checks: number;
  /** Everything that broke a property; empty when the run passed. */
  violations: string[];
  /**
   * Reads sent just after a worker was killed that got no answer at all: a
   * new connection node:cluster's primary handed to the worker as it died is
   * neither served nor closed (see bench/README.md, kill9). Counted apart:
   * it is not a session's state.
   */
  hung: number;
  /** From a server's start to every session read back, ms. */
  recoveryMs: { median: number; max: number };
  /** Sessions in the store at the end, and lock files left once every session was used again. */
  stored: { sessions: number; locksLeft: number };
  elapsedMs: number;
}

interface Tracked {
  cookie: string;
  id: string;
  /** Increments sent so far (answered or not): no state can be newer. */
  sent: number;
  /** The highest count answered 200. */
  acked: number;
}

interface Reply {
  status: number;
  body: string;
  setCookie: string | undefined;
}

/** A small seeded generator (mulberry32), so that a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(port: number, path: string, cookie: string | undefined, agent: Agent | false, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {}, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} got no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The pids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function gone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** One `pso serve` of the run, in its own process group. */
interface Server {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

function startServer(options: KillRunOptions, port: number, workers: boolean): Promise<Server> {
  const directives = [
    `PSOServiceId=${SERVICE}`,
    `PSOSessionLockTimeout=${options.lockTimeoutSeconds ?? 10}`,
    options.store === 'file' ? `PSOSessionFileLoader_Path=${join(options.dir, 'sessions')}` : `PSOSessionStore=sqlite://${join(options.dir, 'sessions.db')}`,
  ];
  const args = [CLI, 'serve', COUNTER_MODULE, '--port', String(port), ...(workers ? ['--workers', '2'] : []), ...directives.flatMap((d) => ['-D', d])];
  const child = spawn(process.execPath, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not say it serves within 30 s`), 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      killGroup(child);
      reject(new Error(`pso serve ${why}:\n${out.slice(-2000)}`));
    };
    child.stdout!.on('data', () => {
      if (/^pso: serving /m.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out, exited });
      }
    });
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before serving`));
  });
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs the kills and checks every answer against what the client knew when
 * it asked. A violation is recorded, not thrown, so that a run reports all of them.
 */
export async function runKills(options: KillRunOptions): Promise<KillRunReport> {
  const started = Date.now();
  const seed = options.seed ?? (Date.now() % 2 ** 31);
  const rand = random(seed);
  const between = ([lo, hi]: [number, number]) => lo + Math.floor(rand() * (hi - lo));
  const loadMs = options.loadMs ?? [20, 300];
  const lockMs = (options.lockTimeoutSeconds ?? 10) * 1000;
  const report: KillRunReport = {
    seed, kills: { process: 0, worker: 0, primary: 0 }, starts: 0, acknowledged: 0, unanswered: 0, checks: 0,
    violations: [], hung: 0, recoveryMs: { median: 0, max: 0 }, stored: { sessions: 0, locksLeft: 0 }, elapsedMs: 0,
  };
  const recoveries: number[] = [];
  const violation = (what: string) => {
    if (report.violations.length < 100) report.violations.push(what);
    options.progress?.(`VIOLATION: ${what}`);
  };
  const port = await freePort();
  const sessions: Tracked[] = [];
  let server: Server | undefined;
  let running = true;
  const agent = new Agent({ keepAlive: true });

  /** Checks one answer about session `s`, asked when its acknowledged state was `ackedThen`. */
  const check = (index: number, r: Reply, ackedThen: number, increment: boolean, when = '') => {
    const s = sessions[index]!;
    report.checks++;
    const label = `session ${index} (${increment ? 'increment' : `read back ${when}`}, last acknowledged ${ackedThen}, ${s.sent} sent)`;
    if (r.status !== 200) return violation(`${label}: answered ${r.status} ${r.body.slice(0, 200)}`);
    if (r.setCookie !== undefined && r.setCookie !== s.cookie) return violation(`${label}: a new session (Set-Cookie ${r.setCookie.slice(0, 12)}...), answered ${r.body}`);
    const n = Number(r.body);
    if (!Number.isInteger(n)) return violation(`${label}: answered ${JSON.stringify(r.body.slice(0, 100))}`);
    const floor = increment ? ackedThen + 1 : ackedThen;
    if (n < floor) return violation(`${label}: count ${n}, older than acknowledged`);
    if (n > s.sent) return violation(`${label}: count ${n}, more than the increments sent`);
    if (increment) {
      report.acknowledged++;
      if (n > s.acked) s.acked = n;
    }
  };

  const loop = async (index: number) => {
    while (running) {
      const s = sessions[index]!;
      const ackedThen = s.acked;
      s.sent++;
      try {
        check(index, await get(port, '/', s.cookie, agent, lockMs + 10_000), ackedThen, true);
      } catch {
        report.unanswered++;
        await sleep(20);
      }
    }
  };

  /** Reads every session back; resolves with how long it took once every one answered. */
  const readBack = async (what: string) => {
    await Promise.all(sessions.map(async (s, index) => {
      const ackedThen = s.acked;
      try {
        check(index, await get(port, '/peek', s.cookie, false, lockMs + 10_000), ackedThen, false, what);
      } catch (e) {
        const message = (e as Error).message;
        if (what === AFTER_WORKER_KILL && /got no answer/.test(message)) {
          report.hung++;
          options.progress?.(`session ${index}: a read back ${what} got no answer (a connection lost in node:cluster's handoff)`);
        } else violation(`session ${index} not read back ${what}: ${message}`);
      }
    }));
  };

  const life = async (workers: boolean, killsLeft: number) => {
    const t0 = Date.now();
    server = await startServer(options, port, workers);
    report.starts++;
    await readBack('after a restart');
    recoveries.push(Date.now() - t0);
    await sleep(between(loadMs));
    if (workers && killsLeft > 1) {
      const pids = childrenOf(server.child.pid!);
      if (pids.length) {
        const victim = pids[Math.floor(rand() * pids.length)]!;
        process.kill(victim, 'SIGKILL');
        report.kills.worker++;
        await sleep(between(loadMs));
        await readBack(AFTER_WORKER_KILL);
        await sleep(between(loadMs));
      }
    }
    const family = [server.child.pid!, ...childrenOf(server.child.pid!)];
    killGroup(server.child);
    report.kills[workers ? 'primary' : 'process']++;
    await server.exited;
    for (let i = 0; i < 200 && !family.every(gone); i++) await sleep(25);
    if (!family.every(gone)) violation(`processes ${family.filter((p) => !gone(p)).join(', ')} outlived SIGKILL of their group`);
  };

  try {
    // The sessions, made by a first server.
    server = await startServer(options, port, false);
    report.starts++;
    const count = options.sessions ?? 4;
    for (let i = 0; i < count; i++) {
      const r = await get(port, '/', undefined, false, 10_000);
      if (r.status !== 200 || !r.setCookie) throw new Error(`the first request did not make a session: ${r.status} ${r.body}`);
      sessions.push({ cookie: r.setCookie, id: r.setCookie.slice(r.setCookie.indexOf('=') + 1), sent: 1, acked: Number(r.body) });
    }
    server.child.kill('SIGKILL');
    await server.exited;
    const loops = sessions.flatMap((_, i) => Array.from({ length: options.loopsPerSession ?? 2 }, () => loop(i)));
    let done = 0;
    let round = 0;
    while (done < options.kills) {
      const workers = options.servers === 'workers' || (options.servers === 'both' && round % 2 === 1);
      const before = report.kills.process + report.kills.worker + report.kills.primary;
      await life(workers, options.kills - done);
      done = report.kills.process + report.kills.worker + report.kills.primary;
      round++;
      if (Math.floor(done / 50) > Math.floor(before / 50) || done >= options.kills) {
        options.progress?.(`${done} kills, ${report.acknowledged} acknowledged, ${report.checks} checks, ${report.violations.length} violations, ${report.hung} hung, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
    // A last server: every session read back, used again, and the server stopped as usual.
    server = await startServer(options, port, false);
    report.starts++;
    await readBack('after the last kill');
    running = false;
    await Promise.all(loops);
    await readBack('at the end');
    server.child.kill('SIGTERM');
    await server.exited;
    server = undefined;
    await inspectStore(options, sessions, report, violation);
  } finally {
    running = false;
    agent.destroy();
    if (server) killGroup(server.child);
  }
  recoveries.sort((a, b) => a - b);
  report.recoveryMs = { median: recoveries[Math.floor(recoveries.length / 2)] ?? 0, max: recoveries.at(-1) ?? 0 };
  report.elapsedMs = Date.now() - started;
  return report;
}

/** Reads the store directly: each session whole, no newer than sent, no older than acknowledged; no lock left. */
async function inspectStore(options: KillRunOptions, sessions: Tracked[], report: KillRunReport, violation: (w: string) => void): Promise<void> {
  const counts: (number | undefined)[] = [];
  if (options.store === 'file') {
    const dir = join(options.dir, 'sessions');
    const names = readdirSync(dir);
    report.stored.sessions = names.filter((n) => n.endsWith('.json')).length;
    report.stored.locksLeft = names.filter((n) => n.endsWith('.lock')).length;
    for (const s of sessions) {
      const file = join(dir, sessionFileName(SERVICE, s.id));
      try {
        counts.push(existsSync(file) ? (storedRecord(file).data.n as number) : undefined);
      } catch (e) {
        violation(`${file} cannot be read: ${(e as Error).message}`);
        counts.push(undefined);
      }
    }
  } else {
    const store = new SqliteStore(join(options.dir, 'sessions.db'));
    try {
      report.stored.sessions = await store.count();
      for (const s of sessions) {
        try {
          counts.push((await store.get(sessionKey(SERVICE, s.id)))?.data.n as number | undefined);
        } catch (e) {
          violation(`session ${s.id.slice(0, 6)} cannot be read from the database: ${(e as Error).message}`);
          counts.push(undefined);
        }
      }
      const db = (await import('better-sqlite3')).default(join(options.dir, 'sessions.db'), { readonly: true });
      report.stored.locksLeft = (db.prepare('SELECT count(*) AS n FROM pso_session_locks').get() as { n: number }).n;
      db.close();
    } finally {
      await store.close();
    }
  }
  sessions.forEach((s, i) => {
    const n = counts[i];
    if (n === undefined) violation(`session ${i} is not in the store at the end`);
    else if (n < s.acked || n > s.sent) violation(`session ${i} is stored at ${n}, acknowledged ${s.acked}, sent ${s.sent}`);
  });
  if (report.stored.sessions !== sessions.length) violation(`${report.stored.sessions} sessions stored, ${sessions.length} made`);
  if (report.stored.locksLeft) violation(`${report.stored.locksLeft} locks left once every session was used again and the server stopped`);
}
