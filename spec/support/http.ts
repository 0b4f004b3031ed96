import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The compiled CLI. */
export const CLI = join(ROOT, 'dist/src/cli/main.js');
/** A compiled sample: `sample('quick')` is dist/samples/quick.js. */
export const sample = (name: string): string => join(ROOT, 'dist/samples', `${name}.js`);

/** An environment for child node processes: no inherited CGI variables, no extra CA certificates. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'GATEWAY_INTERFACE' || k.startsWith('HTTP_') || k.startsWith('PSO') || k === 'NODE_EXTRA_CA_CERTS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** A parsed CGI or script response. */
export interface ParsedResponse {
  status: number;
  headers: [string, string][];
  body: string;
  stderr: string;
  code: number | null;
  header(name: string): string | undefined;
  all(name: string): string[];
}

/** Splits a CGI response (`Status:` + headers + blank line + body). */
export function parseCgiOutput(out: string, stderr = '', code: number | null = 0): ParsedResponse {
  const m = /\r?\n\r?\n/.exec(out);
  const headText = m ? out.slice(0, m.index) : out;
  const body = m ? out.slice(m.index + m[0].length) : '';
  const headers: [string, string][] = [];
  let status = 200;
  for (const line of headText.split(/\r?\n/)) {
    if (!line) continue;
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
    else headers.push([name, value]);
  }
  return {
    status, headers, body, stderr, code,
    header: (n) => headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1],
    all: (n) => headers.filter(([k]) => k.toLowerCase() === n.toLowerCase()).map(([, v]) => v),
  };
}

/** Runs a program to completion, feeding `input` on stdin. */
export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, input: string | Uint8Array = ''): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    // A program may exit without reading all of its input; what it printed is still its answer.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') reject(e); });
    child.stdin.end(input);
  });
}

/** Runs a handler module as a CGI script would be run by a web server. */
export async function runCgi(script: string, vars: Record<string, string | undefined> = {}, input: string | Uint8Array = ''): Promise<ParsedResponse> {
  const env = cleanEnv({
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: 'GET',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SCRIPT_NAME: '/cgi-bin/test.cgi',
    QUERY_STRING: '',
    REMOTE_ADDR: '127.0.0.1',
    ...vars,
  });
  const isJs = script.endsWith('.js');
  const r = await runProcess(isJs ? process.execPath : script, isJs ? [script] : [], env, input);
  return parseCgiOutput(r.stdout, r.stderr, r.code);
}

/** Runs a handler module from the command line (the script host). */
export async function runScript(script: string, args: string[] = [], vars: Record<string, string | undefined> = {}): Promise<ParsedResponse> {
  const r = await runProcess(process.execPath, [script, ...args], cleanEnv(vars));
  return parseCgiOutput(r.stdout, r.stderr, r.code);
}

/** The `name=value` of a Set-Cookie header. */
export function cookiePair(setCookie: string | undefined): string | undefined {
  return setCookie?.split(';')[0];
}

/** A tiny cookie jar for fetch: keeps name=value pairs from Set-Cookie. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  take(res: Response): void {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const cleared = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (cleared) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', this.header());
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.take(res);
    return res;
  }
}

/** A `pso serve` child process. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `node <nodeArgs> pso serve <module> --port 0` and waits for its address. */
export function startServer(module: string, args: string[] = [], vars: Record<string, string | undefined> = {}, nodeArgs: string[] = []): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', module, '--port', '0', ...args], { env: cleanEnv(vars), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill(); reject(new Error(`server did not start: ${out}${err}`)); }, 10_000);
    child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
    child.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          stderr: () => err,
          stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }),
        });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}): ${out}${err}`)); });
  });
}
