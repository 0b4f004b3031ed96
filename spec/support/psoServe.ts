// `pso serve` as a child process, with what its specs look at: the address
// it prints, its output, its exit, and a plain HTTP client that goes to a
// TCP port or a unix socket, over a new connection or a kept-alive one.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { CLI, cleanEnv } from './http.js';

/** A running `pso serve`. */
export interface PsoServe {
  child: ChildProcess;
  /** What it printed it serves on: `http://127.0.0.1:PORT/` or `unix:/path`. */
  address: string;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) has matched `pattern` (rejects after `ms`). */
  waitFor(pattern: RegExp, ms?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then the exit (SIGKILL if it takes more than `ms`). */
  stop(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process started here, killed after a failed test left one running. */
const running = new Set<ChildProcess>();
process.once('exit', () => { for (const c of running) c.kill('SIGKILL'); });

/** Runs `pso serve <args>` and resolves once it says where it serves (rejects with its output if it exits first). */
export function psoServe(args: string[], env: Record<string, string | undefined> = {}, options: { cwd?: string; timeoutMs?: number; gid?: number; uid?: number } = {}): Promise<PsoServe> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: cleanEnv(env), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(options.gid !== undefined ? { gid: options.gid } : {}), ...(options.uid !== undefined ? { uid: options.uid } : {}) });
  running.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d) => { out += d; for (const w of waiters) w(); });
  child.stderr!.setEncoding('utf8').on('data', (d) => { err += d; for (const w of waiters) w(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => { running.delete(child); resolve({ code, signal }); for (const w of waiters) w(); }));
  const waitFor = (pattern: RegExp, ms = 20_000, stream: 'stdout' | 'stderr' = 'stdout') => new Promise<RegExpMatchArray>((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(stream === 'stdout' ? out : err);
      if (m) done(() => resolve(m));
      else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`pso serve exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}${err}`)));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`pso serve did not print ${pattern} within ${ms} ms:\n${out}${err}`))), ms);
    const done = (then: () => void) => { clearTimeout(timer); waiters.delete(check); then(); };
    waiters.add(check);
    check();
  });
  const server: Omit<PsoServe, 'address'> = {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor,
    exited,
    stop: async (ms = 20_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return waitFor(/^pso: serving \S+ (?:over FastCGI )?on (\S+)/m, options.timeoutMs).then((m) => ({ ...server, address: m[1]! }));
}

/** Runs `pso serve <args>` that is expected to fail: its exit code and output. */
export async function psoServeFails(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: cleanEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  running.delete(child);
  return { code, stdout, stderr };
}

/** An answer from {@link get}. */
export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * GET `path` from a `pso serve` address (`http://host:port/` or `unix:/path`),
 * over a new connection unless an agent is given.
 */
export function get(address: string, path = '/', options: { agent?: Agent; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Answer> {
  const target = address.startsWith('unix:') ? { socketPath: address.slice(5) } : { host: new URL(address).hostname, port: Number(new URL(address).port) };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, agent: options.agent ?? false, headers: options.headers ?? {}, timeout: options.timeoutMs ?? 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** What a {@link Load} saw. */
export interface LoadTally {
  ok: number;
  /** Answers other than 200, by status. */
  statuses: Record<number, number>;
  /** Requests that got no answer, with their errors. */
  errors: string[];
  /** Bodies of the 200s, in order of arrival. */
  bodies: string[];
}

/**
 * Requests sent without pause until stopped: `keepAlive` loops on kept-alive
 * connections and `fresh` loops opening a new connection for each request.
 */
export class Load {
  readonly tally: LoadTally = { ok: 0, statuses: {}, errors: [], bodies: [] };
  #running = true;
  #loops: Promise<void>[] = [];
  #agent: Agent;

  constructor(address: string, options: { keepAlive: number; fresh: number; path?: string }) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.keepAlive });
    const loop = async (agent: Agent | undefined) => {
      while (this.#running) {
        try {
          const r = await get(address, options.path ?? '/', agent ? { agent } : {});
          if (r.status === 200) {
            this.tally.ok++;
            this.tally.bodies.push(r.body);
          } else this.tally.statuses[r.status] = (this.tally.statuses[r.status] ?? 0) + 1;
        } catch (e) {
          this.tally.errors.push((e as Error).message);
        }
      }
    };
    for (let i = 0; i < options.keepAlive; i++) this.#loops.push(loop(this.#agent));
    for (let i = 0; i < options.fresh; i++) this.#loops.push(loop(undefined));
  }

  /** Stops sending and resolves once every request sent has ended. */
  async stop(): Promise<LoadTally> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#agent.destroy();
    return this.tally;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true (rejects after `ms`). */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 15_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(50);
  }
}
