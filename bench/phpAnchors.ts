// The PHP side of the promotion benchmark: PHP 8.2 from Debian serving the
// same counter page as samples/quick.ts with its default session handler
// (files, flock'ed for the whole request), as php-fpm (own pool file, run in
// the foreground) and as php-cgi (Debian's Apache recipe, and mod_fcgid).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { DebianPackage } from './debianPackages.js';

export const PHP_FPM_BIN = '/usr/sbin/php-fpm8.2';
export const PHP_CGI_BIN = '/usr/bin/php-cgi8.2';
/** Debian's php-cgi for Apache's `Action` (the same program as PHP_CGI_BIN). */
export const PHP_CGI_ACTION_BIN = '/usr/lib/cgi-bin/php8.2';
export const FCGID_MODULE = '/usr/lib/apache2/modules/mod_fcgid.so';

export const PHP_PACKAGES: readonly DebianPackage[] = [
  { file: PHP_FPM_BIN, name: 'php8.2-fpm' },
  { file: PHP_CGI_BIN, name: 'php8.2-cgi' },
  { file: PHP_CGI_ACTION_BIN, name: 'php8.2-cgi' },
];
export const FCGID_PACKAGE: DebianPackage = { file: FCGID_MODULE, name: 'libapache2-mod-fcgid' };

/** samples/quick.ts in PHP, word for word the same answer. */
export const COUNTER_PHP =
  "<?php session_start(); $_SESSION['reloads'] = ($_SESSION['reloads'] ?? 0) + 1; " +
  'echo "Hello World!  ~ You reloaded: {$_SESSION[\'reloads\']} times ~ Try Reload !\\n";\n';

/** The count in the counter page's answer (PHP's and pso's alike); NaN without one. */
export function reloadsIn(body: string): number {
  const m = /You reloaded: (\d+) times/.exec(body);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Writes counter.php into `docroot`, and a `.user.ini` that puts php-cgi's
 * sessions in `sessions` (php-cgi reads `.user.ini` files beside the script,
 * as it does under any CGI or FastCGI server; php-fpm gets the path from its
 * pool instead).
 */
export function writePhpSite(docroot: string, sessions: string): void {
  writeFileSync(join(docroot, 'counter.php'), COUNTER_PHP, { mode: 0o644 });
  writeFileSync(join(docroot, '.user.ini'), `session.save_path = "${sessions}"\n`, { mode: 0o644 });
}

/** A running php-fpm. */
export interface PhpFpm {
  /** Its unix socket (mode 0666, so that any web server's workers may connect). */
  socket: string;
  /** The master's process id (its children are the pool). */
  pid: number;
  /** php-fpm's log so far. */
  log(): string;
  stop(): Promise<void>;
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts php-fpm in the foreground (`-F`) with its own configuration in
 * `dir`: one static pool of `children` workers as www-data on a unix socket
 * in `dir`, sessions in `sessions` (which www-data must own). Debian's
 * php.ini for fpm applies otherwise (opcache on).
 *
 * @example
 * ```ts
 * const fpm = await startPhpFpm({ dir: '/tmp/x', children: 4, sessions: '/tmp/x/sessions' });
 * // fastcgi_pass unix:${fpm.socket};
 * await fpm.stop();
 * ```
 */
export async function startPhpFpm(o: { dir: string; children: number; sessions: string; user?: string }): Promise<PhpFpm> {
  const user = o.user ?? 'www-data';
  const socket = join(o.dir, 'php-fpm.sock');
  const logFile = join(o.dir, 'php-fpm.log');
  const conf = join(o.dir, 'php-fpm.conf');
  writeFileSync(
    conf,
    `[global]
pid = ${join(o.dir, 'php-fpm.pid')}
error_log = ${logFile}
daemonize = no

[counter]
user = ${user}
group = ${user}
listen = ${socket}
listen.mode = 0666
pm = static
pm.max_children = ${o.children}
php_admin_value[session.save_path] = ${o.sessions}
`,
  );
  const child = spawn(PHP_FPM_BIN, ['-F', '-y', conf], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  child.once('error', (e) => {
    stderr += e.message;
    exitCode = -1;
  });
  const log = () => `${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}${stderr}`;
  const stop = async () => {
    if (exitCode !== undefined) return;
    // SIGQUIT: graceful, the workers finish their request.
    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 15_000;
  while (exitCode === undefined && Date.now() < deadline) {
    if (await socketAccepts(socket)) return { socket, pid: child.pid!, log, stop };
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`php-fpm did not come up on ${socket}: ${log().trim() || `exit code ${exitCode}`}`);
}
