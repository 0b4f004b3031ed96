// A private, real Apache httpd (Debian apache2) for the CGI suites and the
// benchmark: its own config, logs and cgid socket in a temporary directory,
// a free port on 127.0.0.1, workers and CGIs as www-data.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const APACHE_BIN = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';

/** Options of {@link startApache}. */
export interface ApacheOptions {
  /** The document root; it and its parents must be traversable by `user`. */
  docroot: string;
  /** Workers and CGIs run as this user (default www-data). */
  user?: string;
  group?: string;
  /** Apache's LogLevel (default warn; CGI stderr is logged at error). */
  logLevel?: string;
  /** More directives, appended to the generated config. */
  extraConfig?: string;
  /**
   * Modules to load beside the usual ones, by name (`fcgid`, `proxy`,
   * `proxy_fcgi`). mod_fcgid gets its sockets and process table in the state
   * directory, and the PATH that finds node.
   */
  modules?: readonly string[];
}

/** A running private Apache. */
export interface ApacheServer {
  port: number;
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  /** Where httpd.conf, logs/ and run/ live. */
  stateDir: string;
  /** The PATH Apache and its CGIs get. */
  path: string;
  /** The error log so far (after {@link stop}: as it was when Apache stopped). */
  errorLog(): string;
  accessLog(): string;
  /** Stops Apache and removes its state directory. */
  stop(): Promise<void>;
}

/** PATH for Apache and its CGIs: node's directory first, so `#!/usr/bin/env node` finds this node. */
export function cgiPath(): string {
  const dirs = [dirname(process.execPath), dirname(realpathSync(process.execPath)), '/usr/bin', '/bin'];
  return [...new Set(dirs)].join(':');
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

/** The generated httpd.conf. */
export function apacheConfig(o: { stateDir: string; docroot: string; port: number; path: string; user: string; group: string; logLevel: string; extra: string; modules?: readonly string[] }): string {
  const m = (name: string) => `LoadModule ${name}_module ${APACHE_MODULES}/mod_${name}.so`;
  const st = o.stateDir;
  const more = o.modules ?? [];
  const fcgid = more.includes('fcgid')
    ? `
# mod_fcgid: its sockets and process table here; the processes it starts get only FcgidInitialEnv.
FcgidIPCDir "${st}/run/fcgid"
FcgidProcessTableFile "${st}/run/fcgid_shm"
FcgidInitialEnv PATH "${o.path}"`
    : '';
  return `ServerRoot "${st}"
ServerName 127.0.0.1
Listen 127.0.0.1:${o.port}
PidFile "${st}/httpd.pid"
DefaultRuntimeDir "${st}/run"
# Process-shared pthread mutexes, not fcntl ("file") locks: those fail now and
# then with EDEADLK between the threads of one event-MPM child, and mod_fcgid
# then drops the request ("mod_fcgid: can't lock process table").
Mutex pthread default
ErrorLog "${st}/logs/error.log"
LogLevel ${o.logLevel}
User ${o.user}
Group ${o.group}

${m('mpm_event')}
${m('cgid')}
${m('env')}
${m('mime')}
${m('alias')}
${m('dir')}
${m('authz_core')}
${m('authz_host')}
${m('headers')}
${more.map(m).join('\n')}
# The cgid daemon's socket: workers (as ${o.user}) connect to it.
ScriptSock "${st}/run/cgid.sock"

# Enough threads that concurrent requests are not queued behind each other, all
# started at once and never reaped: a child stopped for having too many idle
# threads after a burst closes its kept-alive connections, and a client that
# sends its next request on one just then sees "other side closed".
StartServers 4
ServerLimit 4
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 256
MinSpareThreads 64
MaxSpareThreads 256
Timeout 150
KeepAlive On
${existsSync('/etc/mime.types') ? 'TypesConfig /etc/mime.types' : ''}
AddDefaultCharset Off
LogFormat "%h %t \\"%r\\" %>s %b %D" timed
CustomLog "${st}/logs/access.log" timed

AccessFileName .htaccess
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "${o.docroot}"
<Directory "${o.docroot}">
    Options FollowSymLinks
    AllowOverride All
    Require all granted
</Directory>
DirectoryIndex index.html index.cgi
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>

# Apache hands CGIs only PATH and the CGI variables; this PATH holds node.
SetEnv PATH "${o.path}"${fcgid}
${o.extra}
`;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts Apache in the foreground (as a child of this process) with a clean
 * environment, and resolves once its port accepts connections.
 *
 * @example
 * ```ts
 * const apache = await startApache({ docroot: '/tmp/x/htdocs' });
 * await fetch(`${apache.url}/test.cgi`);
 * await apache.stop();
 * ```
 */
export async function startApache(options: ApacheOptions): Promise<ApacheServer> {
  if (!existsSync(APACHE_BIN)) throw new Error(`${APACHE_BIN} is not installed`);
  for (const name of options.modules ?? []) {
    if (!existsSync(join(APACHE_MODULES, `mod_${name}.so`))) throw new Error(`${APACHE_MODULES}/mod_${name}.so is not installed`);
  }
  const docroot = realpathSync(resolve(options.docroot));
  const user = options.user ?? 'www-data';
  const group = options.group ?? user;
  const stateDir = mkdtempSync(join(tmpdir(), 'pso-apache-state-'));
  // Workers reach the cgid socket in run/ as an unprivileged user.
  chmodSync(stateDir, 0o755);
  mkdirSync(join(stateDir, 'logs'), { mode: 0o750 });
  mkdirSync(join(stateDir, 'run'), { mode: 0o755 });
  const path = cgiPath();
  const conf = join(stateDir, 'httpd.conf');
  const env = { PATH: path };

  let lastError: unknown;
  // The free port may be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(conf, apacheConfig({ stateDir, docroot, port, path, user, group, logLevel: options.logLevel ?? 'warn', extra: options.extraConfig ?? '', modules: options.modules ?? [] }));
    const child = spawn(APACHE_BIN, ['-d', stateDir, '-f', conf, '-DFOREGROUND'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => { running.delete(child); r(code); }));
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    child.once('error', (e) => { lastError = e; exitCode = -1; });

    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && exitCode === undefined) {
      if (await portOpen(port)) { up = true; break; }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up && exitCode === undefined) {
      const logs = join(stateDir, 'logs');
      const read = (name: string) => { try { return readFileSync(join(logs, name), 'utf8'); } catch { return ''; } };
      let finalErrorLog: string | undefined;
      let finalAccessLog: string | undefined;
      return {
        port,
        url: `http://127.0.0.1:${port}`,
        stateDir,
        path,
        errorLog: () => finalErrorLog ?? read('error.log'),
        accessLog: () => finalAccessLog ?? read('access.log'),
        stop: async () => {
          if (finalErrorLog !== undefined) return;
          if (exitCode === undefined) {
            // SIGTERM: the parent stops its workers and the cgid daemon, then exits.
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(timer);
          }
          finalErrorLog = read('error.log');
          finalAccessLog = read('access.log');
          rmSync(stateDir, { recursive: true, force: true });
        },
      };
    }
    if (exitCode === undefined) { child.kill('SIGKILL'); await exited; }
    lastError = new Error(`apache did not come up on 127.0.0.1:${port}: ${output.trim()} ${(() => { try { return readFileSync(join(stateDir, 'logs/error.log'), 'utf8'); } catch { return ''; } })()}`.trim());
    if (!/Address already in use/i.test(String((lastError as Error).message))) break;
  }
  rmSync(stateDir, { recursive: true, force: true });
  throw lastError;
}
