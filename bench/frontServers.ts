// The web servers in front of the promotion benchmark's deployments: a
// private nginx or Apache (the test suites' harnesses, spec/support) with the
// configuration each deployment is conventionally given on Debian.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApache } from '../spec/support/apache.js';
import { startNginx } from '../spec/support/nginx.js';
import { FCGID_MODULE, PHP_CGI_ACTION_BIN, PHP_CGI_BIN } from './phpAnchors.js';

const MODULES = '/usr/lib/apache2/modules';

/** A running front server. */
export interface Front {
  port: number;
  /** Its master process (workers, CGIs and FastCGI processes it starts are below it). */
  pid(): number | undefined;
  /** Its error log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** An application server behind the front server. */
export interface Upstream {
  protocol: 'http' | 'fastcgi';
  /** `unix:/path/to.sock` or `127.0.0.1:port`. */
  address: string;
  /**
   * More servers of the same application, each its own process: nginx sends
   * each request to one of them by a hash of `hash` (the session cookie, so
   * that one process serves each session).
   */
  more?: readonly string[];
  /** The nginx variable whose hash chooses among `address` and `more`. */
  hash?: string;
  /** PHP: nginx passes only existing `.php` scripts, with Debian's fastcgi-php snippet. */
  php?: boolean;
}

function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * nginx's locations for `app`. PHP gets Debian's `snippets/fastcgi-php.conf`
 * written out (its relative `include fastcgi.conf` would not resolve under a
 * private prefix) over `/etc/nginx/fastcgi.conf`; an HTTP server gets
 * `proxy_pass` to an upstream with idle connections kept (`keepalive`, HTTP/1.1),
 * as nginx documents for proxied application servers; pso's FastCGI server
 * gets its connections kept too (`fastcgi_keep_conn on`), as its deployment
 * page says. PHP gets Debian's recipe as it is: php-fpm accepts a connection
 * per request in each child, which is how it is built to run.
 */
export function nginxAppConfig(app: Upstream): { http: string; server: string } {
  const servers = [app.address, ...(app.more ?? [])].map((a) => `        server ${a};\n`).join('');
  const upstream = `    upstream app {\n${app.hash ? `        hash ${app.hash} consistent;\n` : ''}${servers}        keepalive 32;\n    }\n`;
  if (app.protocol === 'http') {
    return {
      http: upstream,
      server: `        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }\n`,
    };
  }
  if (app.php) {
    return {
      http: '',
      server: `        location ~ \\.php$ {
            fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
            try_files $fastcgi_script_name =404;
            set $path_info $fastcgi_path_info;
            fastcgi_param PATH_INFO $path_info;
            fastcgi_index index.php;
            include /etc/nginx/fastcgi.conf;
            fastcgi_pass ${app.address};
        }\n`,
    };
  }
  // pso's FastCGI server as docs/deploy-fastcgi.md sets it up: connections kept between
  // requests (each new one costs an accept and, with workers, a hand-over by the primary).
  return {
    http: upstream,
    server: `        location / {\n            include /etc/nginx/fastcgi.conf;\n            fastcgi_keep_conn on;\n            fastcgi_pass app;\n        }\n`,
  };
}

/**
 * A private nginx (Debian's `worker_processes auto`, workers as www-data)
 * in front of `app`.
 *
 * @example
 * ```ts
 * const nginx = await startNginxFront('/tmp/x/htdocs', { protocol: 'fastcgi', address: 'unix:/tmp/x/php-fpm.sock', php: true });
 * ```
 */
export async function startNginxFront(docroot: string, app: Upstream): Promise<Front> {
  const config = nginxAppConfig(app);
  // nginx closes a client's kept-alive connection after 1,000 requests by default: at 4,000
  // req/s over 32 connections each one passes that within a run, and a request the client
  // sends as the close happens fails on the client side (2 to 4 a run, PHP's rows as pso's).
  const http = `    keepalive_requests 1000000;\n${config.http}`;
  const nginx = await startNginx({ docroot, workers: 0, locations: [], workerProcesses: 'auto', httpConfig: http, extraConfig: config.server });
  return { port: nginx.port, pid: () => pidIn(join(nginx.stateDir, 'nginx.pid')), errorLog: () => nginx.errorLog(), stop: () => nginx.stop() };
}

/** What Apache runs for a deployment (see the `apache*` config builders below). */
export interface ApacheApp {
  /** Top-level directives (modules, mod_fcgid's settings). */
  global: string;
  /** Directives for the document root's `<Directory>`. */
  directory: string;
}

/** `SetEnv` lines. */
export function setEnv(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([k, v]) => `SetEnv ${k} "${v}"\n`)
    .join('');
}

/** php-fpm through mod_proxy_fcgi: Debian's php8.2-fpm.conf, with this socket. */
export function apacheProxyFcgi(socket: string): ApacheApp {
  return {
    global: `LoadModule proxy_module ${MODULES}/mod_proxy.so\nLoadModule proxy_fcgi_module ${MODULES}/mod_proxy_fcgi.so\n`,
    directory: `<FilesMatch ".+\\.ph(?:ar|p|tml)$">\n    SetHandler "proxy:unix:${socket}|fcgi://localhost"\n</FilesMatch>\n`,
  };
}

/**
 * php-cgi as a CGI: Debian's php8.2-cgi.conf with its commented lines on
 * (`ScriptAlias /cgi-bin/` + `Action application/x-httpd-php
 * /cgi-bin/php8.2`): Apache runs /usr/lib/cgi-bin/php8.2 for every `.php`
 * request, through mod_cgid, with the script in PATH_TRANSLATED.
 */
export function apachePhpCgi(): ApacheApp {
  return {
    global: `LoadModule actions_module ${MODULES}/mod_actions.so
ScriptAlias /cgi-bin/ /usr/lib/cgi-bin/
<Directory "/usr/lib/cgi-bin">
    AllowOverride None
    Options +ExecCGI -MultiViews +SymLinksIfOwnerMatch
    Require all granted
</Directory>
Action application/x-httpd-php /cgi-bin/${PHP_CGI_ACTION_BIN.split('/').pop()}
`,
    directory: `<FilesMatch ".+\\.ph(?:ar|p|tml)$">\n    SetHandler application/x-httpd-php\n</FilesMatch>\n`,
  };
}

/** Scripts ending in `.cgi` run as CGIs (mod_cgid), with `env` set for them. */
export function apacheCgi(env: Readonly<Record<string, string>> = {}): ApacheApp {
  return { global: '', directory: `Options +ExecCGI\nAddHandler cgi-script .cgi\n${setEnv(env)}` };
}

/**
 * mod_fcgid (Debian's libapache2-mod-fcgid): Apache starts FastCGI processes
 * of the script (or of `wrapper` for scripts ending in `suffix`), each
 * answering one request at a time, at most `maxProcesses` of them, kept
 * between requests; `env` is set for each request and in the processes'
 * environment, `processEnv` in the processes' only. `maxRequests`: a process is replaced after that many
 * requests (php-cgi stops by itself after PHP_FCGI_MAX_REQUESTS, 500, and
 * mod_fcgid must not send it more).
 */
export function apacheFcgid(o: {
  ipcDir: string;
  suffix: string;
  wrapper?: string;
  maxProcesses: number;
  maxRequests?: number;
  env?: Readonly<Record<string, string>>;
  /** Environment of the processes only. */
  processEnv?: Readonly<Record<string, string>>;
}): ApacheApp {
  const env = o.env ?? {};
  return {
    global: `LoadModule fcgid_module ${FCGID_MODULE}
FcgidIPCDir "${o.ipcDir}/sock"
FcgidProcessTableFile "${o.ipcDir}/shm"
FcgidConnectTimeout 20
FcgidMaxProcessesPerClass ${o.maxProcesses}
FcgidMaxRequestsPerProcess ${o.maxRequests ?? 0}
${Object.entries({ ...env, ...o.processEnv })
  .map(([k, v]) => `FcgidInitialEnv ${k} "${v}"\n`)
  .join('')}`,
    directory: `Options +ExecCGI
<FilesMatch "\\${o.suffix}$">
    SetHandler fcgid-script
</FilesMatch>
${o.wrapper ? `FcgidWrapper ${o.wrapper} ${o.suffix}\n` : ''}${setEnv(env)}`,
  };
}

/**
 * php-cgi under mod_fcgid, the way mod_fcgid documents PHP: `FcgidWrapper
 * /usr/bin/php-cgi .php`, with PHP_FCGI_MAX_REQUESTS and
 * FcgidMaxRequestsPerProcess equal, as its documentation asks. They are
 * 10000 rather than php-cgi's 500: at 500, the pool is replaced every few
 * seconds under this load, and mod_fcgid's spawn throttle then stalls
 * requests for seconds; what is measured is the steady state.
 */
export function apachePhpFcgid(ipcDir: string, maxProcesses: number): ApacheApp {
  return apacheFcgid({ ipcDir, suffix: '.php', wrapper: PHP_CGI_BIN, maxProcesses, maxRequests: 10_000, processEnv: { PHP_FCGI_MAX_REQUESTS: '10000' } });
}

/**
 * A private Apache (event MPM, workers and CGIs as www-data) serving
 * `docroot` with `app`.
 *
 * @example
 * ```ts
 * const apache = await startApacheFront('/tmp/x/htdocs', apachePhpCgi());
 * ```
 */
export async function startApacheFront(docroot: string, app: ApacheApp): Promise<Front> {
  // Debian's apache2.conf has Timeout 300; the test harness's 60 s would cut off CGIs queued on one session.
  const extraConfig = `Timeout 300\n${app.global}\n<Directory "${docroot}">\n${app.directory}</Directory>\n`;
  const apache = await startApache({ docroot, extraConfig });
  return { port: apache.port, pid: () => pidIn(join(apache.stateDir, 'httpd.pid')), errorLog: () => apache.errorLog(), stop: () => apache.stop() };
}
