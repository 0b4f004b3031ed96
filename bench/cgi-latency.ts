// CGI latency through a real Apache (event MPM + mod_cgid): the bundled quick
// sample (file session loaded and saved on every request) against a trivial
// node CGI that only prints "hello". Both pay node's start; the ratio shows
// what pso adds on top of it.
//
//   node dist/bench/cgi-latency.js [--n 200] [--warmup 20]
//
// Its CGI scripts and statistics are shared with promotion.ts.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { isMain } from 'pso-ts';
import { argCount } from './lib.js';
import { bundleHandler } from '../src/cli/bundleCommand.js';
import { startApache, type ApacheServer } from '../spec/support/apache.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GOAL = 1.3;

/** Latency statistics of a series of requests (ms). */
export interface Stats { median: number; p90: number; p99: number; mean: number; min: number; max: number }

/**
 * The statistics of `samples` (a percentile is the smallest sample with at
 * least that share of the samples at or below it).
 *
 * @example
 * ```ts
 * latencyStats([3, 1, 2]).median; // 2
 * ```
 */
export function latencyStats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, p90: at(0.9), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, max: s[s.length - 1]! };
}

/** The baseline CGI: node's start and nothing else. */
export const HELLO_CGI = "#!/usr/bin/env node\nprocess.stdout.write('Content-Type: text/plain\\n\\nhello');\n";

/** The directives the bundled quick sample gets from Apache (`SetEnv`), its sessions in `sessions`. */
export function quickDirectives(sessions: string): Record<string, string> {
  return { PSOServiceId: 'MyPSOTest', PSOSessionFileLoader_Path: sessions, PSOSessionExpire: '15*60' };
}

/** `SetEnv` lines for `directives` (values quoted). */
export function setEnvLines(directives: Record<string, string>): string {
  return Object.entries(directives).map(([k, v]) => `SetEnv ${k} "${v}"\n`).join('');
}

/**
 * A temporary directory for CGIs under Apache: `htdocs/` (0755) and
 * `sessions/` (0700, owned by www-data, which the CGIs run as).
 */
export function cgiDirectories(prefix: string): { base: string; docroot: string; sessions: string } {
  const uid = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }));
  const base = mkdtempSync(prefix);
  chmodSync(base, 0o755);
  const docroot = join(base, 'htdocs');
  const sessions = join(base, 'sessions');
  mkdirSync(docroot, { mode: 0o755 });
  mkdirSync(sessions, { mode: 0o700 });
  chownSync(sessions, uid, gid);
  return { base, docroot, sessions };
}

const ms = (x: number) => `${x.toFixed(2).padStart(7)} ms`;

/** When a CGI run directly (no web server) had written its first byte, ended its output, and exited (ms after the spawn). */
function directRun(script: string, env: NodeJS.ProcessEnv): Promise<{ first: number; end: number; exit: number }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(script, [], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let first = 0;
    let end = 0;
    child.stdout.on('data', () => { first ||= performance.now() - t; });
    child.stdout.on('end', () => { end = performance.now() - t; });
    child.on('error', reject);
    child.on('exit', () => { const exit = performance.now() - t; setImmediate(() => resolve({ first, end, exit })); });
  });
}

async function main(): Promise<void> {
  const n = argCount('n', 200);
  const warmup = argCount('warmup', 20);
  if (process.getuid?.() !== 0) throw new Error('needs root: Apache switches its workers to www-data');

  const { base, docroot, sessions } = cgiDirectories('/tmp/pso-bench-');

  let apache: ApacheServer | undefined;
  try {
    const { bytes } = await bundleHandler({ entry: join(ROOT, 'samples/quick.ts'), outfile: join(docroot, 'quick.cgi') });
    writeFileSync(join(docroot, 'hello.cgi'), HELLO_CGI, { mode: 0o755 });
    writeFileSync(join(docroot, '.htaccess'), `Options +ExecCGI\nAddHandler cgi-script .cgi\n${setEnvLines(quickDirectives(sessions))}`);
    apache = await startApache({ docroot });

    let cookie = '';
    let expected = 0;
    const quick = async () => {
      const t = performance.now();
      const res = await fetch(`${apache!.url}/quick.cgi`, { headers: cookie ? { cookie } : {} });
      const body = await res.text();
      const dt = performance.now() - t;
      const set = res.headers.getSetCookie().find((c) => c.startsWith('MyPSOTest='));
      if (set) cookie = set.split(';')[0]!;
      const count = Number(/reloaded: (\d+) times/.exec(body)?.[1]);
      // Every request must have loaded and saved the session.
      if (res.status !== 200 || count !== ++expected) throw new Error(`quick.cgi: ${res.status} ${body} (expected count ${expected})`);
      return dt;
    };
    const hello = async () => {
      const t = performance.now();
      const res = await fetch(`${apache!.url}/hello.cgi`);
      const body = await res.text();
      const dt = performance.now() - t;
      if (res.status !== 200 || body !== 'hello') throw new Error(`hello.cgi: ${res.status} ${body}`);
      return dt;
    };

    for (let i = 0; i < warmup; i++) { await quick(); await hello(); }
    const a: number[] = [];
    const b: number[] = [];
    // Alternating (and swapping who goes first) cancels drift and order effects.
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) { a.push(await quick()); b.push(await hello()); }
      else { b.push(await hello()); a.push(await quick()); }
    }

    // The same two scripts run directly: when the output ended against when the process exited.
    const env = { PATH: process.env.PATH, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/quick.cgi', HTTP_COOKIE: cookie, ...quickDirectives(sessions) };
    const direct = { quick: [] as { first: number; end: number; exit: number }[], hello: [] as { first: number; end: number; exit: number }[] };
    for (let i = 0; i < Math.min(n, 100); i++) {
      direct.quick.push(await directRun(join(docroot, 'quick.cgi'), env));
      direct.hello.push(await directRun(join(docroot, 'hello.cgi'), env));
    }

    const files = readdirSync(sessions);
    const sq = latencyStats(a);
    const sh = latencyStats(b);
    const ratio = sq.median / sh.median;
    console.log(`CGI latency through Apache ${apache.url} (event MPM, mod_cgid), node ${process.version} (${process.execPath})`);
    console.log(`${n} sequential requests each, interleaved, after ${warmup} warm-up requests each; time = fetch() until the body is read, keep-alive`);
    console.log(`quick.cgi: bundled samples/quick.ts (${bytes} bytes); one file session, loaded and saved on every request (count reached ${expected}; ${files.length} file(s) in the session dir, ${statSync(join(sessions, files[0]!)).size} bytes)`);
    console.log('hello.cgi: a 2-line node script printing "hello"');
    console.log('');
    console.log(`              median        p90       mean        min        max`);
    for (const [name, s] of [['quick.cgi', sq], ['hello.cgi', sh]] as const) {
      console.log(`${name.padEnd(10)} ${ms(s.median)} ${ms(s.p90)} ${ms(s.mean)} ${ms(s.min)} ${ms(s.max)}`);
    }
    console.log('');
    console.log(`median(quick) - median(hello) = ${(sq.median - sh.median).toFixed(2)} ms`);
    console.log(`ratio median(quick)/median(hello) = ${ratio.toFixed(3)} (goal <= ${GOAL}: ${ratio <= GOAL ? 'met' : 'NOT met'})`);
    console.log('');
    console.log(`Run directly as root (no web server, ${direct.quick.length} each; medians, ms after the spawn): the web server has the response when the output ends;`);
    console.log('quick.cgi ends its output when it has nothing left to do, before node tears itself down; hello.cgi when it exits');
    console.log(`              first byte  output end  process exit`);
    for (const [name, runs] of [['quick.cgi', direct.quick], ['hello.cgi', direct.hello]] as const) {
      const med = (k: 'first' | 'end' | 'exit') => ms(latencyStats(runs.map((r) => r[k])).median);
      console.log(`${name.padEnd(10)} ${med('first')}  ${med('end')}    ${med('exit')}`);
    }
  } finally {
    await apache?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  main().catch((e) => {
    console.error(`cgi-latency: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
