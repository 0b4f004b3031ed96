// nginx in front of pso, two ways, same handler (the file-store counter of
// every benchmark), same nginx (Debian's, one worker, 127.0.0.1):
//
//   fastcgi  nginx fastcgi_pass → serveFastCgi (what `pso serve --fastcgi` runs),
//            a unix socket, connections kept (fastcgi_keep_conn on, upstream keepalive)
//   http     nginx proxy_pass → serve (what `pso serve` runs), HTTP/1.1 on
//            127.0.0.1, connections kept (upstream keepalive)
//
//   node dist/bench/fastcgi.js [--duration 10] [--warmup 3] [--sessions 200]
//                              [--connections 32] [--rounds 2] [--only fastcgi,http]
//
// autocannon in this process sends the sessions round-robin to nginx; each pso
// server runs in a child process (this file, `child` mode). Each round
// measures both, the order reversed every other round. Besides requests/s,
// the CPU time per request of the pso process and of nginx (its master and
// worker, from /proc): on a shared machine they drift less than requests/s.
// Results: stdout and .bench-results/fastcgi.json. Needs root (nginx's
// workers run as www-data) and Debian's nginx.
import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, serveFastCgi, type ServiceRequest } from 'pso-ts';
import { startNginx, type NginxServer } from '../spec/support/nginx.js';
import { keepRequestsYoung } from '../src/util/servingHeap.js';
import { RESULTS_DIR, consistencyCheck, environment, fmt, measure, parseOptions, procStatFields, psoCounter, runMain, table, watchdog, type Measured, type ServerUsage } from './lib.js';

const KINDS = ['fastcgi', 'http'] as const;
type Kind = (typeof KINDS)[number];
const LABELS: Record<Kind, string> = {
  fastcgi: 'nginx → pso FastCGI (unix socket, kept)',
  http: 'nginx → pso node:http (proxy_pass, kept)',
};
const HERE = fileURLToPath(import.meta.url);

/** A pso server in a child process. */
interface Child {
  child: ChildProcess;
  /** `unix:/path` for FastCGI, the port for HTTP. */
  address: string | number;
  usage(): Promise<ServerUsage>;
  stop(): Promise<void>;
}

function startChild(kind: Kind, dir: string): Promise<Child> {
  const child = fork(HERE, ['child', kind, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${kind} server did not start`)); }, 15_000);
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
    child.once('message', (m: { address: string | number }) => {
      clearTimeout(timer);
      resolve({
        child,
        address: m.address,
        usage: () => new Promise((res) => {
          const on = (u: any) => { if (typeof u?.cpuMs === 'number') { child.off('message', on); res(u); } };
          child.on('message', on);
          child.send('usage');
        }),
        stop: () => new Promise((res) => { if (child.exitCode !== null) return res(); child.once('exit', () => res()); child.send('stop'); }),
      });
    });
  });
}

/** The child: serves the counter over FastCGI or HTTP, reports its address, its CPU time on request. */
async function childMain(kind: Kind, dir: string): Promise<void> {
  // As `pso serve` does, with or without --fastcgi.
  keepRequestsYoung();
  let requests = 0;
  const handler = (r: ServiceRequest) => { requests++; psoCounter(r); };
  const directives = { PSOServiceId: 'bench', PSOSessionFileLoader_Path: join(dir, 'sessions'), PSOSessionGCProbability: '0' };
  let close: () => Promise<void>;
  if (kind === 'fastcgi') {
    const s = await serveFastCgi(handler, { address: `unix:${join(dir, 'pso.sock')}`, socketMode: 0o666, directives, moduleName: 'bench' });
    close = () => s.close();
    process.send!({ address: s.address });
  } else {
    const s = await serve(handler, { port: 0, directives, moduleName: 'bench' });
    close = () => s.close();
    process.send!({ address: s.port });
  }
  const stop = () => { setTimeout(() => process.exit(0), 2000).unref(); void close().finally(() => process.exit(0)); };
  process.on('message', (m) => {
    if (m === 'usage') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpuMs: (user + system) / 1000, requests });
    } else if (m === 'stop') stop();
  });
  process.on('disconnect', stop);
}

/** CPU time (ms) of the processes of a process group (nginx's master and worker), from /proc. */
function groupCpuMs(pgid: number): number {
  let ticks = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = procStatFields(name);
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10;
}

/** nginx in front of one pso child. */
async function startFront(kind: Kind, pso: Child, docroot: string): Promise<NginxServer> {
  if (kind === 'fastcgi') {
    return startNginx({
      docroot,
      locations: [{ match: '^/', pass: String(pso.address), keepConnection: true, params: { SCRIPT_NAME: '' }, variables: { PATH_INFO: '$uri' } }],
    });
  }
  return startNginx({
    docroot,
    locations: [],
    httpConfig: `    upstream pso_http { server 127.0.0.1:${pso.address}; keepalive 16; }`,
    extraConfig: '        location / { proxy_pass http://pso_http; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }',
  });
}

interface Row {
  kind: Kind;
  round: number;
  result: Measured;
  nginxCpuMsPerRequest: number;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'child') {
    await childMain(process.argv[3] as Kind, process.argv[4]!);
    return new Promise(() => {});
  }
  const o = parseOptions<Kind>(process.argv.slice(2), (k) => (KINDS as readonly string[]).includes(k), undefined, { sessions: 200, rounds: 2 });
  if (process.getuid?.() !== 0) throw new Error('needs root: nginx switches its workers to www-data');
  const kinds = o.only ?? [...KINDS];
  watchdog((o.duration + o.warmup + 30) * kinds.length * o.rounds * 1000 + 60_000);
  const base = mkdtempSync(join(tmpdir(), 'pso-bench-fastcgi-'));
  chmodSync(base, 0o755);
  const stacks = new Map<Kind, { pso: Child; nginx: NginxServer }>();
  const rows: Row[] = [];
  try {
    for (const kind of kinds) {
      const dir = join(base, kind);
      await mkdir(join(dir, 'htdocs'), { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      const pso = await startChild(kind, dir);
      stacks.set(kind, { pso, nginx: await startFront(kind, pso, join(dir, 'htdocs')) });
    }
    console.log(`nginx → pso, ${o.connections} connections, ${o.sessions} sessions, ${o.warmup} s warm-up + ${o.duration} s, ${o.rounds} round(s); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (let round = 1; round <= o.rounds; round++) {
      for (const kind of round % 2 ? kinds : [...kinds].reverse()) {
        const { pso, nginx } = stacks.get(kind)!;
        const master = Number(readFileSync(join(nginx.stateDir, 'nginx.pid'), 'utf8').trim());
        const nginxCpu: number[] = [];
        // measure() asks for the server's usage just before and just after the measured run: nginx's is read then too.
        const result = await measure(nginx.port, o, false, async () => {
          nginxCpu.push(groupCpuMs(master));
          return pso.usage();
        });
        const nginxCpuMsPerRequest = (nginxCpu[1]! - nginxCpu[0]!) / Math.max(1, result.requests);
        rows.push({ kind, round, result, nginxCpuMsPerRequest });
        console.log(`  round ${round} ${kind}: ${fmt(result.reqPerSec)} req/s`);
      }
    }
  } finally {
    for (const { pso, nginx } of stacks.values()) {
      await nginx.stop().catch(() => {});
      await pso.stop().catch(() => {});
    }
    rmSync(base, { recursive: true, force: true });
  }

  const header = ['target', 'round', 'req/s', '±', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'pso CPU ms/req', 'nginx CPU ms/req', 'all 200, none lost'];
  console.log(`\n${table([header, ...rows.map((r) => [
    LABELS[r.kind], String(r.round), fmt(r.result.reqPerSec), fmt(r.result.reqPerSecStddev), String(r.result.latencyP50), String(r.result.latencyP99),
    String(r.result.errors + r.result.timeouts), String(r.result.non2xx),
    r.result.serverCpuMsPerRequest?.toFixed(3) ?? '-', r.nginxCpuMsPerRequest.toFixed(3),
    consistencyCheck(r.kind, r.result).pass ? 'yes' : `NO: ${consistencyCheck(r.kind, r.result).detail}`,
  ])])}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'fastcgi.json'), JSON.stringify({ environment: environment(), options: o, rows }, null, 2));
  const bad = rows.some((r) => !consistencyCheck(r.kind, r.result).pass);
  return bad ? 1 : 0;
}

runMain(main);
