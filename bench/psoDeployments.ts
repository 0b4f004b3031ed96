// How to start each pso deployment that the promotion benchmark measures
// against PHP: one row per way of running pso behind a web server. A new way
// (a new `pso serve` option, a new script handler) is one more row.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib.js';

/** The pso command of this build, run with the node that runs the benchmark. */
export const PSO_CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** The counter page every pso deployment serves: samples/quick.ts, compiled (for `pso serve`) and as source (for `pso bundle`). */
export const QUICK_MODULE = join(ROOT, 'dist', 'samples', 'quick.js');
export const QUICK_SOURCE = join(ROOT, 'samples', 'quick.ts');

/** Where a `pso serve` process is to listen. */
export interface ServeAddress {
  host: string;
  port: number;
}

/** A pso deployment, as the promotion benchmark starts it. */
export interface PsoDeployment {
  /** The configuration's id in the benchmark's table and `--only`. */
  id: string;
  label: string;
  /** The web server in front. */
  front: 'nginx' | 'apache';
  /** The PHP configuration it is measured against (req/s). */
  anchor: string;
  /**
   * An option that `pso help` must list for this deployment to run; without
   * it the row is skipped as "not available in this build".
   */
  needs?: string;
  /**
   * A `pso serve` process behind the web server: the arguments after the
   * module, and the protocol it then speaks (nginx: proxy_pass for http,
   * fastcgi_pass for fastcgi).
   */
  serve?: {
    protocol: 'http' | 'fastcgi';
    args(address: ServeAddress): string[];
    /**
     * How many such processes, each on its own address, with nginx choosing
     * one by a hash of the session cookie (default 1).
     */
    instances?: number;
  };
  /**
   * Or the `pso bundle` of samples/quick.ts, run by Apache itself: as a CGI
   * (mod_cgid, a process per request) or under mod_fcgid (processes that
   * stay, one request at a time each).
   */
  bundle?: 'cgi' | 'fcgid';
}

/**
 * The pso side of every comparison. `--workers` gets one worker per CPU (a
 * node process uses one CPU; php-fpm's pool, which blocks on each request,
 * gets two per CPU).
 */
export const PSO_DEPLOYMENTS: readonly PsoDeployment[] = [
  {
    id: 'nginx-pso-serve',
    label: 'nginx + pso serve (proxy_pass, 1 process)',
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    serve: { protocol: 'http', args: (a) => ['--host', a.host, '--port', String(a.port)] },
  },
  {
    id: 'nginx-pso-memory',
    label: 'nginx + pso serve, memory store (1 process), extra',
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    // The same process with its sessions in memory: what pso costs without the file store's system calls.
    serve: { protocol: 'http', args: (a) => ['--host', a.host, '--port', String(a.port), '-D', 'PSOSessionStore=memory:'] },
  },
  {
    id: 'nginx-pso-workers',
    label: `nginx + pso serve --workers ${availableParallelism()} (proxy_pass)`,
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    needs: '--workers',
    serve: { protocol: 'http', args: (a) => ['--host', a.host, '--port', String(a.port), '--workers', String(availableParallelism())] },
  },
  {
    id: 'nginx-pso-fastcgi',
    label: 'nginx + pso serve --fastcgi (fastcgi_pass)',
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    needs: '--fastcgi',
    serve: { protocol: 'fastcgi', args: (a) => ['--fastcgi', `${a.host}:${a.port}`] },
  },
  {
    id: 'nginx-pso-fastcgi-workers',
    label: `nginx + pso serve --fastcgi --workers ${availableParallelism()} (fastcgi_pass)`,
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    needs: '--fastcgi',
    serve: { protocol: 'fastcgi', args: (a) => ['--fastcgi', `${a.host}:${a.port}`, '--workers', String(availableParallelism())] },
  },
  {
    id: 'nginx-pso-fastcgi-affinity',
    label: `nginx + ${availableParallelism()} x pso serve --fastcgi, a session to one (hash of its cookie)`,
    front: 'nginx',
    anchor: 'nginx-php-fpm',
    needs: '--fastcgi',
    // One process per CPU, each on its own address; nginx sends every request of a session to the same one
    // (hash $http_cookie consistent), so each process keeps its sessions' locks between requests.
    serve: { protocol: 'fastcgi', args: (a) => ['--fastcgi', `${a.host}:${a.port}`], instances: availableParallelism() },
  },
  {
    id: 'apache-fcgid-pso',
    label: 'Apache + mod_fcgid + pso bundle',
    front: 'apache',
    anchor: 'apache-php-fpm',
    // A bundled script answers FastCGI when mod_fcgid starts it in a build whose pso speaks FastCGI.
    needs: '--fastcgi',
    bundle: 'fcgid',
  },
  {
    id: 'cgi-pso-bundle',
    label: 'Apache CGI + pso bundle',
    front: 'apache',
    anchor: 'cgi-php',
    bundle: 'cgi',
  },
];

let helpText: string | undefined;

/** `pso help` of this build (read once). */
export function psoHelp(): string {
  if (helpText === undefined) {
    const r = spawnSync(process.execPath, [PSO_CLI, 'help'], { encoding: 'utf8', timeout: 30_000 });
    helpText = r.status === 0 ? r.stdout : '';
  }
  return helpText;
}

/**
 * Why `deployment` cannot run with this build, or undefined when it can.
 *
 * @example
 * ```ts
 * const why = unavailable(PSO_DEPLOYMENTS.find((d) => d.id === 'nginx-pso-fastcgi')!);
 * if (why) console.log(`skipped: ${why}`);
 * ```
 */
export function unavailable(deployment: PsoDeployment): string | undefined {
  const help = psoHelp();
  if (!help) return `\`node ${PSO_CLI} help\` failed (is the project built?)`;
  if (deployment.needs && !new RegExp(`(^|\\s|\\[)${deployment.needs.replace(/[-]/g, '\\-')}\\b`, 'm').test(help)) {
    return `not available in this build (\`pso help\` lists no ${deployment.needs})`;
  }
  return undefined;
}
