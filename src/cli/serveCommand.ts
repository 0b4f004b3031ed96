import { availableParallelism } from 'node:os';
import { DEFAULT_SOCKET_MODE, parseListenAddress, parsePort, parseSocketMode, type ListenAddress } from '../server/ListenAddress.js';
import type { ListenerName } from '../server/listeners.js';
import type { ServeConfig } from '../server/ServeConfig.js';
import { TIMEOUT_DEFAULTS, type ServerTimeouts } from '../hosts/ServerTimeouts.js';
import { UsageError, takeDirective } from './args.js';

/** Seconds a stop or a reload gives requests in progress, unless `--grace` says otherwise. */
const DEFAULT_GRACE_SECONDS = 10;

/**
 * Reads the command line of `pso serve`.
 *
 * @example
 * ```ts
 * readServeArgs(['app.ts', '--workers', 'auto', '--listen', 'unix:/run/pso/app.sock']);
 * ```
 */
export function readServeArgs(args: string[]): ServeConfig {
  let file: string | undefined;
  let port: number | undefined;
  let host: string | undefined;
  let listen: string | undefined;
  // What each process serves with: HTTP, or FastCGI (--fastcgi ADDRESS, for a web server in front).
  let listener: ListenerName = 'http';
  let socketMode: number | undefined;
  let workers = 1;
  let graceMs = DEFAULT_GRACE_SECONDS * 1000;
  let watch = false;
  const timeouts: Partial<Record<keyof ServerTimeouts, number>> = {};
  const directives: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? args[++i];
    if (name === '--port' || name === '-p') port = parsePort(value(), '--port');
    else if (name === '--host') host = value();
    else if (name === '--listen') listen = value();
    else if (name === '--fastcgi') {
      listener = 'fastcgi';
      listen = value();
      if (!listen) throw new UsageError('--fastcgi needs an address: unix:/absolute/path or HOST:PORT');
    }
    else if (name === '--socket-mode') socketMode = parseSocketMode(value());
    else if (name === '--workers' || name === '-w') workers = parseWorkers(value());
    else if (name === '--grace') graceMs = parseGrace(value());
    else if (name === '--watch') watch = true;
    else if (Object.hasOwn(TIMEOUT_OPTIONS, name)) timeouts[TIMEOUT_OPTIONS[name]!] = parseTimeout(value(), name);
    else if (name === '-D' || name === '--directive') takeDirective(directives, value());
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (file === undefined) file = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (!file) throw new UsageError('pso serve needs a handler module, e.g. pso serve dist/samples/quick.js');
  if (listen !== undefined && (port !== undefined || host !== undefined)) {
    throw new UsageError(listener === 'fastcgi' ? '--port and --host are for HTTP; with --fastcgi, give the address there (HOST:PORT)' : 'give either --listen or --port/--host, not both');
  }
  let address: ListenAddress;
  if (listen !== undefined) address = parseListenAddress(listen, socketMode ?? DEFAULT_SOCKET_MODE, listener === 'fastcgi' ? '--fastcgi' : '--listen');
  else address = { kind: 'tcp', host: host ?? '127.0.0.1', port: port ?? parsePort(process.env.PORT ?? '8080', 'the PORT variable') };
  if (socketMode !== undefined && address.kind !== 'unix') throw new UsageError('--socket-mode is for a unix socket: use it with --listen (or --fastcgi) unix:/path/to.sock');
  checkTimeouts(timeouts, listener);
  return { module: file, address, listener, directives, workers, graceMs, watch, timeouts };
}

/** The timeout options, and what each sets. */
const TIMEOUT_OPTIONS: Readonly<Record<string, keyof ServerTimeouts>> = {
  '--headers-timeout': 'headersMs',
  '--request-timeout': 'requestMs',
  '--send-timeout': 'sendMs',
  '--keep-alive-timeout': 'keepAliveMs',
};

/** A day: longer is no protection (and node's timers stop at 24.8 days). */
const MAX_TIMEOUT_SECONDS = 86_400;

function parseTimeout(text: string | undefined, name: string): number {
  const seconds = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(`${name} needs seconds (more than 0, at most ${MAX_TIMEOUT_SECONDS}), got ${JSON.stringify(text ?? '')}`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

function checkTimeouts(timeouts: Partial<ServerTimeouts>, listener: ListenerName): void {
  if (listener === 'fastcgi') {
    const http = Object.entries(TIMEOUT_OPTIONS).filter(([, key]) => key !== 'sendMs' && timeouts[key] !== undefined).map(([option]) => option);
    if (http.length > 0) throw new UsageError(`${http.join(', ')}: for HTTP; with --fastcgi the web server in front times its clients (nginx client_header_timeout, Apache mod_reqtimeout)`);
  }
  const headers = timeouts.headersMs ?? TIMEOUT_DEFAULTS.headersMs;
  const request = timeouts.requestMs ?? TIMEOUT_DEFAULTS.requestMs;
  if (headers > request) throw new UsageError(`--headers-timeout (${headers / 1000} s) must not be longer than --request-timeout (${request / 1000} s): the head is part of the request`);
}

function parseWorkers(text: string | undefined): number {
  if (text === 'auto') return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`--workers needs a number of processes (1 or more) or auto, got ${JSON.stringify(text ?? '')}`);
  return n;
}

function parseGrace(text: string | undefined): number {
  const seconds = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--grace needs seconds (0 or more), got ${JSON.stringify(text ?? '')}`);
  return Math.round(seconds * 1000);
}

/**
 * `pso serve <module> [--listen ADDRESS | --port N --host H] [--workers N|auto] [--grace S] [--watch] [--*-timeout S] [-D NAME=VALUE ...]`:
 * one process, or a primary and its workers when there are several (or
 * `--watch`, where new workers take over from the old).
 *
 * @example
 * ```ts
 * await serveCommand(['dist/app.js', '--workers', '4']);
 * ```
 */
export async function serveCommand(args: string[]): Promise<void> {
  const config = readServeArgs(args);
  if (config.workers > 1 || config.watch) {
    const { Supervisor } = await import('../server/Supervisor.js');
    return new Supervisor(config).run();
  }
  const { serveSingle } = await import('../server/serveSingle.js');
  return serveSingle(config);
}
