// The host matrix of the contract suite: the same handler (handler.ts, or a
// sample such as samples/account.ts) started on every host pso has, each
// answering requests through one interface, so that one list of tests runs
// against all of them.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { APACHE_MODULES, startApache } from '../support/apache.js';
import { CLI, ROOT, cleanEnv, parseCgiOutput, runProcess } from '../support/http.js';
import { NGINX_BIN, startNginx } from '../support/nginx.js';

/** The cookie every host names the session with (PSOServiceId). */
export const SERVICE = 'contract';

/** The compiled handler, which runs itself when it is the main module. */
export const HANDLER = fileURLToPath(new URL('./handler.js', import.meta.url));
const SERVERS = fileURLToPath(new URL('./servers.js', import.meta.url));

/**
 * A handler module the hosts can run: bundled from its source for the CGI
 * hosts, loaded compiled by the others. It exports `handler`, and may export
 * `csrf` and `readOnlySession`; it runs itself when it is the main module.
 */
export interface HandlerModule {
  /** The script's name under CGI (`<name>.cgi`, `<name>.fcgi`). */
  readonly name: string;
  /** The TypeScript source, for `pso bundle`. */
  readonly source: string;
  /** The compiled module. */
  readonly compiled: string;
}

/** The contract handler (handler.ts). */
export const CONTRACT_HANDLER: HandlerModule = { name: 'contract', source: join(ROOT, 'spec/contract/handler.ts'), compiled: HANDLER };

/** A sample as a {@link HandlerModule}: `sampleModule('account')` is samples/account.ts. */
export const sampleModule = (name: string): HandlerModule =>
  ({ name, source: join(ROOT, 'samples', `${name}.ts`), compiled: join(ROOT, 'dist/samples', `${name}.js`) });

/** What a request to a host is made of. */
export interface HostRequest {
  method?: string;
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
}

/** A response, whichever host gave it. */
export interface HostResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** A running host. */
export interface ContractHost {
  readonly name: string;
  /** The path the handler answers under: '' for servers, the script's path under CGI. */
  readonly basePath: string;
  /** Sends a request to `basePath + path` (`path` may hold a query string). Redirects are not followed. */
  request(path: string, init?: HostRequest): Promise<HostResponse>;
  /** The PSOLog file so far. */
  log(): string;
  /** PSOUploadDir: where uploads wait while their request lasts. */
  readonly uploadDir: string;
  /** A directory the handler may save files to (writable by the host's user). */
  readonly scratch: string;
  stop(): Promise<void>;
}

/** How to start a host, and why it cannot be started here. */
export interface HostDefinition {
  readonly name: string;
  /** Why this host is skipped on this machine, or undefined. */
  skipReason(): string | undefined;
  /** Starts the host running `module` (default: the contract handler). */
  start(module?: HandlerModule): Promise<ContractHost>;
}

/** What each host of a contract suite answered, by host name, with what differs by host taken out. */
export type Transcripts = Map<string, Record<string, unknown>>;

/**
 * Starts `definition`'s host running `module` before a suite and stops it
 * after; where the host cannot run here, the suite is skipped and the log
 * says why. `started` gets the host and the record of its answers, which
 * `transcripts` keeps for {@link answeredAlike}.
 */
export function hostForSuite(
  definition: HostDefinition,
  what: string,
  module: HandlerModule | undefined,
  transcripts: Transcripts,
  started: (host: ContractHost, record: Record<string, unknown>) => void,
): void {
  let host: ContractHost | undefined;
  before(async function () {
    const reason = definition.skipReason();
    if (reason) {
      console.log(`    skipping ${what}: ${reason}`);
      this.skip();
    }
    host = await definition.start(module);
    const record: Record<string, unknown> = {};
    transcripts.set(definition.name, record);
    started(host, record);
  });
  after(async () => {
    await host?.stop();
  });
}

/** The last suite of a contract: every host that ran answered as the first one did. */
export function answeredAlike(title: string, transcripts: Transcripts): void {
  describe(title, () => {
    it('answered alike on every host that ran', function () {
      const ran = [...transcripts];
      if (ran.length < 2) this.skip();
      const [firstName, first] = ran[0]!;
      for (const [name, transcript] of ran.slice(1)) {
        assert.deepEqual(transcript, first, `${name} answered otherwise than ${firstName}`);
      }
    });
  });
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface WorkDir {
  base: string;
  logFile: string;
  uploadDir: string;
  scratch: string;
  /** The directives every host gets, pointing into `base`. */
  directives: Record<string, string>;
}

/**
 * A temporary directory under /tmp (so that www-data can traverse its
 * parents), with sessions/, logs/, uploads/ and saved/ that `owner` can write.
 */
function workDir(name: string, owner?: string): WorkDir {
  const base = mkdtempSync(join('/tmp', `pso-contract-${name}-`));
  chmodSync(base, 0o755);
  const sessions = join(base, 'sessions');
  const logs = join(base, 'logs');
  const uploadDir = join(base, 'uploads');
  const scratch = join(base, 'saved');
  mkdirSync(sessions, { mode: 0o700 });
  for (const d of [logs, uploadDir, scratch]) mkdirSync(d, { mode: 0o755 });
  if (owner && isRoot) {
    const uid = Number(execFileSync('id', ['-u', owner], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', owner], { encoding: 'utf8' }).trim());
    for (const d of [sessions, logs, uploadDir, scratch]) chownSync(d, uid, gid);
  }
  const logFile = join(logs, 'pso.log');
  return {
    base, logFile, uploadDir, scratch,
    directives: {
      PSOServiceId: SERVICE, PSOSessionFileLoader_Path: sessions, PSOLog: logFile, PSOUploadDir: uploadDir,
      // API clients may carry the id as a bearer token (Apache passes Authorization to scripts with CGIPassAuth).
      PSOSessionHeader: 'Authorization',
    },
  };
}

const readLog = (file: string) => { try { return readFileSync(file, 'utf8'); } catch { return ''; } };

async function viaFetch(base: string, path: string, init: HostRequest = {}): Promise<HostResponse> {
  const res = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body ?? null, redirect: 'manual' });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const bundles = new Map<string, Promise<string>>();
/** A handler bundled once as an executable CGI script (`pso bundle`), shared by the CGI hosts. */
function bundledCgi(module: HandlerModule): Promise<string> {
  let bundle = bundles.get(module.source);
  if (!bundle) {
    bundle = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pso-contract-bundle-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, `${module.name}.cgi`);
      await bundleHandler({ entry: module.source, outfile: file });
      return file;
    })();
    bundles.set(module.source, bundle);
  }
  return bundle;
}

/** A docroot holding the bundled handler as /<name>.cgi. */
async function cgiDocroot(base: string, module: HandlerModule): Promise<string> {
  const docroot = join(base, 'htdocs');
  mkdirSync(docroot, { mode: 0o755 });
  const script = join(docroot, `${module.name}.cgi`);
  copyFileSync(await bundledCgi(module), script);
  chmodSync(script, 0o755);
  return docroot;
}

/** Starts a child that prints `... on http://host:port/` once it listens. */
function startListening(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} did not start: ${out}`)); }, 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
    child.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /on (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) { clearTimeout(timer); resolve({ url: m[1]!, child, output: () => out }); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited (${code}): ${out}`)); });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** A host that is a node child process listening on a port. */
function serverHost(name: string, args: (module: HandlerModule) => string[]): HostDefinition {
  return {
    name,
    skipReason: () => undefined,
    async start(module = CONTRACT_HANDLER) {
      const dir = workDir(name);
      try {
        const { url, child } = await startListening(args(module), cleanEnv(dir.directives));
        return {
          name, basePath: '',
          request: (path, init) => viaFetch(url, path, init),
          log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
          stop: async () => { await stopChild(child); rmSync(dir.base, { recursive: true, force: true }); },
        };
      } catch (e) {
        rmSync(dir.base, { recursive: true, force: true });
        throw e;
      }
    },
  };
}

/**
 * The script host: one process per request, the request given as the command
 * line (`-X`, `--path`, `-b`, `-H`, query words) and standard input, the
 * printed head and body read back as a response.
 */
const scriptHost: HostDefinition = {
  name: 'script',
  skipReason: () => undefined,
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('script');
    return {
      name: 'script', basePath: '',
      async request(path, init = {}) {
        const q = path.indexOf('?');
        const args = [module.compiled, '-X', init.method ?? 'GET', '--path', q < 0 ? path : path.slice(0, q)];
        for (const [name, value] of Object.entries(init.headers ?? {})) {
          if (name.toLowerCase() === 'cookie') args.push('-b', value);
          else args.push('-H', `${name}: ${value}`);
        }
        const body = init.body === undefined ? undefined : Buffer.from(init.body);
        if (body) args.push('-H', `Content-Length: ${body.byteLength}`);
        // The query words: each name=value pair as it appears in the query string.
        if (q >= 0) args.push(...path.slice(q + 1).split('&').filter(Boolean));
        const r = await runProcess(process.execPath, args, cleanEnv(dir.directives), body ?? '');
        const parsed = parseCgiOutput(r.stdout, r.stderr, r.code);
        const headers = new Headers();
        for (const [name, value] of parsed.headers) headers.append(name, value);
        return { status: parsed.status, headers, body: parsed.body };
      },
      log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
      stop: async () => rmSync(dir.base, { recursive: true, force: true }),
    };
  },
};

const apacheHost: HostDefinition = {
  name: 'apache-cgi',
  skipReason: () => process.env.PSO_APACHE_SKIP || undefined,
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('apache', 'www-data');
    try {
      const docroot = await cgiDocroot(dir.base, module);
      writeFileSync(join(docroot, '.htaccess'), [
        'Options +ExecCGI',
        'AddHandler cgi-script .cgi',
        'CGIPassAuth On',
        ...Object.entries(dir.directives).map(([k, v]) => `SetEnv ${k} ${v}`),
        '',
      ].join('\n'), { mode: 0o644 });
      const apache = await startApache({ docroot });
      return {
        name: 'apache-cgi', basePath: `/${module.name}.cgi`,
        request: (path, init) => viaFetch(apache.url, `/${module.name}.cgi${path}`, init),
        log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
        stop: async () => { await apache.stop(); rmSync(dir.base, { recursive: true, force: true }); },
      };
    } catch (e) {
      rmSync(dir.base, { recursive: true, force: true });
      throw e;
    }
  },
};

const nginxHost: HostDefinition = {
  name: 'nginx-fcgiwrap',
  skipReason: () => process.env.PSO_NGINX_SKIP || undefined,
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('nginx', 'www-data');
    try {
      const docroot = await cgiDocroot(dir.base, module);
      const nginx = await startNginx({ docroot, workers: 8, locations: [{ params: dir.directives }] });
      return {
        name: 'nginx-fcgiwrap', basePath: `/${module.name}.cgi`,
        request: (path, init) => viaFetch(nginx.url, `/${module.name}.cgi${path}`, init),
        log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
        stop: async () => { await nginx.stop(); rmSync(dir.base, { recursive: true, force: true }); },
      };
    } catch (e) {
      rmSync(dir.base, { recursive: true, force: true });
      throw e;
    }
  },
};

/** Starts `pso serve --fastcgi` on a unix socket in `dir` that the web server's workers may connect to. */
function startFastCgiServer(dir: WorkDir, module: HandlerModule): Promise<{ socket: string; child: ChildProcess }> {
  const socket = join(dir.base, 'pso.sock');
  const args = [CLI, 'serve', module.compiled, '--fastcgi', `unix:${socket}`, '--socket-mode', '666'];
  return new Promise((resolve, reject) => {
    // The directives come as params from the web server, as SetEnv gives them to a CGI script.
    const child = spawn(process.execPath, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} did not start: ${out}`)); }, 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
    child.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.includes(`over FastCGI on unix:${socket}`)) { clearTimeout(timer); resolve({ socket, child }); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited (${code}): ${out}`)); });
  });
}

/** Why a host needing these Apache modules cannot run here, or undefined. */
function apacheModulesMissing(modules: readonly string[]): string | undefined {
  const missing = modules.filter((m) => !existsSync(join(APACHE_MODULES, `mod_${m}.so`)));
  return missing.length ? `${missing.map((m) => `mod_${m}`).join(', ')} not installed in ${APACHE_MODULES}` : undefined;
}

/**
 * The bundled script (the very file the CGI hosts run), renamed .fcgi, under
 * Apache's mod_fcgid: one process serves request after request over FastCGI,
 * a connection each (mod_fcgid does not ask to keep them).
 */
const apacheFcgidHost: HostDefinition = {
  name: 'apache-fcgid',
  skipReason: () => process.env.PSO_APACHE_SKIP || process.env.PSO_FCGID_SKIP || apacheModulesMissing(['fcgid']),
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('apache-fcgid', 'www-data');
    try {
      const docroot = join(dir.base, 'htdocs');
      mkdirSync(docroot, { mode: 0o755 });
      const script = join(docroot, `${module.name}.fcgi`);
      copyFileSync(await bundledCgi(module), script);
      chmodSync(script, 0o755);
      writeFileSync(join(docroot, '.htaccess'), [
        'Options +ExecCGI',
        'AddHandler fcgid-script .fcgi',
        'CGIPassAuth On',
        ...Object.entries(dir.directives).map(([k, v]) => `SetEnv ${k} ${v}`),
        '',
      ].join('\n'), { mode: 0o644 });
      // mod_fcgid's default request limit (128 KiB) would refuse the uploads.
      const apache = await startApache({ docroot, modules: ['fcgid'], extraConfig: 'FcgidMaxRequestLen 67108864\nFcgidIOTimeout 60\n' });
      return {
        name: 'apache-fcgid', basePath: `/${module.name}.fcgi`,
        request: (path, init) => viaFetch(apache.url, `/${module.name}.fcgi${path}`, init),
        log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
        stop: async () => { await apache.stop(); rmSync(dir.base, { recursive: true, force: true }); },
      };
    } catch (e) {
      rmSync(dir.base, { recursive: true, force: true });
      throw e;
    }
  },
};

/** `pso serve --fastcgi` behind Apache's mod_proxy_fcgi (connections reused), the directives as SetEnv. */
const apacheProxyFcgiHost: HostDefinition = {
  name: 'apache-proxy-fcgi',
  skipReason: () => process.env.PSO_APACHE_SKIP || apacheModulesMissing(['setenvif', 'proxy', 'proxy_fcgi']),
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('apache-proxy-fcgi');
    let child: ChildProcess | undefined;
    try {
      const docroot = join(dir.base, 'htdocs');
      mkdirSync(docroot, { mode: 0o755 });
      const server = await startFastCgiServer(dir, module);
      child = server.child;
      const apache = await startApache({
        docroot,
        modules: ['setenvif', 'proxy', 'proxy_fcgi'],
        extraConfig: [
          // SCRIPT_NAME the mount point, PATH_INFO the rest (decoded), as for a CGI script.
          'SetEnvIf Request_URI . proxy-fcgi-pathinfo=unescape',
          ...Object.entries(dir.directives).map(([k, v]) => `SetEnv ${k} ${v}`),
          '<Location "/">', 'CGIPassAuth On', '</Location>',
          // enablereuse: connections are kept between requests (FCGI_KEEP_CONN).
          `ProxyPass "/" "unix:${server.socket}|fcgi://localhost/" enablereuse=on`,
          '',
        ].join('\n'),
      });
      return {
        name: 'apache-proxy-fcgi', basePath: '',
        request: (path, init) => viaFetch(apache.url, path, init),
        log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
        stop: async () => { await apache.stop(); await stopChild(server.child); rmSync(dir.base, { recursive: true, force: true }); },
      };
    } catch (e) {
      if (child) await stopChild(child);
      rmSync(dir.base, { recursive: true, force: true });
      throw e;
    }
  },
};

/** `pso serve --fastcgi` behind nginx's fastcgi_pass (connections kept), the directives as fastcgi_param. */
const nginxFastCgiHost: HostDefinition = {
  name: 'nginx-fastcgi',
  // fcgiwrap, which the nginx CGI host needs, is not needed here.
  skipReason: () => (!existsSync(NGINX_BIN) ? `${NGINX_BIN} is not installed` : !isRoot ? 'a private nginx whose workers run as www-data needs root' : undefined),
  async start(module = CONTRACT_HANDLER) {
    const dir = workDir('nginx-fastcgi');
    let child: ChildProcess | undefined;
    try {
      const docroot = join(dir.base, 'htdocs');
      mkdirSync(docroot, { mode: 0o755 });
      const server = await startFastCgiServer(dir, module);
      child = server.child;
      const nginx = await startNginx({
        docroot,
        locations: [{
          match: '^/', pass: `unix:${server.socket}`, keepConnection: true,
          // The whole site is the handler's: no script name, the path is PATH_INFO.
          params: { ...dir.directives, SCRIPT_NAME: '' }, variables: { PATH_INFO: '$uri' },
        }],
      });
      return {
        name: 'nginx-fastcgi', basePath: '',
        request: (path, init) => viaFetch(nginx.url, path, init),
        log: () => readLog(dir.logFile), uploadDir: dir.uploadDir, scratch: dir.scratch,
        stop: async () => { await nginx.stop(); await stopChild(server.child); rmSync(dir.base, { recursive: true, force: true }); },
      };
    } catch (e) {
      if (child) await stopChild(child);
      rmSync(dir.base, { recursive: true, force: true });
      throw e;
    }
  },
};

/** Every host, in the order the suite runs them. */
export const HOSTS: readonly HostDefinition[] = [
  apacheHost,
  nginxHost,
  apacheFcgidHost,
  apacheProxyFcgiHost,
  nginxFastCgiHost,
  serverHost('node-http', (module) => [CLI, 'serve', module.compiled, '--port', '0']),
  serverHost('express', (module) => [SERVERS, 'express', module.compiled]),
  serverHost('fetch', (module) => [SERVERS, 'fetch', module.compiled]),
  scriptHost,
];
