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
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isMain } from 'pso-ts';
import {
  HERE,
  LOST_HEADER,
  LOST_NOTE,
  RESULTS_DIR,
  concurrentIncrements,
  consistencyCheck,
  environment,
  fmt,
  lostRow,
  measure,
  parseOptions as parseCommon,
  runMain,
  sleep,
  startServer as startChild,
  table,
  watchdog,
  type Check,
  type Increments,
  type Measured,
  type Options as CommonOptions,
  type RunningServer,
} from './lib.js';

const SERVER_SCRIPT = join(HERE, 'servers.js');
const RESULTS_FILE = join(RESULTS_DIR, 'file-store.json');

type Kind = 'bare' | 'pso' | 'pso-processlock' | 'pso-fsync' | 'express';

const THROUGHPUT_TARGETS: { kind: Kind; label: string }[] = [
  { kind: 'bare', label: '1. bare node:http, no session' },
  { kind: 'pso', label: '2. pso file store (default: lock files)' },
  { kind: 'pso-processlock', label: '3. pso, PSOSessionLock process' },
  { kind: 'pso-fsync', label: '4. pso, Fsync on' },
  { kind: 'express', label: '5. express-session + file-store' },
];
const LOST_UPDATE_TARGETS: { kind: Kind; label: string }[] = [
  { kind: 'pso', label: 'pso file store (default)' },
  { kind: 'pso-fsync', label: 'pso, Fsync on' },
  { kind: 'pso-processlock', label: 'pso, PSOSessionLock process (extra)' },
  { kind: 'express', label: 'express-session + file-store' },
];

type Options = CommonOptions<Kind>;

function parseOptions(argv: string[]): Options {
  return parseCommon<Kind>(argv, (k) => THROUGHPUT_TARGETS.some((t) => t.kind === k));
}

function startServer(kind: Kind, dir: string, execArgv: string[] = []): Promise<RunningServer> {
  return startChild(SERVER_SCRIPT, [kind, dir], kind, execArgv);
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

// ---- A. throughput -------------------------------------------------------------------

interface ThroughputResult extends Measured {
  kind: Kind;
  label: string;
  /** File creation cost just before the run (see createProbe). */
  createProbeUs: number;
}

async function throughput(target: { kind: Kind; label: string }, o: Options): Promise<ThroughputResult> {
  const createProbeUs = createProbe();
  const dir = await mkdtemp(join(tmpdir(), `pso-bench-${target.kind}-`));
  const execArgv =
    o.cpuProf && target.kind.startsWith('pso') ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS_DIR, 'profiles', target.kind)}`] : [];
  const server = await startServer(target.kind, dir, execArgv);
  try {
    const measured = await measure(server.port, o, target.kind === 'bare');
    return { kind: target.kind, label: target.label, createProbeUs, ...measured };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- B. lost updates -------------------------------------------------------------------

interface LostUpdateResult extends Increments {
  kind: Kind;
  label: string;
}

async function lostUpdates(target: { kind: Kind; label: string }, o: Options): Promise<LostUpdateResult> {
  const dir = await mkdtemp(join(tmpdir(), `pso-bench-lost-${target.kind}-`));
  const server = await startServer(target.kind, dir);
  try {
    return { kind: target.kind, label: target.label, ...(await concurrentIncrements(server.port, o.concurrent)) };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- report ------------------------------------------------------------------------------

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseOptions(argv);
  // Everything is bounded: a run that overstays is stopped.
  watchdog((THROUGHPUT_TARGETS.length * (o.warmup + o.duration + o.pause + 60) + LOST_UPDATE_TARGETS.length * 60 + 60) * 1000);

  const wanted = (k: Kind) => !o.only || o.only.includes(k);
  const env = environment();
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

  const checks: Check[] = [];
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
  for (const r of results) checks.push(consistencyCheck(r.label, r));

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
  const lostRows = [LOST_HEADER];
  for (const r of lost) {
    lostRows.push(lostRow(r.label, r));
    if (r.kind === 'pso' || r.kind === 'pso-fsync') {
      checks.push({ name: `lost updates, ${r.label}: exactly ${r.requests} kept`, pass: r.kept === r.requests, detail: `kept ${r.kept}` });
    }
  }
  console.log(table(lostRows));
  console.log(LOST_NOTE);

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

if (isMain(import.meta.url)) runMain(main);
