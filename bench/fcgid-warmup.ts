// A bundled handler started as mod_fcgid starts it (a listening socket as
// standard input) and driven as mod_fcgid drives it: one request at a time, on
// a new connection each. Prints the CPU time of the process per request over
// successive chunks of requests, from its start: how long a new process takes
// to warm up (V8 compiling its hot paths), and what a request costs once warm.
//
//   node dist/bench/fcgid-warmup.js [--chunks 8] [--chunk 2500] [--sessions 100]
//
// The bundle is samples/quick.ts (its file session loaded and saved on every
// request); the client is this process, on the same CPUs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundleHandler } from '../src/cli/bundleCommand.js';
import { FastCgiClient, cgiParams, request } from '../spec/support/fastcgiClient.js';
import { quickDirectives } from './cgi-latency.js';
import { ROOT, argCount, processCpuMs, runMain } from './lib.js';

async function main(): Promise<number> {
  const chunks = argCount('chunks', 8);
  const chunk = argCount('chunk', 2500);
  const sessions = argCount('sessions', 100);
  const base = mkdtempSync(join(tmpdir(), 'pso-fcgid-warmup-'));
  const listener = createServer();
  const address = `\0pso-fcgid-warmup-${process.pid}`;
  try {
    const script = join(base, 'quick.fcgi');
    await bundleHandler({ entry: join(ROOT, 'samples/quick.ts'), outfile: script });
    await new Promise<void>((resolve) => listener.listen(address, resolve));
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const env = { PATH: process.env.PATH, ...quickDirectives(join(base, 'sessions')) };
    const child = spawn(script, [], { env, stdio: [fd, 'inherit', 'inherit'] });
    listener.close();
    const cookies: (string | undefined)[] = [];
    const one = async (i: number) => {
      const client = new FastCgiClient(address);
      const cookie = cookies[i % sessions];
      await client.send(request(1, cgiParams('GET', '/quick.fcgi', cookie ? { HTTP_COOKIE: cookie } : {}), '', { keep: false }));
      const answer = await client.answer(1);
      client.close();
      if (answer.status !== 200) throw new Error(`request ${i}: ${answer.status} ${answer.body}`);
      cookies[i % sessions] ??= answer.headers.find(([k]) => k.toLowerCase() === 'set-cookie')?.[1].split(';')[0];
    };
    console.log(`samples/quick.ts bundled, started with a listening socket as standard input (as mod_fcgid starts it), node ${process.version}`);
    console.log(`${chunks} chunks of ${chunk} requests, one at a time, a new connection each, ${sessions} sessions round robin`);
    console.log('');
    console.log('requests        req/s   CPU µs/request (user + system)');
    let done = 0;
    for (let k = 0; k < chunks; k++) {
      const c0 = processCpuMs(child.pid!);
      const t0 = performance.now();
      for (let i = 0; i < chunk; i++) await one(done + i);
      const seconds = (performance.now() - t0) / 1000;
      const c1 = processCpuMs(child.pid!);
      const per = (ms: number) => ((ms / chunk) * 1000).toFixed(0);
      console.log(`${String(done + 1).padStart(6)}-${String(done + chunk).padEnd(6)} ${(chunk / seconds).toFixed(0).padStart(7)}   ${per(c1.user - c0.user + c1.system - c0.system).padStart(5)} (${per(c1.user - c0.user)} + ${per(c1.system - c0.system)})`);
      done += chunk;
    }
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    return 0;
  } finally {
    listener.close();
    rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
