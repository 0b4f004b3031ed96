// A private, real nginx (Debian nginx) with CGI scripts run by private
// fcgiwraps (Debian fcgiwrap), for the CGI suites, or passing requests to a
// FastCGI server of the test's own: nginx's config, logs, temp directories
// and fcgiwrap's sockets in a temporary directory, a free port on 127.0.0.1,
// nginx workers and CGIs as www-data.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cgiPath, freePort } from './apache.js';

export const NGINX_BIN = '/usr/sbin/nginx';
export const FCGIWRAP_BIN = '/usr/sbin/fcgiwrap';

/** Where the CGI scripts of one `location` are, and the directives they get. */
export interface CgiLocation {
  /** The regular expression of `location ~ ...`; it must match the script's name (default `\.cgi(/|$)`). */
  match?: string;
  /**
   * `fastcgi_param` lines for the directives (PSOServiceId, ...), as `SetEnv` is for Apache.
   * A name of the CGI variables nginx is given by default (SCRIPT_NAME, ...) replaces it; values are
   * literal, except those in {@link variables}.
   */
  params?: Readonly<Record<string, string>>;
  /** `fastcgi_param` lines whose values are nginx expressions (`$uri`), not literals. */
  variables?: Readonly<Record<string, string>>;
  /**
   * A FastCGI server to pass requests to (`unix:/path` or `host:port`)
   * instead of the fcgiwraps; its requests are not split into script and
   * PATH_INFO.
   */
  pass?: string;
  /** With {@link pass}: keep connections to it open between requests (`fastcgi_keep_conn on`, an upstream `keepalive`). */
  keepConnection?: boolean;
}

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** The document root; it and its parents must be traversable by `user`. */
  docroot: string;
  /** nginx workers and fcgiwrap (so the CGIs) run as this user when started as root (default www-data). */
  user?: string;
  group?: string;
  /** The CGI locations, checked in this order (default: every `*.cgi`, no directives). */
  locations?: readonly CgiLocation[];
  /** fcgiwrap processes: each runs one CGI at a time (default 16; none when every location has a `pass`). */
  workers?: number;
  /** nginx's `worker_processes` (default 1; `auto`: one per CPU, as Debian's nginx.conf has it). */
  workerProcesses?: number | 'auto';
  /** More directives inside `server { }`. */
  extraConfig?: string;
  /** More directives inside `http { }` (an `upstream`, say). */
  httpConfig?: string;
}

/** A running private nginx and its fcgiwrap. */
export interface NginxServer {
  port: number;
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  /** Where nginx.conf, logs/, temp/ and fcgiwrap's sockets live. */
  stateDir: string;
  /** The PATH the CGIs get. */
  path: string;
  /** nginx's error log so far (after {@link stop}: as it was when it stopped). */
  errorLog(): string;
  accessLog(): string;
  /** What the CGIs wrote on standard error: fcgiwrap passes it on to its own. */
  cgiLog(): string;
  /** Stops nginx and fcgiwrap and removes the state directory. */
  stop(): Promise<void>;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * The CGI meta-variables (RFC 3875 §4.1) as nginx's fastcgi_params gives
 * them, written out here so that the test does not depend on /etc/nginx.
 * nginx itself adds an HTTP_* variable for every request header.
 */
function cgiParams(path: string): string[] {
  return [
    'SCRIPT_FILENAME $document_root$fastcgi_script_name',
    'SCRIPT_NAME $fastcgi_script_name',
    'PATH_INFO $fastcgi_path_info',
    'QUERY_STRING $query_string',
    'REQUEST_METHOD $request_method',
    // Empty on a request without a body: CGI scripts must read that as no body.
    'CONTENT_TYPE $content_type',
    'CONTENT_LENGTH $content_length',
    'REQUEST_URI $request_uri',
    'DOCUMENT_URI $document_uri',
    'DOCUMENT_ROOT $document_root',
    'SERVER_PROTOCOL $server_protocol',
    'REQUEST_SCHEME $scheme',
    'HTTPS $https if_not_empty',
    'GATEWAY_INTERFACE CGI/1.1',
    'SERVER_SOFTWARE nginx/$nginx_version',
    'REMOTE_ADDR $remote_addr',
    'REMOTE_PORT $remote_port',
    'SERVER_ADDR $server_addr',
    'SERVER_PORT $server_port',
    'SERVER_NAME $server_name',
    // fcgiwrap gives a CGI only these variables: this PATH lets `#!/usr/bin/env node` find node.
    `PATH ${quote(path)}`,
  ];
}

/** An nginx string literal. */
function quote(value: string): string {
  return `"${value.replace(/["\\$]/g, (c) => (c === '$' ? '${dollar}' : `\\${c}`))}"`;
}

/** The generated nginx.conf. */
export function nginxConfig(o: { stateDir: string; docroot: string; port: number; path: string; user: string; group: string; sockets: readonly string[]; locations: readonly CgiLocation[]; extra: string; http?: string; workerProcesses?: number | 'auto' }): string {
  const st = o.stateDir;
  const upstreams: string[] = [];
  const locations = o.locations.map((l, i) => {
    const given = new Map<string, string>();
    for (const [k, v] of Object.entries(l.params ?? {})) given.set(k, quote(v));
    for (const [k, v] of Object.entries(l.variables ?? {})) given.set(k, v);
    const params = [
      ...cgiParams(o.path).filter((p) => !given.has(p.slice(0, p.indexOf(' ')))),
      ...[...given].map(([k, v]) => `${k} ${v}`),
    ];
    let pass = 'fcgiwrap';
    let head = `            # The script is the name up to its extension; what follows is PATH_INFO.
            fastcgi_split_path_info ^(.+?\\.cgi)(/.*)?$;`;
    if (l.pass !== undefined) {
      pass = `fastcgi_app_${i}`;
      upstreams.push(`    upstream ${pass} {
        server ${l.pass} max_fails=0;
${l.keepConnection ? '        keepalive 16;' : ''}
    }`);
      head = l.keepConnection ? '            fastcgi_keep_conn on;' : '';
    }
    return `        location ~ ${l.match ?? '\\.cgi(/|$)'} {
${head}
            fastcgi_pass ${pass};
${params.map((p) => `            fastcgi_param ${p};`).join('\n')}
        }`;
  });
  return `# Generated for one test run.
${isRoot ? `user ${o.user} ${o.group};` : ''}
daemon off;
master_process on;
worker_processes ${o.workerProcesses ?? 1};
pid ${st}/nginx.pid;
error_log ${st}/logs/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log ${st}/logs/access.log;
    client_body_temp_path ${st}/temp/body;
    fastcgi_temp_path ${st}/temp/fastcgi;
    proxy_temp_path ${st}/temp/proxy;
    uwsgi_temp_path ${st}/temp/uwsgi;
    scgi_temp_path ${st}/temp/scgi;
    default_type application/octet-stream;
    # Uploads of a few megabytes go through.
    client_max_body_size 64m;
    # A literal dollar sign for values that hold one.
    geo $dollar { default "$"; }

    # One fcgiwrap process per socket, each running one CGI at a time: the
    # least busy gets the request. (fcgiwrap -c N would share one socket, but
    # its parent leaves its children behind when it is stopped.)
${o.sockets.length ? `    upstream fcgiwrap {
        least_conn;
${o.sockets.map((s) => `        server unix:${s} max_fails=0;`).join('\n')}
    }` : ''}
${upstreams.join('\n')}
${o.http ?? ''}

    server {
        listen 127.0.0.1:${o.port};
        server_name 127.0.0.1;
        root ${o.docroot};
        fastcgi_read_timeout 60s;
${locations.join('\n')}
${o.extra}
    }
}
`;
}

function socketReady(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ path });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** Starts a child in its own process group, so that stopping it stops what it forked. */
function spawnGroup(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; uid?: number; gid?: number; log: string }): { child: ChildProcess; exited: Promise<number | null>; exitCode: () => number | null | undefined } {
  const fd = openSync(opts.log, 'a');
  const child = spawn(cmd, args, { env: opts.env, stdio: ['ignore', fd, fd], detached: true, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}) });
  closeSync(fd);
  running.add(child);
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => { running.delete(child); code = c; r(c); }));
  child.once('error', () => { code = -1; });
  return { child, exited, exitCode: () => code };
}

async function stopGroup(p: { child: ChildProcess; exited: Promise<number | null>; exitCode: () => number | null | undefined }, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode() !== undefined) return;
  try { process.kill(-p.child.pid!, signal); } catch { /* already gone */ }
  const timer = setTimeout(() => { try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
  await p.exited;
  clearTimeout(timer);
}

/**
 * Starts fcgiwrap on a unix socket and nginx in the foreground (children of
 * this process, clean environments), and resolves once nginx's port accepts
 * connections.
 *
 * @example
 * ```ts
 * const nginx = await startNginx({ docroot: '/tmp/x/htdocs', locations: [{ params: { PSOServiceId: 'x' } }] });
 * await fetch(`${nginx.url}/quick.cgi`);
 * await nginx.stop();
 * ```
 */
export async function startNginx(options: NginxOptions): Promise<NginxServer> {
  const locationList = options.locations ?? [{}];
  const needsFcgiwrap = locationList.some((l) => l.pass === undefined);
  for (const bin of needsFcgiwrap ? [NGINX_BIN, FCGIWRAP_BIN] : [NGINX_BIN]) if (!existsSync(bin)) throw new Error(`${bin} is not installed`);
  const docroot = realpathSync(resolve(options.docroot));
  const user = options.user ?? 'www-data';
  const group = options.group ?? user;
  const ids = isRoot
    ? { uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()), gid: Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]) }
    : {};
  const stateDir = mkdtempSync(join(tmpdir(), 'pso-nginx-state-'));
  // Workers (as www-data) reach the socket and the temp directories inside.
  chmodSync(stateDir, 0o755);
  const logs = join(stateDir, 'logs');
  const temp = join(stateDir, 'temp');
  const run = join(stateDir, 'run');
  mkdirSync(logs, { mode: 0o755 });
  mkdirSync(temp, { mode: 0o755 });
  mkdirSync(run, { mode: 0o755 });
  if (ids.uid !== undefined) {
    // fcgiwrap creates its socket here as www-data; nginx workers write request bodies here.
    execFileSync('chown', [`${ids.uid}:${ids.gid}`, run, temp]);
  }
  const sockets = Array.from({ length: needsFcgiwrap ? options.workers ?? 16 : 0 }, (_, i) => join(run, `fcgiwrap-${i}.sock`));
  const path = cgiPath();
  const read = (name: string) => { try { return readFileSync(join(logs, name), 'utf8'); } catch { return ''; } };

  // Their standard error, which is the CGIs', goes to one log.
  const fcgiwraps = sockets.map((socket) => spawnGroup(FCGIWRAP_BIN, ['-s', `unix:${socket}`], { env: { PATH: path }, ...ids, log: join(logs, 'cgi.log') }));
  const cleanUp = async () => {
    await Promise.all(fcgiwraps.map((f) => stopGroup(f, 'SIGTERM')));
    rmSync(stateDir, { recursive: true, force: true });
  };
  const ready = async () => (await Promise.all(sockets.map(socketReady))).every(Boolean);
  for (let i = 0; i < 200 && fcgiwraps.every((f) => f.exitCode() === undefined) && !(await ready()); i++) await new Promise((r) => setTimeout(r, 25));
  if (!(await ready())) {
    const log = read('cgi.log');
    await cleanUp();
    throw new Error(`fcgiwrap did not come up on ${run}: ${log.trim()}`);
  }

  const conf = join(stateDir, 'nginx.conf');
  let lastError: Error | undefined;
  // The free port may be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(conf, nginxConfig({ stateDir, docroot, port, path, user, group, sockets, locations: locationList, extra: options.extraConfig ?? '', http: options.httpConfig ?? '', workerProcesses: options.workerProcesses ?? 1 }));
    // -e: the log for what goes wrong before the config is read (not /var/log/nginx).
    const nginx = spawnGroup(NGINX_BIN, ['-p', `${stateDir}/`, '-c', conf, '-e', join(logs, 'error.log')], { env: { PATH: path }, log: join(logs, 'nginx.out') });
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && nginx.exitCode() === undefined) {
      if (await portOpen(port)) { up = true; break; }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (up && nginx.exitCode() === undefined) {
      let final: { error: string; access: string; cgi: string } | undefined;
      return {
        port,
        url: `http://127.0.0.1:${port}`,
        stateDir,
        path,
        errorLog: () => final?.error ?? read('error.log'),
        accessLog: () => final?.access ?? read('access.log'),
        cgiLog: () => final?.cgi ?? read('cgi.log'),
        stop: async () => {
          if (final) return;
          // SIGQUIT: nginx finishes the requests it has, then exits with its workers.
          await stopGroup(nginx, 'SIGQUIT');
          final = { error: read('error.log'), access: read('access.log'), cgi: read('cgi.log') };
          await cleanUp();
        },
      };
    }
    await stopGroup(nginx, 'SIGKILL');
    lastError = new Error(`nginx did not come up on 127.0.0.1:${port}: ${read('nginx.out').trim()} ${read('error.log').trim()}`.trim());
    if (!/Address already in use/i.test(lastError.message)) break;
  }
  await cleanUp();
  throw lastError;
}
