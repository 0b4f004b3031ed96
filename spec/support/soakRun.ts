// A soak of `pso serve`: mixed load for a while (new visitors, returning
// visitors with cookies, multipart uploads, some cut off mid-body, a handler
// that throws, hostile cookies), with the server's resident memory, open file
// descriptors, upload temporary files and session files sampled every few
// seconds, and a verdict on each. spec/reliability/soak.spec.ts runs it for
// under a minute, bench/soak.ts for ten.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { ROOT } from './http.js';
import { psoServe, type PsoServe } from './psoServe.js';

const MODULE = join(ROOT, 'dist/spec/support/soakModule.js');
const SERVICE = 'so';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** A fresh directory: sessions and uploads go under it. */
  dir: string;
  durationMs: number;
  /** Default 5,000. */
  sampleEveryMs?: number;
  /** Samples before this are warm-up, left out of the memory verdict (default: a fifth of the duration). */
  warmupMs?: number;
  /** Requests per second in all (default 150), over this many loops (default 8). */
  rate?: number;
  loops?: number;
  /** `PSOSessionExpire` seconds (default 20), `PSOSessionGCProbability` (default 0.05), `PSOSessionGCInterval` seconds (default 10). */
  expireSeconds?: number;
  gcProbability?: number;
  gcIntervalSeconds?: number;
  /** Returning visitors kept by the client (default 40). */
  visitors?: number;
  /** The memory tolerance: the last quarter's median RSS over the first quarter's after warm-up (default 10%, or 16 MiB if more). */
  rssTolerance?: { ratio: number; mib: number };
  progress?: (line: string) => void;
}

/** One sample of the server process and its directories. */
export interface SoakSample {
  /** ms since the load started (negative: before it). */
  t: number;
  rssKb: number;
  fds: number;
  tempFiles: number;
  sessionFiles: number;
  /** Every entry of the session directory (spare versions and locks too). */
  dirEntries: number;
  requests: number;
}

/** A verdict on one property. */
export interface SoakVerdict {
  pass: boolean;
  detail: string;
}

/** What {@link runSoak} saw. */
export interface SoakReport {
  samples: SoakSample[];
  idleBefore: SoakSample;
  idleAfter: SoakSample;
  /** Answers by action, then status; `none` for requests that got no answer. */
  answers: Record<string, Record<string, number>>;
  sessionsCreated: number;
  /** Answers that were not what they should be. */
  unexpected: string[];
  verdict: { rss: SoakVerdict; fds: SoakVerdict; tempFiles: SoakVerdict; sessionFiles: SoakVerdict; answers: SoakVerdict };
  elapsedMs: number;
}

type Action = 'returning' | 'new' | 'upload' | 'upload-cut' | 'throw' | 'garbage-cookie' | 'overlong-cookie' | 'forged-id';
const MIX: [Action, number][] = [
  ['returning', 40], ['new', 12], ['upload', 10], ['upload-cut', 4], ['throw', 6], ['garbage-cookie', 10], ['overlong-cookie', 8], ['forged-id', 10],
];

interface Reply {
  status: number;
  body: string;
  setCookie: string | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function send(base: URL, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, agent: Agent | false, cutAfter?: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, method, path, agent, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, setCookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} got no answer within 30 s`)));
    req.on('error', reject);
    if (body && cutAfter !== undefined) {
      // Half the body, then the connection is cut: the server must drop the upload and its temporary file.
      req.write(body.subarray(0, cutAfter));
      setTimeout(() => req.destroy(new Error('cut')), 20);
      return;
    }
    req.end(body);
  });
}

function multipart(size: number): { body: Buffer; type: string } {
  const boundary = `----soak${randomBytes(12).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="note"\r\n\r\nsoak\r\n--${boundary}\r\ncontent-disposition: form-data; name="f"; filename="f.bin"\r\ncontent-type: application/octet-stream\r\n\r\n`),
    randomBytes(size),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

/** Printable ASCII but for `;` separators: what a broken or hostile client may put in a cookie. */
function garbage(n: number): string {
  const chars = '!#$%&\'()*+-./0123456789:<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~" ,\\';
  let s = '';
  for (const b of randomBytes(n)) s += chars[b % chars.length];
  return s;
}

function sample(pid: number, dir: string, t: number, requests: number): SoakSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const tempFiles = existsSync(join(dir, 'uploads')) ? readdirSync(join(dir, 'uploads')).length : 0;
  const names = existsSync(join(dir, 'sessions')) ? readdirSync(join(dir, 'sessions')) : [];
  return { t, rssKb, fds, tempFiles, sessionFiles: names.filter((n) => n.endsWith('.json')).length, dirEntries: names.length, requests };
}

/** Runs the soak and judges it; a server that stops answering ends the run with an error. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const loopsCount = options.loops ?? 8;
  const rate = options.rate ?? 150;
  const every = options.sampleEveryMs ?? 5000;
  const warmup = options.warmupMs ?? options.durationMs / 5;
  const expire = options.expireSeconds ?? 20;
  mkdirSync(join(options.dir, 'uploads'), { mode: 0o700 });
  const secret = randomBytes(24).toString('base64url');
  const server: PsoServe = await psoServe([MODULE, '--port', '0',
    '-D', `PSOServiceId=${SERVICE}`,
    '-D', `PSOSessionFileLoader_Path=${join(options.dir, 'sessions')}`,
    '-D', `PSOUploadDir=${join(options.dir, 'uploads')}`,
    '-D', `PSOSessionExpire=${expire}`,
    '-D', `PSOSessionGCProbability=${options.gcProbability ?? 0.05}`,
    '-D', `PSOSessionGCInterval=${options.gcIntervalSeconds ?? 10}`,
    '-D', `PSOSessionSecret=${secret}`,
    '-D', 'PSOMaxFileSize=1m']);
  const pid = server.child.pid!;
  const base = new URL(server.address);
  const agent = new Agent({ keepAlive: true, maxSockets: loopsCount });
  const report: SoakReport = {
    samples: [], idleBefore: sample(pid, options.dir, 0, 0), idleAfter: sample(pid, options.dir, 0, 0), answers: {}, sessionsCreated: 0, unexpected: [],
    verdict: {} as SoakReport['verdict'], elapsedMs: 0,
  };
  const unexpected = (what: string) => {
    if (report.unexpected.length < 50) report.unexpected.push(what);
  };
  const visitors: string[] = [];
  let requests = 0;
  let running = true;
  const t0 = Date.now();

  const pick = (): Action => {
    let r = Math.random() * MIX.reduce((a, [, w]) => a + w, 0);
    for (const [action, w] of MIX) if ((r -= w) < 0) return action;
    return 'returning';
  };
  const tally = (action: Action, status: string) => {
    const a = (report.answers[action] ??= {});
    a[status] = (a[status] ?? 0) + 1;
  };

  /** One request of the mix; what it must answer is checked here. */
  const one = async (action: Action) => {
    const cookieOf = (v: string) => ({ cookie: `${SERVICE}=${v}` });
    const expectNew = (r: Reply, what: string) => {
      if (r.status !== 200 || r.body !== '1' || !r.setCookie) unexpected(`${what}: ${r.status} ${r.body.slice(0, 80)} (a new session expected)`);
      else report.sessionsCreated++;
    };
    if (action === 'returning' && visitors.length) {
      const i = Math.floor(Math.random() * visitors.length);
      const r = await send(base, 'GET', '/', cookieOf(visitors[i]!), undefined, agent);
      if (r.status !== 200 || !/^\d+$/.test(r.body)) unexpected(`returning visitor: ${r.status} ${r.body.slice(0, 80)}`);
      // Its session may have expired meanwhile: then it is a new one.
      if (r.setCookie) visitors[i] = r.setCookie.slice(SERVICE.length + 1);
      if (r.body === '1') report.sessionsCreated++;
      return r.status;
    }
    if (action === 'new' || action === 'returning') {
      const r = await send(base, 'GET', '/', {}, undefined, agent);
      expectNew(r, 'new visitor');
      if (r.setCookie && visitors.length < (options.visitors ?? 40)) visitors.push(r.setCookie.slice(SERVICE.length + 1));
      return r.status;
    }
    if (action === 'upload' || action === 'upload-cut') {
      const size = 1024 + Math.floor(Math.random() * 255 * 1024);
      const { body, type } = multipart(size);
      if (action === 'upload-cut') {
        await send(base, 'POST', '/upload', { 'content-type': type }, body, false, Math.floor(body.length / 2)).then(
          (r) => unexpected(`a cut upload was answered ${r.status}`),
          () => undefined,
        );
        return 'none';
      }
      const r = await send(base, 'POST', '/upload', { 'content-type': type }, body, agent);
      if (r.status !== 200 || r.body !== String(size)) unexpected(`upload of ${size} bytes: ${r.status} ${r.body.slice(0, 80)}`);
      return r.status;
    }
    if (action === 'throw') {
      const r = await send(base, 'GET', '/throw', visitors.length ? cookieOf(visitors[0]!) : {}, undefined, agent);
      if (r.status !== 500) unexpected(`throwing handler: ${r.status} ${r.body.slice(0, 80)}`);
      return r.status;
    }
    if (action === 'garbage-cookie') {
      const r = await send(base, 'GET', '/', { cookie: Math.random() < 0.5 ? `${SERVICE}=${garbage(1 + Math.floor(Math.random() * 200))}` : garbage(1 + Math.floor(Math.random() * 400)) }, undefined, agent);
      expectNew(r, 'garbage cookie');
      return r.status;
    }
    if (action === 'overlong-cookie') {
      const many = Array.from({ length: 1 + Math.floor(Math.random() * 40) }, (_, i) => `c${i}=${'x'.repeat(100)}`).join('; ');
      const r = await send(base, 'GET', '/', { cookie: `${many}; ${SERVICE}=${'A'.repeat(2000 + Math.floor(Math.random() * 4000))}` }, undefined, agent);
      expectNew(r, 'overlong cookie');
      return r.status;
    }
    // Forged signed ids: a real id with another signature, a made-up id with a real one's signature, an id unsigned.
    const real = visitors[Math.floor(Math.random() * visitors.length)] ?? `${randomBytes(20).toString('base64url')}.x`;
    const [id, sig] = real.split('.');
    const forms = [`${id}.${randomBytes(32).toString('base64url')}`, `${randomBytes(20).toString('base64url')}.${sig}`, `${id}`];
    const r = await send(base, 'GET', '/', cookieOf(forms[Math.floor(Math.random() * forms.length)]!), undefined, agent);
    expectNew(r, 'forged signed id');
    return r.status;
  };

  const loop = async (k: number) => {
    const gap = (loopsCount * 1000) / rate;
    let next = Date.now() + (k * gap) / loopsCount;
    while (running) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next += gap;
      const action = pick();
      try {
        tally(action, String(await one(action)));
      } catch (e) {
        tally(action, 'none');
        unexpected(`${action}: no answer (${(e as Error).message})`);
        if (server.child.exitCode !== null || server.child.signalCode !== null) running = false;
      }
      requests++;
    }
  };

  const loops = Array.from({ length: loopsCount }, (_, k) => loop(k));
  const sampler = setInterval(() => {
    try {
      const s = sample(pid, options.dir, Date.now() - t0, requests);
      report.samples.push(s);
      options.progress?.(`${(s.t / 1000).toFixed(0).padStart(4)} s  rss ${(s.rssKb / 1024).toFixed(1)} MiB  fds ${s.fds}  temp files ${s.tempFiles}  session files ${s.sessionFiles} (${s.dirEntries} entries)  requests ${s.requests}`);
    } catch (e) {
      unexpected(`sampling failed: ${(e as Error).message}`);
    }
  }, every);
  try {
    const end = Date.now() + options.durationMs;
    while (running && Date.now() < end) await sleep(100);
    running = false;
    await Promise.all(loops);
    clearInterval(sampler);
    agent.destroy();
    // Connections closed on both sides, uploads cleaned up: the idle state again.
    await sleep(2000);
    report.idleAfter = sample(pid, options.dir, Date.now() - t0, requests);
    if (server.child.exitCode !== null || server.child.signalCode !== null) unexpected(`pso serve exited (${server.child.exitCode ?? server.child.signalCode})`);
  } finally {
    running = false;
    clearInterval(sampler);
    agent.destroy();
    await server.stop(10_000);
  }
  report.elapsedMs = Date.now() - t0;
  report.verdict = judge(report, warmup, options.rssTolerance ?? { ratio: 0.1, mib: 16 });
  return report;
}

/** The verdicts, each with the figures it rests on. */
function judge(r: SoakReport, warmupMs: number, tolerance: { ratio: number; mib: number }): SoakReport['verdict'] {
  const after = r.samples.filter((s) => s.t >= warmupMs);
  const quarter = Math.max(1, Math.floor(after.length / 4));
  const first = after.slice(0, quarter);
  const last = after.slice(-quarter);
  const mib = (kb: number) => (kb / 1024).toFixed(1);
  const q1 = median(first.map((s) => s.rssKb));
  const q4 = median(last.map((s) => s.rssKb));
  const allowed = Math.max(q1 * tolerance.ratio, tolerance.mib * 1024);
  const rss: SoakVerdict = after.length < 4
    ? { pass: false, detail: `too few samples after warm-up (${after.length}) to judge` }
    : { pass: q4 - q1 <= allowed, detail: `median RSS ${mib(q1)} MiB in the first quarter after warm-up, ${mib(q4)} MiB in the last (growth ${mib(q4 - q1)} MiB, allowed ${mib(allowed)}); peak ${mib(Math.max(...r.samples.map((s) => s.rssKb)))} MiB` };
  const fdsPeak = Math.max(...r.samples.map((s) => s.fds));
  const fds: SoakVerdict = {
    pass: r.idleAfter.fds <= r.idleBefore.fds + 2,
    detail: `${r.idleBefore.fds} open before the load, ${r.idleAfter.fds} once it ended, at most ${fdsPeak} under load`,
  };
  const tempPeak = Math.max(0, ...r.samples.map((s) => s.tempFiles));
  const tempFiles: SoakVerdict = { pass: r.idleAfter.tempFiles === 0, detail: `${r.idleAfter.tempFiles} upload files left once the load ended, at most ${tempPeak} under load` };
  const half = Math.floor(after.length / 2);
  const firstHalf = Math.max(0, ...after.slice(0, half).map((s) => s.sessionFiles));
  const secondHalf = Math.max(0, ...after.slice(half).map((s) => s.sessionFiles));
  const fell = r.samples.some((s, i) => i > 0 && s.sessionFiles < r.samples[i - 1]!.sessionFiles);
  const sessionFiles: SoakVerdict = {
    pass: fell && secondHalf <= firstHalf * 1.5 + 20 && r.idleAfter.sessionFiles < r.sessionsCreated,
    detail: `${r.sessionsCreated} sessions made, at most ${firstHalf} files in the first half after warm-up and ${secondHalf} in the second, ${r.idleAfter.sessionFiles} at the end; garbage collection ${fell ? 'deleted files' : 'never showed'}`,
  };
  const answers: SoakVerdict = { pass: r.unexpected.length === 0, detail: r.unexpected.length ? r.unexpected.slice(0, 5).join('; ') : 'every answer as expected' };
  return { rss, fds, tempFiles, sessionFiles, answers };
}
