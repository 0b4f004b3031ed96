// Debian packages a benchmark needs (php-fpm, php-cgi, mod_fcgid), installed
// with apt-get when they are missing and this process is root; otherwise the
// reason it cannot, for the benchmark to print beside what it skips.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

/** A file that a Debian package provides, and that package. */
export interface DebianPackage {
  /** The file whose presence means the package is installed. */
  file: string;
  /** The package to install when the file is missing. */
  name: string;
}

/** What {@link ensureDebianPackages} found or did. */
export interface PackagesState {
  /** Packages installed by this call. */
  installed: string[];
  /** Packages still missing, with the reason each could not be installed. */
  missing: { name: string; reason: string }[];
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function aptGet(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  return { ok: r.status === 0, output: `${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/**
 * Installs the packages whose file is missing (`apt-get install
 * --no-install-recommends`, after `apt-get update` when the first attempt
 * fails). Package scripts are kept from starting their services (php-fpm's
 * pool on /run/php, Apache on port 80) by a temporary policy-rc.d, as the
 * test suite's setup does: the benchmark runs its own instances.
 *
 * @example
 * ```ts
 * const { installed, missing } = ensureDebianPackages([{ file: '/usr/sbin/php-fpm8.2', name: 'php8.2-fpm' }]);
 * for (const m of missing) console.log(`${m.name}: ${m.reason}`);
 * ```
 */
export function ensureDebianPackages(packages: readonly DebianPackage[], log: (line: string) => void = () => {}): PackagesState {
  const absent = [...new Set(packages.filter((p) => !existsSync(p.file)).map((p) => p.name))];
  if (!absent.length) return { installed: [], missing: [] };
  const fail = (reason: string): PackagesState => ({ installed: [], missing: absent.map((name) => ({ name, reason })) });
  if (!isRoot) return fail(`not installed, and installing it needs root (apt-get install ${absent.join(' ')})`);
  if (spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) return fail('not installed, and apt-get is not available');
  const policy = '/usr/sbin/policy-rc.d';
  const madePolicy = !existsSync(policy);
  if (madePolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    log(`installing ${absent.join(' ')} with apt-get ...`);
    const install = ['install', '-y', '-q', '--no-install-recommends', ...absent];
    let r = aptGet(install);
    if (!r.ok) {
      const update = aptGet(['update', '-q']);
      r = update.ok ? aptGet(install) : update;
    }
    const installed = absent.filter((name) => packages.filter((p) => p.name === name).every((p) => existsSync(p.file)));
    const lastLine = r.output.split('\n').filter(Boolean).pop() ?? 'no output';
    return {
      installed,
      missing: absent.filter((n) => !installed.includes(n)).map((name) => ({ name, reason: `apt-get install ${name} failed: ${lastLine}` })),
    };
  } finally {
    if (madePolicy) rmSync(policy, { force: true });
  }
}
