// A store stopped and started while a load runs against `pso serve` on it:
// what the clients saw, as a timeline, and every answer checked. Used by
// spec/reliability/store-restart.spec.ts and bench/store-restart.ts.
import { Agent, request } from 'node:http';
import { COUNTER_MODULE } from './killRun.js';
import { psoServe, type PsoServe } from './psoServe.js';
import type { StoreService } from './storeServices.js';

/** Options of {@link runOutages}. */
export interface OutageOptions {
  service: StoreService;
  /** Outages in the run (default 1). */
  outages?: number;
  /** How long the store stays down, ms (default 3,000). */
  downMs?: number;
  /** Load before the first outage and after each recovery, ms (default 1,500). */
  settleMs?: number;
  /** Sessions under load (default 4), each with this many request loops (default 2). */
  sessions?: number;
  loopsPerSession?: number;
  /** `PSOSessionStoreTimeout` (default 2) and `PSOSessionLockTimeout` (default 3), seconds. */
  storeTimeoutSeconds?: number;
  lockTimeoutSeconds?: number;
  /** Every session must answer 200 again within this long of the store's return, ms (default 10,000). */
  recoverWithinMs?: number;
  progress?: (line: string) => void;
}

/** One outage, in ms from the start of the load. */
export interface Timeline {
  stop: number;
  /** The store no longer accepted connections. */
  down: number;
  first503: number | undefined;
  start: number;
  /** The store accepted connections again. */
  up: number;
  /** The first 200 after `up`, and the moment every session had had one. */
  first200: number | undefined;
  allSessions: number | undefined;
}

/** What {@link runOutages} saw. */
export interface OutageReport {
  store: string;
  timelines: Timeline[];
  /** Answers by status. */
  statuses: Record<number, number>;
  acknowledged: number;
  checks: number;
  /** The longest a request took, and the bound it is held to (lock timeout plus four store operations). */
  maxLatencyMs: number;
  latencyBoundMs: number;
  violations: string[];
  elapsedMs: number;
}

interface Tracked {
  cookie: string;
  sent: number;
  acked: number;
}

interface Reply {
  status: number;
  body: string;
  retryAfter: string | undefined;
  setCookie: string | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(base: URL, path: string, cookie: string | undefined, agent: Agent | false, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, agent, headers: cookie ? { cookie } : {}, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, body,
        retryAfter: res.headers['retry-after'] as string | undefined,
        setCookie: res.headers['set-cookie']?.[0]?.split(';')[0],
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} got no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Serves the counter on the store, loads it, takes the store away and gives
 * it back `outages` times, and checks each answer: a 200 no older than
 * acknowledged and no newer than sent, on the same session; a 503 with
 * `Retry-After` while the store is away; nothing else, no request past its
 * bound, every session served again soon after the store's return, and the
 * server alive throughout. Violations are recorded, not thrown.
 */
export async function runOutages(options: OutageOptions): Promise<OutageReport> {
  const storeTimeout = (options.storeTimeoutSeconds ?? 2) * 1000;
  const lockTimeout = (options.lockTimeoutSeconds ?? 3) * 1000;
  const report: OutageReport = {
    store: options.service.kind, timelines: [], statuses: {}, acknowledged: 0, checks: 0,
    maxLatencyMs: 0, latencyBoundMs: lockTimeout + 4 * storeTimeout + 1000, violations: [], elapsedMs: 0,
  };
  const violation = (what: string) => {
    if (report.violations.length < 100) report.violations.push(what);
    options.progress?.(`VIOLATION: ${what}`);
  };
  const server: PsoServe = await psoServe([COUNTER_MODULE, '--port', '0',
    '-D', 'PSOServiceId=so', '-D', `PSOSessionStore=${options.service.url}`,
    '-D', `PSOSessionStoreTimeout=${storeTimeout / 1000}`, '-D', `PSOSessionLockTimeout=${lockTimeout / 1000}`]);
  const base = new URL(server.address);
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const agent = new Agent({ keepAlive: true });
  const sessions: Tracked[] = [];
  let current: Timeline | undefined;
  /** Sessions answered 200 since the store came back. */
  let servedAgain = new Set<number>();
  let running = true;

  const answer = (index: number, r: Reply, ackedThen: number, increment: boolean, ms: number, sentAt: number) => {
    const s = sessions[index]!;
    report.checks++;
    report.statuses[r.status] = (report.statuses[r.status] ?? 0) + 1;
    if (ms > report.maxLatencyMs) report.maxLatencyMs = ms;
    const label = `session ${index} at ${now()} ms (${increment ? 'increment' : 'read back'}, last acknowledged ${ackedThen}, ${s.sent} sent)`;
    if (ms > report.latencyBoundMs) violation(`${label}: answered after ${ms} ms, past ${report.latencyBoundMs}`);
    if (r.status === 503) {
      if (!r.retryAfter) violation(`${label}: 503 without Retry-After`);
      if (current === undefined || (current.allSessions !== undefined && sentAt > current.allSessions)) violation(`${label}: 503 while the store was up: ${r.body.slice(0, 200)}`);
      if (current && current.first503 === undefined && current.up === 0) current.first503 = now();
      return;
    }
    if (r.status !== 200) return violation(`${label}: answered ${r.status} ${r.body.slice(0, 200)}`);
    if (r.setCookie !== undefined && r.setCookie !== s.cookie) return violation(`${label}: a new session, answered ${r.body}`);
    const n = Number(r.body);
    if (!Number.isInteger(n)) return violation(`${label}: answered ${JSON.stringify(r.body.slice(0, 100))}`);
    if (n < (increment ? ackedThen + 1 : ackedThen)) return violation(`${label}: count ${n}, older than acknowledged`);
    if (n > s.sent) return violation(`${label}: count ${n}, more than the increments sent`);
    if (increment) {
      report.acknowledged++;
      if (n > s.acked) s.acked = n;
    }
    if (current && current.up > 0) {
      current.first200 ??= now();
      servedAgain.add(index);
      if (servedAgain.size === sessions.length) current.allSessions ??= now();
    }
  };

  const ask = async (index: number, path: string, increment: boolean, via: Agent | false) => {
    const s = sessions[index]!;
    const ackedThen = s.acked;
    if (increment) s.sent++;
    const t = Date.now();
    const sentAt = now();
    try {
      answer(index, await get(base, path, s.cookie, via, report.latencyBoundMs + 10_000), ackedThen, increment, Date.now() - t, sentAt);
    } catch (e) {
      violation(`session ${index} at ${now()} ms: no answer from pso serve (${(e as Error).message})`);
      await sleep(50);
    }
  };

  const loops: Promise<void>[] = [];
  try {
    for (let i = 0; i < (options.sessions ?? 4); i++) {
      const r = await get(base, '/', undefined, false, 10_000);
      if (r.status !== 200 || !r.setCookie) throw new Error(`the first request did not make a session: ${r.status} ${r.body}`);
      sessions.push({ cookie: r.setCookie, sent: 1, acked: Number(r.body) });
    }
    for (const [i] of sessions.entries()) {
      for (let l = 0; l < (options.loopsPerSession ?? 2); l++) {
        loops.push((async () => {
          while (running) {
            await ask(i, '/', true, agent);
            // Pace the loop while the store is away: 503s come back at once.
            if (current && current.up === 0) await sleep(10);
          }
        })());
      }
    }
    await sleep(options.settleMs ?? 1500);
    for (let k = 0; k < (options.outages ?? 1); k++) {
      current = { stop: now(), down: 0, first503: undefined, start: 0, up: 0, first200: undefined, allSessions: undefined };
      report.timelines.push(current);
      servedAgain = new Set();
      try {
        await options.service.stop();
        current.down = now();
        await sleep(options.downMs ?? 3000);
      } finally {
        current.start = now();
        await options.service.start();
        current.up = now();
      }
      const deadline = Date.now() + (options.recoverWithinMs ?? 10_000);
      while (current.allSessions === undefined && Date.now() < deadline) await sleep(20);
      const t = current;
      options.progress?.(`outage ${k + 1}: stop ${t.stop} ms, down ${t.down}, first 503 ${t.first503 ?? '-'}, start ${t.start}, up ${t.up}, first 200 ${t.first200 ?? '-'}, every session ${t.allSessions ?? '-'}`);
      if (t.first503 === undefined) violation(`outage ${k + 1}: no 503 while the store was down`);
      if (t.allSessions === undefined) violation(`outage ${k + 1}: not every session was served within ${options.recoverWithinMs ?? 10_000} ms of the store's return (${servedAgain.size} of ${sessions.length})`);
      await sleep(options.settleMs ?? 1500);
    }
    running = false;
    await Promise.all(loops);
    current = undefined;
    await Promise.all(sessions.map((_, i) => ask(i, '/peek', false, false)));
    if (server.child.exitCode !== null || server.child.signalCode !== null) violation(`pso serve exited (${server.child.exitCode ?? server.child.signalCode})`);
    if (/uncaught|unhandled/i.test(server.stderr())) violation(`pso serve reported: ${server.stderr().slice(-1000)}`);
  } finally {
    running = false;
    await Promise.all(loops);
    agent.destroy();
    await server.stop(10_000);
  }
  report.elapsedMs = Date.now() - t0;
  return report;
}
