// pso's deployments side by side with PHP 8.2 (Debian) serving the same
// counter page with its default file sessions, in one run:
//
//   nginx + php-fpm (fastcgi_pass)        vs  nginx + pso serve / --workers / --fastcgi
//                                             pso serve with the memory store, and a hello-world node:http (the ceiling)
//   Apache + php-fpm (mod_proxy_fcgi)     vs  Apache + mod_fcgid + pso bundle
//   Apache CGI + php-cgi                  vs  Apache CGI + pso bundle, and a hello-world node CGI
//
//   node dist/bench/promotion.js [--duration 10] [--warmup 3] [--rounds 3] [--only nginx,cgi]
//                                [--sessions 1000] [--connections 32] [--concurrent 200]
//                                [--cgi-sessions 100] [--cgi-connections 4] [--seq 200] [--seq-warmup 10]
//                                [--pause 0] [--fcgid-warmup 15] [--no-install]
//
// Every round starts every configuration afresh (own web server, own
// application processes, own session directory, all on 127.0.0.1), measures
// their throughput one after the other (the order reversed every other
// round), then the latency of sequential requests, interleaved across the
// configurations; the last round also sends 200 concurrent increments of one
// session to each. The mod_fcgid rows warm up for --fcgid-warmup seconds at
// least: their processes start with the run, each takes a share of the
// requests, and a new node process costs about twice as much per request over
// its first few thousand (bench/fcgid-warmup.ts). Ratios are medians of per-round ratios. Needs root (web
// servers and PHP's pool switch to www-data); installs php8.2-fpm,
// php8.2-cgi and libapache2-mod-fcgid with apt-get when they are missing.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMain } from 'pso-ts';
import { bundleHandler } from '../src/cli/bundleCommand.js';
import { APACHE_BIN, freePort } from '../spec/support/apache.js';
import { NGINX_BIN } from '../spec/support/nginx.js';
import { HELLO_CGI, latencyStats, quickDirectives, type Stats } from './cgi-latency.js';
import { ensureDebianPackages, type DebianPackage } from './debianPackages.js';
import {
  apacheCgi,
  apacheFcgid,
  apachePhpCgi,
  apachePhpFcgid,
  apacheProxyFcgi,
  startApacheFront,
  startNginxFront,
  type ApacheApp,
  type Front,
  type Upstream,
} from './frontServers.js';
import {
  LOST_HEADER,
  LOST_NOTE,
  RESULTS_DIR,
  children,
  concurrentIncrements,
  consistencyCheck,
  environment,
  fmt,
  get,
  lostRow,
  measure,
  parseOptions,
  processTreeCpuMs,
  runMain,
  sleep,
  table,
  watchdog,
  type Check,
  type CounterPage,
  type Increments,
  type Measured,
  type Options,
} from './lib.js';
import { FCGID_PACKAGE, PHP_FPM_BIN, PHP_PACKAGES, reloadsIn, startPhpFpm, writePhpSite } from './phpAnchors.js';
import { PSO_CLI, PSO_DEPLOYMENTS, QUICK_MODULE, QUICK_SOURCE, unavailable, type PsoDeployment } from './psoDeployments.js';

const RESULTS_FILE = join(RESULTS_DIR, 'promotion.json');
const CORES = availableParallelism();
/** php-fpm's static pool, and mod_fcgid's processes per script. */
const POOL = 2 * CORES;

// ---- configurations -------------------------------------------------------------------

type Group = 'nginx' | 'apache' | 'cgi';

/** What runs behind or inside the web server. */
type App =
  /** An application server the front server passes requests to. */
  | { kind: 'server'; start(dir: string): Promise<AppServer> }
  /** A script the front server runs itself (CGI, mod_fcgid). */
  | { kind: 'script'; apache(dir: string, sessions: string): ApacheApp; write(docroot: string, sessions: string): void };

interface AppServer {
  upstream: Upstream;
  pid: number;
  /** The application's other processes, where it runs several side by side. */
  otherPids?: number[];
  log(): string;
  stop(): Promise<void>;
}

interface Configuration {
  id: string;
  label: string;
  group: Group;
  front: 'nginx' | 'apache';
  /** The configuration it is compared with in the table (req/s and sequential latency). */
  anchor?: string;
  /** A pso row (its failures count); the others are anchors or extras. */
  pso?: boolean;
  /** Load: a server's (many sessions and connections) or a CGI's (a few). */
  load: 'server' | 'cgi';
  /** The counter page: its path, how to read its count (none for the hello CGI). */
  page: CounterPage;
  /** The Debian packages it needs, installed when missing. */
  packages: readonly DebianPackage[];
  /** The pso deployment it runs, for pso rows. */
  deployment?: PsoDeployment;
  /** Who owns the session directory: the user the application runs as. */
  sessionsOwner: 'www-data' | 'self';
  /** Processes mod_fcgid starts with the run, which warm up for --fcgid-warmup at least. */
  fcgid?: boolean;
  app: App;
  /** Why it cannot run here, worked out once at the start. */
  unavailable(): string | undefined;
}

const counterPage = (path: string): CounterPage => ({ path, count: reloadsIn });

/**
 * The directives of every pso deployment: those of cgi-latency's CGI, and a
 * lock wait of 120 s instead of 10 s (past which pso answers 503), so that
 * 200 CGIs queued on one session on a busy machine wait for it as PHP's
 * flock does, instead of being turned away.
 */
const psoDirectives = (sessions: string) => ({ ...quickDirectives(sessions), PSOSessionLockTimeout: '120' });

/** How long the client waits for an answer to a concurrent increment: CGIs queued on one session take long. */
const incrementTimeoutMs = (c: Configuration) => (c.load === 'cgi' ? 300_000 : 30_000);

/** Bundled samples/quick.ts, made once per run and copied into each document root. */
let bundleFile = '';

const needsPhp = () => (existsSync(PHP_FPM_BIN) && PHP_PACKAGES.every((p) => existsSync(p.file)) ? undefined : 'PHP 8.2 (php8.2-fpm, php8.2-cgi) is not installed');
const needsFcgid = () => (existsSync(FCGID_PACKAGE.file) ? undefined : 'mod_fcgid (libapache2-mod-fcgid) is not installed');
const needsNginx = () => (existsSync(NGINX_BIN) ? undefined : 'nginx is not installed');
const needsApache = () => (existsSync(APACHE_BIN) ? undefined : 'Apache (apache2) is not installed');
const first = (...reasons: (() => string | undefined)[]) => () => reasons.map((r) => r()).find((r) => r !== undefined);

/** php-fpm with its own pool (static, 2 x cores, as www-data), on a unix socket. */
function phpFpmApp(): App {
  return {
    kind: 'server',
    async start(dir) {
      const fpm = await startPhpFpm({ dir, children: POOL, sessions: join(dir, 'sessions') });
      return { upstream: { protocol: 'fastcgi', address: `unix:${fpm.socket}`, php: true }, pid: fpm.pid, log: fpm.log, stop: fpm.stop };
    },
  };
}

/** `pso serve` of samples/quick.js with the arguments of `d`, on a free port. */
function psoServeApp(d: PsoDeployment): App {
  const one = nodeServerApp(d.serve!.protocol, (dir, port) => {
    const directives = Object.entries(psoDirectives(join(dir, 'sessions'))).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
    return [PSO_CLI, 'serve', QUICK_MODULE, ...d.serve!.args({ host: '127.0.0.1', port }), ...directives];
  });
  return (d.serve!.instances ?? 1) > 1 ? sideBySide(one, d.serve!.instances!) : one;
}

/**
 * `n` processes of `app`, each on its own address, on one session directory:
 * nginx sends every request of a session to the same one, by a hash of the
 * request's cookies (each client here sends its session cookie alone).
 */
function sideBySide(app: Extract<App, { kind: 'server' }>, n: number): App {
  return {
    kind: 'server',
    async start(dir) {
      const started: AppServer[] = [];
      try {
        for (let i = 0; i < n; i++) started.push(await app.start(dir));
      } catch (e) {
        await Promise.all(started.map((s) => s.stop()));
        throw e;
      }
      const [head, ...rest] = started as [AppServer, ...AppServer[]];
      return {
        upstream: { ...head.upstream, more: rest.map((s) => s.upstream.address), hash: '$http_cookie' },
        pid: head.pid,
        otherPids: rest.map((s) => s.pid),
        log: () => started.map((s) => s.log()).join(''),
        stop: async () => {
          await Promise.all(started.map((s) => s.stop()));
        },
      };
    },
  };
}

/**
 * The ceiling of any node server here: node:http with no framework and no
 * session, one process per CPU (node:cluster), answering a fixed page.
 * Behind the same nginx and under the same client as the rows above, its
 * req/s bounds what a node application can reach on this machine.
 */
const HELLO_SERVER = `import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:http';
const port = Number(process.argv[2]);
if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else {
  createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Hello World!\\n');
  }).listen(port, '127.0.0.1');
}
`;

function helloServerApp(): App {
  return nodeServerApp('http', (dir, port) => {
    const file = join(dir, 'hello-server.mjs');
    writeFileSync(file, HELLO_SERVER);
    return [file, String(port)];
  });
}

/** A node process started with `args(dir, port)`, an application server on a free port of 127.0.0.1. */
function nodeServerApp(protocol: Upstream['protocol'], args: (dir: string, port: number) => string[]): Extract<App, { kind: 'server' }> {
  return {
    kind: 'server',
    async start(dir) {
      const port = await freePort();
      const argv = args(dir, port);
      const env = { ...process.env };
      // +30 ms per node start, and nothing here needs it.
      delete env.NODE_EXTRA_CA_CERTS;
      const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let output = '';
      child.stdout!.setEncoding('utf8').on('data', (s) => (output += s));
      child.stderr!.setEncoding('utf8').on('data', (s) => (output += s));
      let exitCode: number | null | undefined;
      const exited = new Promise<void>((resolve) =>
        child.once('exit', (code) => {
          exitCode = code;
          children.delete(child);
          resolve();
        }),
      );
      const stop = async () => {
        if (exitCode !== undefined) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      };
      const deadline = Date.now() + 20_000;
      while (exitCode === undefined && Date.now() < deadline) {
        if (await portAccepts(port)) {
          return { upstream: { protocol, address: `127.0.0.1:${port}` }, pid: child.pid!, log: () => output, stop };
        }
        await sleep(50);
      }
      await stop();
      throw new Error(`node ${argv.join(' ')} did not listen on 127.0.0.1:${port}: ${output.trim() || `exit code ${exitCode}`}`);
    },
  };
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The `pso bundle` of samples/quick.ts as `name`, under a CGI or mod_fcgid. */
function psoBundleApp(how: 'cgi' | 'fcgid', name: string): App {
  return {
    kind: 'script',
    apache: (dir, sessions) =>
      how === 'cgi' ? apacheCgi(psoDirectives(sessions)) : apacheFcgid({ ipcDir: fcgidDir(dir), suffix: '.fcgi', maxProcesses: POOL, env: psoDirectives(sessions) }),
    write: (docroot) => copyFileSync(bundleFile, join(docroot, name)),
  };
}

/** mod_fcgid's socket directory and process table, writable by its process manager (www-data). */
function fcgidDir(dir: string): string {
  const ipc = join(dir, 'fcgid');
  mkdirSync(ipc, { recursive: true, mode: 0o755 });
  chownSync(ipc, wwwData().uid, wwwData().gid);
  return ipc;
}

/** Turns a row of PSO_DEPLOYMENTS into a configuration. */
function psoConfiguration(d: PsoDeployment, group: Group): Configuration {
  const script = d.bundle === 'cgi' ? 'quick.cgi' : 'quick.fcgi';
  return {
    id: d.id,
    label: d.label,
    group,
    front: d.front,
    anchor: d.anchor,
    pso: true,
    deployment: d,
    packages: d.bundle === 'fcgid' ? [FCGID_PACKAGE] : [],
    load: d.bundle === 'cgi' ? 'cgi' : 'server',
    page: counterPage(d.serve ? '/' : `/${script}`),
    sessionsOwner: d.serve ? 'self' : 'www-data',
    fcgid: d.bundle === 'fcgid',
    app: d.serve ? psoServeApp(d) : psoBundleApp(d.bundle!, script),
    unavailable: first(d.front === 'nginx' ? needsNginx : needsApache, ...(d.bundle === 'fcgid' ? [needsFcgid] : []), () => unavailable(d)),
  };
}

const pso = (id: string) => PSO_DEPLOYMENTS.find((d) => d.id === id)!;

/** Every configuration, each pso row after its anchor; the table follows this order. */
const CONFIGURATIONS: Configuration[] = [
  {
    id: 'nginx-php-fpm',
    label: `nginx + php-fpm (fastcgi_pass, pm static ${POOL})`,
    group: 'nginx',
    front: 'nginx',
    load: 'server',
    page: counterPage('/counter.php'),
    packages: PHP_PACKAGES,
    sessionsOwner: 'www-data',
    app: phpFpmApp(),
    unavailable: first(needsNginx, needsPhp),
  },
  psoConfiguration(pso('nginx-pso-serve'), 'nginx'),
  psoConfiguration(pso('nginx-pso-workers'), 'nginx'),
  psoConfiguration(pso('nginx-pso-fastcgi'), 'nginx'),
  psoConfiguration(pso('nginx-pso-fastcgi-workers'), 'nginx'),
  psoConfiguration(pso('nginx-pso-fastcgi-affinity'), 'nginx'),
  psoConfiguration(pso('nginx-pso-memory'), 'nginx'),
  {
    id: 'nginx-node-hello',
    label: `nginx + hello-world node:http (${CORES} processes, no session), ceiling`,
    group: 'nginx',
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    load: 'server',
    page: { path: '/' },
    packages: [],
    sessionsOwner: 'self',
    app: helloServerApp(),
    unavailable: needsNginx,
  },
  {
    id: 'apache-php-fpm',
    label: `Apache + php-fpm (mod_proxy_fcgi, pm static ${POOL})`,
    group: 'apache',
    front: 'apache',
    load: 'server',
    page: counterPage('/counter.php'),
    packages: PHP_PACKAGES,
    sessionsOwner: 'www-data',
    app: phpFpmApp(),
    unavailable: first(needsApache, needsPhp),
  },
  psoConfiguration(pso('apache-fcgid-pso'), 'apache'),
  {
    id: 'apache-fcgid-php',
    label: `Apache + mod_fcgid + php-cgi (${POOL} processes), extra`,
    group: 'apache',
    front: 'apache',
    anchor: 'apache-php-fpm',
    load: 'server',
    page: counterPage('/counter.php'),
    packages: [...PHP_PACKAGES, FCGID_PACKAGE],
    sessionsOwner: 'www-data',
    fcgid: true,
    app: { kind: 'script', apache: (dir) => apachePhpFcgid(fcgidDir(dir), POOL), write: writePhpSite },
    unavailable: first(needsApache, needsPhp, needsFcgid),
  },
  {
    id: 'cgi-php',
    label: 'Apache CGI + php-cgi (Action)',
    group: 'cgi',
    front: 'apache',
    load: 'cgi',
    page: counterPage('/counter.php'),
    packages: PHP_PACKAGES,
    sessionsOwner: 'www-data',
    app: { kind: 'script', apache: () => apachePhpCgi(), write: writePhpSite },
    unavailable: first(needsApache, needsPhp),
  },
  psoConfiguration(pso('cgi-pso-bundle'), 'cgi'),
  {
    id: 'cgi-hello',
    label: 'Apache CGI + hello-world node CGI',
    group: 'cgi',
    front: 'apache',
    load: 'cgi',
    page: { path: '/hello.cgi' },
    packages: [],
    sessionsOwner: 'www-data',
    app: { kind: 'script', apache: () => apacheCgi(), write: (docroot) => writeFileSync(join(docroot, 'hello.cgi'), HELLO_CGI, { mode: 0o755 }) },
    unavailable: needsApache,
  },
];
const GROUPS: Group[] = ['nginx', 'apache', 'cgi'];
const byId = (id: string | undefined) => CONFIGURATIONS.find((c) => c.id === id);

/** A goal printed beside the figures (informative: it does not change the exit code). */
interface Goal {
  of: string;
  to: string;
  metric: 'req/s' | 'seq p50';
  /** `of`'s figure over `to`'s must be at least (req/s) or at most (latency) this. */
  limit?: number;
}

/** The goals, and the other ratios worth printing (no limit). */
const GOALS: Goal[] = [
  { of: 'nginx-pso-serve', to: 'nginx-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'nginx-pso-workers', to: 'nginx-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'nginx-pso-fastcgi', to: 'nginx-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'nginx-pso-fastcgi-workers', to: 'nginx-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'nginx-pso-fastcgi-affinity', to: 'nginx-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'nginx-pso-memory', to: 'nginx-php-fpm', metric: 'req/s' },
  { of: 'nginx-node-hello', to: 'nginx-php-fpm', metric: 'req/s' },
  { of: 'apache-fcgid-pso', to: 'cgi-php', metric: 'seq p50', limit: 0.1 },
  { of: 'apache-fcgid-pso', to: 'apache-php-fpm', metric: 'req/s', limit: 1.5 },
  { of: 'cgi-pso-bundle', to: 'cgi-hello', metric: 'seq p50', limit: 1.3 },
  { of: 'cgi-pso-bundle', to: 'cgi-php', metric: 'seq p50' },
  { of: 'cgi-pso-bundle', to: 'cgi-php', metric: 'req/s' },
  { of: 'cgi-pso-bundle', to: 'cgi-hello', metric: 'req/s' },
  { of: 'apache-fcgid-php', to: 'cgi-php', metric: 'seq p50' },
  { of: 'nginx-pso-serve', to: 'nginx-php-fpm', metric: 'seq p50' },
];

// ---- running a configuration ------------------------------------------------------------

let wwwDataIds: { uid: number; gid: number } | undefined;
function wwwData(): { uid: number; gid: number } {
  wwwDataIds ??= {
    uid: Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim()),
  };
  return wwwDataIds;
}

/** A configuration that is up. */
interface Running {
  config: Configuration;
  port: number;
  /** The processes whose CPU time is the deployment's: the front server's and the application server's. */
  roots(): number[];
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `c` in a fresh directory under `base`. */
async function start(c: Configuration, base: string): Promise<Running> {
  const dir = mkdtempSync(join(base, `${c.id}-`));
  chmodSync(dir, 0o755);
  const docroot = join(dir, 'htdocs');
  const sessions = join(dir, 'sessions');
  mkdirSync(docroot, { mode: 0o755 });
  mkdirSync(sessions, { mode: 0o700 });
  if (c.sessionsOwner === 'www-data') chownSync(sessions, wwwData().uid, wwwData().gid);
  let app: AppServer | undefined;
  let front: Front | undefined;
  try {
    if (c.app.kind === 'server') {
      app = await c.app.start(dir);
      if (app.upstream.php) writePhpSite(docroot, sessions);
      front = c.front === 'nginx' ? await startNginxFront(docroot, app.upstream) : await startApacheFront(docroot, apacheFor(app.upstream));
    } else {
      if (c.front !== 'apache') throw new Error(`${c.id}: scripts run under Apache only`);
      c.app.write(docroot, sessions);
      front = await startApacheFront(docroot, c.app.apache(dir, sessions));
    }
  } catch (e) {
    await front?.stop();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const f = front;
  const a = app;
  return {
    config: c,
    port: f.port,
    roots: () => [f.pid(), a?.pid, ...(a?.otherPids ?? [])].filter((p): p is number => p !== undefined),
    logs: () => `${f.errorLog()}${a ? a.log() : ''}`.trim(),
    stop: async () => {
      await f.stop();
      await a?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Apache in front of an application server: FastCGI through mod_proxy_fcgi. */
function apacheFor(upstream: Upstream): ApacheApp {
  if (upstream.protocol !== 'fastcgi' || !upstream.address.startsWith('unix:')) throw new Error(`Apache in front of ${upstream.protocol} ${upstream.address}: not set up by this benchmark`);
  return apacheProxyFcgi(upstream.address.slice('unix:'.length));
}

// ---- measuring ----------------------------------------------------------------------------

interface Run extends Measured {
  id: string;
  round: number;
  /** 1-minute load average when it started. */
  load1: number;
  /** Sequential requests of the same round (ms), when they ran. */
  sequential?: Stats;
}

interface PromotionOptions extends Options<string> {
  cgiSessions: number;
  cgiConnections: number;
  seq: number;
  seqWarmup: number;
  fcgidWarmup: number;
  install: boolean;
}

/** Takes this benchmark's own options out of `argv`; the rest are lib.ts's. */
function parse(argv: string[]): PromotionOptions {
  const own = { cgiSessions: 100, cgiConnections: 4, seq: 200, seqWarmup: 10, fcgidWarmup: 15, install: true };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const number = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive whole number`);
      return n;
    };
    if (a === '--cgi-sessions') own.cgiSessions = number();
    else if (a === '--cgi-connections') own.cgiConnections = number();
    else if (a === '--seq') own.seq = number();
    else if (a === '--seq-warmup') own.seqWarmup = number();
    else if (a === '--fcgid-warmup') own.fcgidWarmup = number();
    else if (a === '--no-install') own.install = false;
    else rest.push(a);
  }
  const o = parseOptions<string>(
    rest,
    (k) => GROUPS.includes(k as Group) || CONFIGURATIONS.some((c) => c.id === k),
    (k) => (GROUPS.includes(k as Group) ? CONFIGURATIONS.filter((c) => c.group === k).map((c) => c.id) : [k]),
    { rounds: 3 },
  );
  return { ...o, ...own };
}

/** Throughput of one configuration: its sessions round-robin over its connections. */
/** A configuration's warm-up (s): mod_fcgid's rows get --fcgid-warmup at least. */
function warmupOf(c: Pick<Configuration, 'fcgid'>, o: PromotionOptions): number {
  return c.fcgid ? Math.max(o.warmup, o.fcgidWarmup) : o.warmup;
}

async function throughput(r: Running, o: PromotionOptions): Promise<Measured> {
  const cgi = r.config.load === 'cgi';
  const opts = { ...o, warmup: warmupOf(r.config, o), sessions: cgi ? o.cgiSessions : o.sessions, connections: cgi ? o.cgiConnections : o.connections };
  // A CGI's time is lost to /proc: mod_cgid lets the kernel reap its CGIs, which adds their time to no parent.
  const usage = cgi ? undefined : async () => ({ cpuMs: (await processTreeCpuMs(r.roots())) ?? Number.NaN });
  return measure(r.port, opts, !r.config.page.count, usage, r.config.page);
}

/**
 * Sequential requests, one session and one kept-alive connection per
 * configuration, taking turns (the first of each turn rotating), so that a
 * drift of the machine's speed touches all alike. A configuration that fails
 * leaves the turns (`failed`), the others go on.
 */
async function sequential(running: Running[], n: number, warmup: number, failed: (id: string, e: unknown) => void): Promise<Map<string, Stats>> {
  let clients = running.map((r) => ({ r, agent: new Agent({ keepAlive: true, maxSockets: 1 }), cookie: undefined as string | undefined, count: 0, samples: [] as number[] }));
  const all = clients;
  try {
    const once = async (c: (typeof clients)[number], record: boolean) => {
      const t = performance.now();
      const reply = await get(c.r.port, c.r.config.page.path, c.cookie, c.agent);
      const ms = performance.now() - t;
      if (reply.status !== 200) throw new Error(`${c.r.config.id}: status ${reply.status}: ${reply.body.trim().slice(0, 200)}`);
      c.cookie ??= reply.cookie;
      if (c.r.config.page.count) {
        const count = c.r.config.page.count(reply.body);
        // Each request must have loaded and saved its session.
        if (count !== ++c.count) throw new Error(`${c.r.config.id}: count ${count}, expected ${c.count}: ${reply.body.trim().slice(0, 200)}`);
      }
      if (record) c.samples.push(ms);
    };
    for (let i = 0; i < warmup + n && clients.length; i++) {
      const turn = clients.map((_, k) => clients[(i + k) % clients.length]!);
      for (const c of turn) {
        try {
          await once(c, i >= warmup);
        } catch (e) {
          failed(c.r.config.id, e);
          clients = clients.filter((x) => x !== c);
        }
      }
    }
    return new Map(clients.map((c) => [c.r.config.id, latencyStats(c.samples)]));
  } finally {
    for (const c of all) c.agent.destroy();
  }
}

function median(values: number[]): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---- main ---------------------------------------------------------------------------------

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parse(argv);
  const selected = CONFIGURATIONS.filter((c) => !o.only || o.only.includes(c.id));
  const perRun = (c: Configuration) => (c.load === 'cgi' ? 3 * o.cgiSessions * 0.2 : 10) + warmupOf(c, o) + o.duration + o.pause + 30;
  const seqBudget = (o.seq + o.seqWarmup) * selected.length * 0.5;
  // The last round's concurrent increments: up to the client's wait for each.
  const incrementsBudget = selected.reduce((s, c) => s + incrementTimeoutMs(c) / 1000 + 30, 0);
  watchdog((o.rounds * (selected.reduce((s, c) => s + perRun(c), 0) + seqBudget + 60) + incrementsBudget + 600) * 1000);

  const env = environment();
  const rev = env.git ? `, pso ${env.git.commit.slice(0, 7)}${env.git.dirty ? '+changes' : ''}` : '';
  console.log(`promotion bench: node ${env.node}, ${env.cpus} CPUs (${env.cpuModel})${rev}`);
  if (process.getuid?.() !== 0) {
    console.log('promotion bench: needs root: the web servers and PHP\'s pool run their workers as www-data (run it with sudo)');
    return 2;
  }

  // PHP and mod_fcgid from Debian, installed when missing.
  // (Not for a pso deployment that this build cannot run anyway.)
  const wantedPackages = selected.filter((c) => !(c.deployment && unavailable(c.deployment))).flatMap((c) => c.packages);
  if (o.install) {
    const { installed, missing } = ensureDebianPackages(wantedPackages, (line) => console.log(`  ${line}`));
    if (installed.length) console.log(`  installed: ${installed.join(', ')}`);
    for (const m of missing) console.log(`  cannot install ${m.name}: ${m.reason}`);
  }

  const skipped = new Map<string, string>();
  for (const c of selected) {
    const why = c.unavailable();
    if (why) skipped.set(c.id, why);
  }
  const active = selected.filter((c) => !skipped.has(c.id));
  const php = (() => {
    try {
      return execFileSync(PHP_FPM_BIN, ['-v'], { encoding: 'utf8' }).split('\n')[0];
    } catch {
      return 'PHP not installed';
    }
  })();
  console.log(`${php}; pso: ${relative(process.cwd(), PSO_CLI)}`);
  console.log(
    `server configurations: ${o.sessions} sessions round-robin over ${o.connections} connections; CGI configurations: ${o.cgiSessions} sessions over ${o.cgiConnections}; ` +
      `${o.warmup} s warm-up (mod_fcgid rows ${warmupOf({ fcgid: true }, o)} s) + ${o.duration} s measured each, ${o.rounds} round${o.rounds === 1 ? '' : 's'}; then ${o.seq} sequential requests each, interleaved`,
  );
  for (const [id, why] of skipped) console.log(`  skipped ${byId(id)!.label}: ${why}`);
  console.log('');

  const base = realpathSync(mkdtempSync('/tmp/pso-promotion-'));
  chmodSync(base, 0o755);
  const runs: Run[] = [];
  const lost: (Increments & { id: string })[] = [];
  const failed: { id: string; phase: string; error: string }[] = [];
  const fail = (id: string, phase: string, e: unknown) => {
    const error = (e as Error)?.message ?? String(e);
    failed.push({ id, phase, error });
    console.log(`  ${byId(id)?.label ?? id}: FAILED (${phase}): ${error.split('\n')[0]}`);
  };
  try {
    if (active.some((c) => c.app.kind === 'script' && c.id.includes('pso'))) {
      bundleFile = join(base, 'quick.bundle');
      await bundleHandler({ entry: QUICK_SOURCE, outfile: bundleFile });
    }
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) console.log(`  round ${round} of ${o.rounds}`);
      const running: Running[] = [];
      try {
        for (const c of active) {
          try {
            running.push(await start(c, base));
          } catch (e) {
            fail(c.id, `start, round ${round}`, e);
          }
        }
        const order = round % 2 === 1 ? running : [...running].reverse();
        for (const r of order) {
          if (o.pause && runs.length) await sleep(o.pause * 1000);
          process.stdout.write(`  running ${r.config.label} ...`);
          try {
            const load1 = loadavg()[0]!;
            const m = await throughput(r, o);
            console.log(` ${fmt(m.reqPerSec)} req/s`);
            runs.push({ id: r.config.id, round, load1, ...m });
            if (m.errors + m.warmup.errors + m.non2xx + m.warmup.non2xx + m.check.repeated > 0) {
              // What the servers said about it: the end of their logs.
              const logs = r.logs();
              console.log(`    errors ${m.errors + m.warmup.errors} (timeouts ${m.timeouts + m.warmup.timeouts}), non-2xx ${m.non2xx + m.warmup.non2xx}, repeated ${m.check.repeated}${m.check.repeatedSamples.map((x) => `\n      ${x}`).join('')}\n    logs: ${logs ? logs.split('\n').slice(-12).join('\n          ') : '(none)'}`);
            }
          } catch (e) {
            console.log('');
            fail(r.config.id, `throughput, round ${round}`, e);
            const logs = r.logs();
            if (logs) console.log(`    logs: ${logs.split('\n').slice(-5).join('\n          ')}`);
          }
        }
        if (running.length) {
          console.log(`  ${o.seq} sequential requests each ...`);
          const seq = await sequential(running, o.seq, o.seqWarmup, (id, e) => fail(id, `sequential requests, round ${round}`, e));
          for (const run of runs.filter((x) => x.round === round)) run.sequential = seq.get(run.id);
        }
        if (round === o.rounds) {
          console.log(`  ${o.concurrent} concurrent increments of one session each ...`);
          for (const r of running.filter((x) => x.config.page.count)) {
            try {
              lost.push({ id: r.config.id, ...(await concurrentIncrements(r.port, o.concurrent, r.config.page, incrementTimeoutMs(r.config))) });
            } catch (e) {
              fail(r.config.id, 'concurrent increments', e);
            }
          }
        }
      } finally {
        await Promise.all(running.map((r) => r.stop().catch((e) => fail(r.config.id, 'stop', e))));
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }

  // ---- report ----
  const runsOf = (id: string | undefined) => runs.filter((r) => r.id === id);
  const metric = (r: Run, m: Goal['metric']) => (m === 'req/s' ? r.reqPerSec : r.sequential?.median);
  /** Per-round ratios of `of` over `to`, and their median. */
  const ratio = (of: string, to: string, m: Goal['metric']) => {
    const xs = runsOf(of).flatMap((r) => {
      const a = runsOf(to).find((x) => x.round === r.round);
      const mine = metric(r, m);
      const theirs = a && metric(a, m);
      return mine !== undefined && theirs ? [mine / theirs] : [];
    });
    return { xs, x: median(xs) };
  };
  const medianRun = (id: string) => {
    const rs = [...runsOf(id)].sort((a, b) => a.reqPerSec - b.reqPerSec);
    return rs[(rs.length - 1) >> 1];
  };
  const rows = [['configuration', 'req/s', 'runs', 'p50 ms', 'p99 ms', 'seq p50', 'seq p99', 'anchor', 'x req/s', 'x seq p50', 'cpu ms/req', 'client ms/req', 'busy %', 'errors', 'non-2xx', 'kept', 'load']];
  const checks: Check[] = [];
  for (const c of selected) {
    const why = skipped.get(c.id);
    const r = medianRun(c.id);
    const keptRun = lost.find((l) => l.id === c.id);
    const kept = keptRun ? `${keptRun.kept}/${keptRun.requests}` : '-';
    if (!r) {
      rows.push([c.label, why ? 'skipped' : 'failed', ...Array<string>(14).fill('-'), '-']);
      continue;
    }
    const all = runsOf(c.id);
    const seqP50 = median(all.flatMap((x) => (x.sequential ? [x.sequential.median] : [])));
    const seqP99 = median(all.flatMap((x) => (x.sequential ? [x.sequential.p99] : [])));
    const rps = c.anchor ? ratio(c.id, c.anchor, 'req/s').x : undefined;
    const seq = c.anchor ? ratio(c.id, c.anchor, 'seq p50').x : undefined;
    rows.push([
      c.label,
      fmt(r.reqPerSec),
      all.length > 1 ? all.map((x) => fmt(x.reqPerSec)).join('/') : '-',
      fmt(r.latencyP50),
      fmt(r.latencyP99),
      fmt(seqP50, 2),
      fmt(seqP99, 2),
      c.anchor ?? '-',
      fmt(rps, 2),
      fmt(seq, 2),
      fmt(r.serverCpuMsPerRequest, 3),
      fmt(r.clientCpuMsPerRequest, 3),
      r.machineBusy === undefined ? '-' : fmt(r.machineBusy * 100),
      String(all.reduce((n, x) => n + x.errors + x.warmup.errors, 0)),
      String(all.reduce((n, x) => n + x.non2xx + x.warmup.non2xx, 0)),
      kept,
      fmt(r.load1, 1),
    ]);
    for (const x of all) checks.push({ ...consistencyCheck(`${c.label} (round ${x.round})`, x), informational: !c.pso });
  }
  console.log(`\n${table(rows)}`);
  console.log(
    '  req/s: the median run (p50/p99, cpu, busy and load from that run); runs: every round\'s req/s; p50/p99: latency under\n' +
      `  that load (autocannon); seq p50/p99: ${o.seq} sequential requests on one kept-alive connection, interleaved with the other\n` +
      '  configurations (median over rounds); x req/s, x seq p50: the median over rounds of the ratio to the anchor\'s figure\n' +
      '  of the same round (req/s: higher is better; latency: lower is better); cpu ms/req: CPU time of the web server and\n' +
      '  the application processes per measured request, from /proc (none for CGIs, whose time /proc does not keep);\n' +
      '  client ms/req: the load generator\'s own CPU time per request (it shares the CPUs with the servers);\n' +
      `  busy %: how busy the machine\'s CPUs were; kept: increments kept of ${o.concurrent} sent at once to one session;\n` +
      '  load: 1-minute load average at the start (the client, the servers and any other work share the CPUs).',
  );

  console.log('\nGoals and ratios (median over rounds of per-round ratios; goals are informative)');
  for (const g of GOALS) {
    if (!selected.some((c) => c.id === g.of) || !selected.some((c) => c.id === g.to)) continue;
    const { xs, x } = ratio(g.of, g.to, g.metric);
    const what = `${byId(g.of)!.label} / ${byId(g.to)!.label}, ${g.metric}`;
    const per = xs.length ? ` (rounds: ${xs.map((v) => fmt(v, 3)).join(', ')})` : '';
    if (x === undefined) {
      const why = skipped.get(g.of) ?? skipped.get(g.to);
      console.log(`  ${g.limit === undefined ? '    ' : 'SKIP'}  ${what}: not measured${why ? ` (${why})` : ''}`);
      continue;
    }
    if (g.limit === undefined) {
      console.log(`        ${what}: ${fmt(x, 3)}x${per}`);
      continue;
    }
    const pass = g.metric === 'req/s' ? x >= g.limit : x <= g.limit;
    console.log(`  ${pass ? 'PASS' : 'FAIL'}  ${what}: ${fmt(x, 3)}x, goal ${g.metric === 'req/s' ? '>=' : '<='} ${g.limit}x${per}`);
  }

  console.log(`\n${o.concurrent} concurrent increments of one session (one connection each)\n`);
  const lostRows = [LOST_HEADER];
  for (const l of lost) {
    lostRows.push(lostRow(byId(l.id)!.label, l));
    checks.push({ name: `${byId(l.id)!.label}: ${l.requests} concurrent increments kept`, pass: l.kept === l.requests, detail: `kept ${l.kept}`, informational: !byId(l.id)!.pso });
  }
  console.log(table(lostRows));
  console.log(LOST_NOTE);

  for (const f of failed) checks.push({ name: `${byId(f.id)?.label ?? f.id}, ${f.phase}: ran`, pass: false, detail: f.error.split('\n')[0]!, informational: !byId(f.id)?.pso });
  console.log('\nChecks');
  for (const c of checks) console.log(`  ${c.pass ? 'PASS' : c.informational ? 'NOTE' : 'FAIL'}  ${c.name}: ${c.detail}`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const report = { bench: 'promotion', date: new Date().toISOString(), env, php, options: o, skipped: Object.fromEntries(skipped), runs, lostUpdates: lost, failed, checks };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
  return checks.every((c) => c.pass || c.informational) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
