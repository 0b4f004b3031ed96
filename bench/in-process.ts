// This build against another checkout of pso, both loaded into this one
// process: the framework's own cost per request, without sockets, child
// processes or a second program sharing the CPUs.
//
//   git worktree add /tmp/pso-before <commit> && (cd /tmp/pso-before && npm ci)
//   npx tsc -p . && node dist/bench/in-process.js --other /tmp/pso-before
//     [--store memory|file] [--batches 40] [--batch 2000] [--sessions 500]
//
// Each build's createFetchHandler serves its own counter page (the handler of
// its dist/bench/lib.js) from a Request to a Response, one request at a time,
// round robin over --sessions sessions made first. Batches of --batch requests
// alternate between the builds; the table gives each build's fastest and
// median batch in µs per request (wall time of sequential requests in one
// thread), and the ratio. The fastest batch is the figure least touched by
// whatever else the machine is doing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ROOT, argCount, argValue, fmt, table } from './lib.js';

interface Loaded {
  name: string;
  fetchHandler: (request: Request) => Promise<Response>;
  cookies: string[];
  batches: number[];
}

const BASE = 'http://127.0.0.1/';

async function load(name: string, root: string, store: string, dir: string): Promise<Loaded> {
  const pso = await import(pathToFileURL(join(root, 'dist/src/index.js')).href);
  const lib = await import(pathToFileURL(join(root, 'dist/bench/lib.js')).href);
  const directives: Record<string, string> = { PSOSessionFileLoader_Path: join(dir, name) };
  if (store === 'memory') directives.PSOSessionStore = 'memory:';
  const fetchHandler = pso.createFetchHandler(lib.psoCounter, { directives, moduleName: 'counter' });
  return { name, fetchHandler, cookies: [], batches: [] };
}

async function one(b: Loaded, cookie: string | undefined): Promise<Response> {
  const response = await b.fetchHandler(new Request(BASE, { headers: cookie ? { cookie } : {} }));
  await response.text();
  if (response.status !== 200) throw new Error(`${b.name}: status ${response.status}`);
  return response;
}

async function makeSessions(b: Loaded, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await one(b, undefined);
    const set = r.headers.get('set-cookie');
    if (!set) throw new Error(`${b.name}: no session cookie`);
    b.cookies.push(set.split(';')[0]!);
  }
}

async function batch(b: Loaded, size: number, start: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < size; i++) await one(b, b.cookies[(start + i) % b.cookies.length]);
  return ((performance.now() - t0) * 1000) / size;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const other = argValue('other');
  if (!other) throw new Error('--other <checkout of pso, built> is required');
  const store = argValue('store') ?? 'memory';
  if (store !== 'memory' && store !== 'file') throw new Error('--store is memory or file');
  const batches = argCount('batches', 40);
  const size = argCount('batch', 2000);
  const sessions = argCount('sessions', 500);
  const dir = mkdtempSync(join(tmpdir(), 'pso-in-process-'));
  try {
    const builds = [await load('this', ROOT, store, dir), await load('other', resolve(other), store, dir)];
    for (const b of builds) {
      await makeSessions(b, sessions);
      await batch(b, size, 0); // warm-up
    }
    for (let i = 0; i < batches; i++) {
      const order = i % 2 ? [...builds].reverse() : builds;
      for (const b of order) b.batches.push(await batch(b, size, i * size));
    }
    const [mine, theirs] = builds as [Loaded, Loaded];
    const minOf = (b: Loaded) => Math.min(...b.batches);
    console.log(`in-process, ${store} store, ${batches} batches of ${size} requests per build, ${sessions} sessions; other: ${resolve(other)}`);
    console.log(
      table([['build', 'fastest batch µs/req', 'median batch µs/req'], ...builds.map((b) => [b.name, fmt(minOf(b), 1), fmt(median(b.batches), 1)])]),
    );
    console.log(`ratio this/other: fastest ${fmt(minOf(mine) / minOf(theirs), 3)}, median ${fmt(median(mine.batches) / median(theirs.batches), 3)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
