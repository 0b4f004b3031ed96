// A soak of `pso serve`: see README.md.
//
//   node dist/bench/soak.js [--duration 600] [--sample 5] [--warmup 120] [--rate 150] [--loops 8] [--expire 20] [--gc-interval 10]
//
// Mixed load at a steady rate on one `pso serve` (file store): new visitors,
// returning visitors with their cookies, multipart uploads (some cut off
// mid-body), a handler that throws, and hostile cookies (garbage, overlong,
// forged signed ids). Every few seconds the server's resident memory
// (/proc/PID/status), its open file descriptors (/proc/PID/fd), the upload
// directory and the session directory are sampled; the curve is printed with
// a verdict on each.
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isMain } from 'pso-ts';
import { runSoak } from '../spec/support/soakRun.js';
import { RESULTS_DIR, environment, runMain, table } from './lib.js';

interface SoakBenchOptions {
  duration: number;
  sample: number;
  warmup: number | undefined;
  rate: number;
  loops: number;
  expire: number;
  gcInterval: number;
}

function parse(argv: string[]): SoakBenchOptions {
  const o: SoakBenchOptions = { duration: 600, sample: 5, warmup: undefined, rate: 150, loops: 8, expire: 20, gcInterval: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = Number(argv[++i]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
    if (a === '--duration') o.duration = v;
    else if (a === '--sample') o.sample = v;
    else if (a === '--warmup') o.warmup = v;
    else if (a === '--rate') o.rate = v;
    else if (a === '--loops') o.loops = Math.floor(v);
    else if (a === '--expire') o.expire = Math.floor(v);
    else if (a === '--gc-interval') o.gcInterval = v;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const env = environment();
  const warmup = o.warmup ?? o.duration / 5;
  console.log(`soak: ${o.duration} s of mixed load at ${o.rate} req/s over ${o.loops} loops, sampled every ${o.sample} s (warm-up ${warmup} s); PSOSessionExpire ${o.expire}, PSOSessionGCProbability 0.05, PSOSessionGCInterval ${o.gcInterval}; node ${env.node}, ${env.cpus} CPUs\n`);
  const dir = mkdtempSync(join(tmpdir(), 'pso-soak-'));
  let report;
  try {
    report = await runSoak({
      dir, durationMs: o.duration * 1000, sampleEveryMs: o.sample * 1000, warmupMs: warmup * 1000, rate: o.rate, loops: o.loops,
      expireSeconds: o.expire, gcIntervalSeconds: o.gcInterval, progress: (line) => console.log(`  ${line}`),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [['action', ...new Set(Object.values(report.answers).flatMap((a) => Object.keys(a)))].map(String)];
  const statuses = rows[0]!.slice(1);
  for (const [action, by] of Object.entries(report.answers)) rows.push([action, ...statuses.map((s) => String(by[s] ?? 0))]);
  console.log(`\nAnswers by action and status (none: no answer, as expected of an upload cut off)\n\n${table(rows)}`);
  console.log(`\nIdle before the load: rss ${(report.idleBefore.rssKb / 1024).toFixed(1)} MiB, ${report.idleBefore.fds} fds; after it: rss ${(report.idleAfter.rssKb / 1024).toFixed(1)} MiB, ${report.idleAfter.fds} fds, ${report.idleAfter.tempFiles} temp files, ${report.idleAfter.sessionFiles} session files`);
  console.log('\nVerdict');
  for (const [name, v] of Object.entries(report.verdict)) console.log(`  ${v.pass ? 'PASS' : 'FAIL'}  ${name}: ${v.detail}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'soak.json');
  await writeFile(file, `${JSON.stringify({ bench: 'soak', date: new Date().toISOString(), env, options: o, report }, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), file) || file}`);
  return Object.values(report.verdict).every((v) => v.pass) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
