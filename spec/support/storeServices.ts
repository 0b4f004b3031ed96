// The stores a `pso serve` can be made to lose and get back: a private
// redis-server (the machine's keeps nothing on disk, and others use it), and
// the machine's PostgreSQL and MariaDB, stopped and started as the machine
// starts them (spec/support/ensure-system.mjs). Used by the store restart
// suite and bench/store-restart.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from './apache.js';
import { ROOT } from './http.js';

/** A store service that can be stopped and started. */
export interface StoreService {
  kind: 'redis' | 'postgres' | 'mysql';
  /** The `PSOSessionStore` URL. */
  url: string;
  /** Stops it; resolves once nothing listens. */
  stop(): Promise<void>;
  /** Starts it; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Whether it accepts connections. */
  up(): Promise<boolean>;
  /** Leaves it running (started again if stopped) and removes what the run made. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await sleep(20);
  }
}

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Why a service cannot be stopped and started here, or undefined when it can. */
export function cannotRestart(kind: StoreService['kind']): string | undefined {
  if (kind === 'redis') return existsSync(REDIS_SERVER) && existsSync(REDIS_CLI) ? undefined : `${REDIS_SERVER} or ${REDIS_CLI} is not installed`;
  const skip = process.env[kind === 'postgres' ? 'PSO_POSTGRES_SKIP' : 'PSO_MYSQL_SKIP'];
  if (skip) return skip;
  if (!isRoot) return `stopping and starting the machine's ${kind === 'postgres' ? 'PostgreSQL' : 'MariaDB'} needs root`;
  const tool = kind === 'postgres' ? 'pg_ctlcluster' : 'mariadb-admin';
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) return `${tool} is not installed`;
  return undefined;
}

/**
 * A private redis-server on a free loopback port, with an append-only file
 * (fsynced every second, and on shutdown) so that a restart keeps the data.
 */
export async function privateRedis(): Promise<StoreService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pso-outage-redis-'));
  let child: ChildProcess | undefined;
  const up = () => portOpen(port);
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--daemonize', 'no'], { stdio: 'ignore' });
    await until(up, 10_000, `redis-server did not listen on ${port}`);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    spawnSync(REDIS_CLI, ['-p', String(port), 'shutdown'], { stdio: 'ignore', timeout: 10_000 });
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    kind: 'redis', url: `redis://127.0.0.1:${port}/0`, stop, start, up,
    dispose: async () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface EnsureSystem {
  SERVICES: { port: number; start: string }[];
  ensureService(s: unknown): Promise<string | undefined>;
}

/**
 * The machine's PostgreSQL or MariaDB (on 5432, 3306), with a table of this
 * run's own. Stopping it disturbs whoever else uses it: keep each outage short,
 * and always {@link StoreService.dispose} (which starts it again).
 */
export async function machineDatabase(kind: 'postgres' | 'mysql'): Promise<StoreService> {
  const { SERVICES, ensureService } = (await import(pathToFileURL(join(ROOT, 'spec/support/ensure-system.mjs')).href)) as EnsureSystem;
  const service = SERVICES[kind === 'postgres' ? 0 : 1]!;
  const table = `pso_outage_${process.pid}_${Date.now().toString(36)}`;
  const stopCommand = kind === 'postgres'
    ? 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main stop -m fast'
    : 'mariadb-admin -u root shutdown';
  const up = () => portOpen(service.port);
  const start = async () => {
    const problem = await ensureService(service);
    if (problem) throw new Error(`cannot start the ${kind} service: ${problem}`);
  };
  return {
    kind,
    url: kind === 'postgres' ? `postgres://postgres@127.0.0.1:5432/test?table=${table}` : `mysql://root@127.0.0.1:3306/test?table=${table}`,
    up,
    start,
    stop: async () => {
      const r = spawnSync('sh', ['-c', stopCommand], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`"${stopCommand}" failed: ${r.stderr.trim()}`);
      await until(async () => !(await up()), 30_000, `${kind} still listens after "${stopCommand}"`);
    },
    dispose: async () => {
      await start();
      const drop = kind === 'postgres'
        ? ['psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP TABLE IF EXISTS ${table}`]] as const
        : ['mariadb', ['-h', '127.0.0.1', '-u', 'root', 'test', '-e', `DROP TABLE IF EXISTS ${table}`]] as const;
      spawnSync(drop[0], [...drop[1]], { stdio: 'ignore', timeout: 30_000 });
    },
  };
}
