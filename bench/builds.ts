// This build against another checkout of pso (an older commit, built), side by
// side in one run: the file store and the memory store under `pso serve`, and
// the bundled quick sample as a CGI under Apache.
//
//   git worktree add /tmp/pso-before <commit> && (cd /tmp/pso-before && npm ci)
//   npx tsc -p . && node dist/bench/builds.js --other /tmp/pso-before [--requests 6000] [--rounds 3] [--n 200]
//     [--stores file,memory,sqlite,redis,postgres,mysql] [--no-cgi]
//
// Each build serves its own dist/bench/counterHandler.js (the counter page)
// with its own command line, one process, on a fresh session directory; the
// client is this process (keep-alive, 16 connections, 500 sessions round
// robin). Per target and round: req/s and the server's CPU per request (from
// /proc). Rounds alternate the order of the builds. The CGI part bundles
// samples/quick.ts with each build's `pso bundle` and times sequential
// requests through one Apache, interleaved, with a node "hello" CGI beside.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { isMain } from 'pso-ts';
import { startApache, type ApacheServer } from '../spec/support/apache.js';
import { HELLO_CGI, cgiDirectories, latencyStats, quickDirectives, setEnvLines } from './cgi-latency.js';
import { ROOT, RESULTS_DIR, argCount, argValue, environment, fmt, get, processCpuMs, table } from './lib.js';

interface Build {
  name: string;
  root: string;
}

function cpuMs(pid: number): number {
  const { user, system } = processCpuMs(pid);
  return user + system;
}

const POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
const REDIS = 'redis://127.0.0.1:6379/5';
/** A build's table in the SQL databases, and its key prefix in Redis. */
const tableOf = (b: Build) => `pso_builds_${b.name.replace(/\W/g, '_')}`;
const prefixOf = (b: Build) => `pso-builds-${b.name}:`;

/** The stores a run can use: `PSOSessionStore` for a build (each build its own table or prefix), none for files. */
const STORES: Record<string, (dir: string, build: Build) => string | undefined> = {
  file: () => undefined,
  memory: () => 'memory:',
  sqlite: (dir) => `sqlite://${join(dir, 'sessions.db')}`,
  redis: (_dir, b) => `${REDIS}?prefix=${prefixOf(b)}`,
  postgres: (_dir, b) => `${POSTGRES}?table=${tableOf(b)}`,
  mysql: (_dir, b) => `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${MYSQL.database}?table=${tableOf(b)}`,
};

async function serveRun(build: Build, store: string, requests: number): Promise<{ rps: number; cpuUs: number; non200: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pso-builds-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: '', PSOSessionFileLoader_Path: join(dir, 'sessions') };
  const url = STORES[store]!(dir, build);
  if (url) env.PSOSessionStore = url;
  const child: ChildProcess = spawn(process.execPath, [join(build.root, 'dist/src/cli/main.js'), 'serve', join(build.root, 'dist/bench/counterHandler.js'), '--port', String(port)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    for (let i = 0; ; i++) {
      try {
        await get(port, '/', undefined, agent);
        break;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const cookies: string[] = [];
    for (let i = 0; i < 500; i++) cookies.push((await get(port, '/', undefined, agent)).cookie!);
    for (let i = 0; i < 1000; i++) await get(port, '/', cookies[i % cookies.length], agent);
    const c0 = cpuMs(child.pid!);
    const t0 = performance.now();
    let next = 0;
    let non200 = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < requests) {
        const i = next++;
        if ((await get(port, '/', cookies[i % cookies.length], agent)).status !== 200) non200++;
      }
    }));
    const wall = performance.now() - t0;
    return { rps: (requests * 1000) / wall, cpuUs: ((cpuMs(child.pid!) - c0) * 1000) / requests, non200 };
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    await dropStore(store, build);
  }
}

/** Deletes what a run wrote to a database store (its table, or its keys), so that each run starts empty and none is left behind. */
async function dropStore(store: string, build: Build): Promise<void> {
  const table = tableOf(build);
  if (store === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      // The user index's table is named after the sessions' table.
      for (const { tablename } of (await client.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [`${table}%`])).rows) {
        await client.query(`DROP TABLE IF EXISTS "${tablename}"`);
      }
    } finally {
      await client.end();
    }
  } else if (store === 'mysql') {
    const mysql = await import('mysql2/promise');
    const connection = await mysql.createConnection({ ...MYSQL, connectTimeout: 5000 });
    try {
      const [rows] = await connection.query('SHOW TABLES LIKE ?', [`${table}%`]);
      for (const row of rows as Record<string, string>[]) await connection.query(`DROP TABLE IF EXISTS \`${Object.values(row)[0]}\``);
    } finally {
      await connection.end();
    }
  } else if (store === 'redis') {
    const { createClient } = await import('redis');
    const client = createClient({ url: REDIS });
    await client.connect();
    try {
      for await (const keys of client.scanIterator({ MATCH: `${prefixOf(build)}*`, COUNT: 1000 })) {
        const batch = ([] as string[]).concat(keys);
        if (batch.length) await client.del(batch);
      }
    } finally {
      await client.quit();
    }
  }
}

const median = (xs: number[]) => latencyStats(xs).median;

async function cgiRun(builds: Build[], n: number): Promise<Map<string, number[]>> {
  const { base, docroot, sessions } = cgiDirectories('/tmp/pso-builds-cgi-');
  let apache: ApacheServer | undefined;
  const samples = new Map<string, number[]>();
  try {
    for (const b of builds) {
      execFileSync(process.execPath, [join(b.root, 'dist/src/cli/main.js'), 'bundle', join(b.root, 'samples/quick.ts'), '-o', join(docroot, `${b.name}.cgi`)], { stdio: 'inherit' });
    }
    writeFileSync(join(docroot, 'hello.cgi'), HELLO_CGI, { mode: 0o755 });
    writeFileSync(join(docroot, '.htaccess'), `Options +ExecCGI\nAddHandler cgi-script .cgi\n${setEnvLines(quickDirectives(sessions))}`);
    apache = await startApache({ docroot });
    const cookies = new Map<string, string>();
    const once = async (name: string) => {
      const t = performance.now();
      const res = await fetch(`${apache!.url}/${name}.cgi`, { headers: cookies.has(name) ? { cookie: cookies.get(name)! } : {} });
      await res.text();
      const dt = performance.now() - t;
      if (res.status !== 200) throw new Error(`${name}.cgi answered ${res.status}`);
      const set = res.headers.getSetCookie().find((c) => c.startsWith('MyPSOTest='));
      if (set) cookies.set(name, set.split(';')[0]!);
      return dt;
    };
    const names = [...builds.map((b) => b.name), 'hello'];
    for (let i = 0; i < 10; i++) for (const name of names) await once(name);
    for (let i = 0; i < n; i++) {
      for (const name of i % 2 ? [...names].reverse() : names) {
        const dt = await once(name);
        samples.set(name, [...(samples.get(name) ?? []), dt]);
      }
    }
    return samples;
  } finally {
    await apache?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const otherRoot = argValue('other');
  if (!otherRoot) throw new Error('--other DIR: the root of another checkout of pso, built (npm ci)');
  const other = resolve(otherRoot);
  if (!existsSync(join(other, 'dist/src/cli/main.js'))) throw new Error(`${other} is not built: run npm ci there`);
  const otherCommit = execFileSync('git', ['-C', other, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const thisCommit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const builds: Build[] = [{ name: `other-${otherCommit}`, root: other }, { name: `this-${thisCommit}`, root: ROOT }];
  const requests = argCount('requests', 6000);
  const rounds = argCount('rounds', 3);
  const n = argCount('n', 200);
  const stores = (argValue('stores') ?? 'file,memory').split(',');
  for (const s of stores) if (!Object.hasOwn(STORES, s)) throw new Error(`--stores: unknown ${s} (known: ${Object.keys(STORES).join(', ')})`);
  const results: Record<string, unknown> = { bench: 'builds', date: new Date().toISOString(), env: environment(), builds, requests, rounds };

  console.log(`builds bench: ${builds.map((b) => `${b.name} (${b.root})`).join(' against ')}; load ${loadavg()[0]!.toFixed(2)}`);
  const serve: Record<string, { rps: number[]; cpuUs: number[]; non200: number }> = {};
  for (let r = 0; r < rounds; r++) {
    for (const store of stores) {
      for (const b of r % 2 ? [...builds].reverse() : builds) {
        const x = await serveRun(b, store, requests);
        const key = `${store} ${b.name}`;
        const acc = (serve[key] ??= { rps: [], cpuUs: [], non200: 0 });
        acc.rps.push(x.rps);
        acc.cpuUs.push(x.cpuUs);
        acc.non200 += x.non200;
        console.log(`  round ${r + 1} ${key}: ${x.rps.toFixed(0)} req/s, ${x.cpuUs.toFixed(0)} us CPU/request${x.non200 ? `, ${x.non200} non-200` : ''}`);
      }
    }
  }
  const rows = [['target', 'req/s (median)', 'rounds', 'CPU us/req (median)', 'non-200', 'x other (req/s)', 'x other (CPU)']];
  for (const store of stores) {
    const base = serve[`${store} ${builds[0]!.name}`]!;
    for (const b of builds) {
      const s = serve[`${store} ${b.name}`]!;
      rows.push([`${store} store, ${b.name}`, fmt(median(s.rps)), s.rps.map((x) => x.toFixed(0)).join(' '), fmt(median(s.cpuUs)), String(s.non200), fmt(median(s.rps) / median(base.rps), 2), fmt(median(s.cpuUs) / median(base.cpuUs), 2)]);
    }
  }
  console.log(`\nA. pso serve, counter page: ${requests} requests per run over 16 kept-alive connections, 500 sessions; ${rounds} rounds\n`);
  console.log(table(rows));
  results.serve = serve;

  if (process.argv.includes('--no-cgi')) {
    console.log('\nB. CGI latency not asked for (--no-cgi)');
  } else if (process.getuid?.() === 0) {
    const cgi = await cgiRun(builds, n);
    const crow = [['CGI', 'median ms', 'p90 ms', 'mean ms', 'x other (median)']];
    const otherMedian = latencyStats(cgi.get(builds[0]!.name)!).median;
    for (const [name, xs] of cgi) {
      const s = latencyStats(xs);
      crow.push([`${name}.cgi`, fmt(s.median, 2), fmt(s.p90, 2), fmt(s.mean, 2), name === 'hello' ? '-' : fmt(s.median / otherMedian, 2)]);
    }
    console.log(`\nB. the bundled quick sample under Apache CGI: ${n} sequential requests each, interleaved, after 10 each\n`);
    console.log(table(crow));
    results.cgi = Object.fromEntries([...cgi].map(([k, v]) => [k, latencyStats(v)]));
  } else {
    console.log('\nB. CGI latency skipped: needs root (Apache runs its CGIs as www-data)');
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'builds.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nJSON: .bench-results/builds.json`);
}

if (isMain(import.meta.url)) {
  main().catch((e) => {
    console.error(`builds: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
