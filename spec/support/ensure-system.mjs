// What the integration suites need from the machine, brought up when possible:
// Apache httpd (Debian apache2, with libapache2-mod-fcgid for the FastCGI
// suites) and nginx with fcgiwrap for the CGI suites,
// Chromium (Debian chromium) for the browser suite. When something cannot be had, the suites that need it
// are skipped and this says which and why.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function aptInstall(pkgs) {
  // Keep package scripts from starting system services on their default ports.
  const policy = '/usr/sbin/policy-rc.d';
  const madePolicy = !existsSync(policy);
  if (madePolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
    // A package install cut off earlier (a machine stopped mid-install) leaves dpkg
    // "interrupted", and apt-get refuses everything until it is finished.
    const audit = spawnSync('dpkg', ['--audit'], { encoding: 'utf8' });
    if (audit.status === 0 && audit.stdout.trim() !== '') spawnSync('dpkg', ['--configure', '-a'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    return run(['install', '-y', '-q', '--no-install-recommends', ...pkgs]) ||
      (run(['update', '-q']) && run(['install', '-y', '-q', '--no-install-recommends', ...pkgs]));
  } finally {
    if (madePolicy) rmSync(policy, { force: true });
  }
}

/**
 * The database services the store suites use, on this machine's loopback
 * ports, and how to start each when it is down (as the machine starts them).
 */
export const SERVICES = [
  {
    suite: 'PostgreSQL store suites', skipVar: 'PSO_POSTGRES_SKIP', port: 5432,
    start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start',
    prepare: "psql -h 127.0.0.1 -U postgres -tc \"select 1 from pg_database where datname='test'\" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c 'create database test'",
  },
  {
    suite: 'MySQL store suites', skipVar: 'PSO_MYSQL_SKIP', port: 3306,
    start: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
    prepare: "mariadb -h 127.0.0.1 -u root -e 'create database if not exists test'",
  },
  {
    suite: 'Redis store suites', skipVar: 'PSO_REDIS_SKIP', port: 6379,
    start: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  },
];

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

/** Starts a stopped service where possible; returns why its suites must be skipped, or nothing. */
export async function ensureService({ port, start, prepare }) {
  if (!(await portOpen(port))) {
    if (!isRoot) return `nothing listens on 127.0.0.1:${port} and starting it needs root`;
    process.stderr.write(`npm test: starting the service for 127.0.0.1:${port}...\n`);
    spawnSync('sh', ['-c', start], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
    for (let i = 0; i < 60 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 500));
    if (!(await portOpen(port))) return `nothing listens on 127.0.0.1:${port}, and "${start}" did not start it`;
  }
  if (prepare) {
    const r = spawnSync('sh', ['-c', prepare], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) return `preparing it failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  }
  return undefined;
}

export async function ensureSystem() {
  const skipped = [];
  if (!existsSync('/usr/sbin/apache2')) {
    if (process.env.PSO_TEST_NO_INSTALL) {
      skipped.push('Apache CGI suites: apache2 is not installed (PSO_TEST_NO_INSTALL is set)');
    } else if (!isRoot) {
      skipped.push('Apache CGI suites: apache2 is not installed and installing it needs root (apt-get install apache2)');
    } else if (!have('apt-get')) {
      skipped.push('Apache CGI suites: apache2 is not installed and apt-get is not available');
    } else {
      process.stderr.write('npm test: installing apache2 for the CGI suites...\n');
      if (!aptInstall(['apache2'])) skipped.push('Apache CGI suites: apt-get install apache2 failed');
    }
  }
  if (existsSync('/usr/sbin/apache2') && !isRoot) {
    skipped.push('Apache CGI suites: running a private Apache that switches to www-data needs root');
  }
  // mod_fcgid (Debian libapache2-mod-fcgid) for the FastCGI suites under Apache; proxy_fcgi ships with apache2.
  const fcgid = '/usr/lib/apache2/modules/mod_fcgid.so';
  if (existsSync('/usr/sbin/apache2') && !existsSync(fcgid)) {
    if (process.env.PSO_TEST_NO_INSTALL) {
      skipped.push('mod_fcgid suites: libapache2-mod-fcgid is not installed (PSO_TEST_NO_INSTALL is set)');
    } else if (!isRoot) {
      skipped.push('mod_fcgid suites: libapache2-mod-fcgid is not installed and installing it needs root (apt-get install libapache2-mod-fcgid)');
    } else if (!have('apt-get')) {
      skipped.push('mod_fcgid suites: libapache2-mod-fcgid is not installed and apt-get is not available');
    } else {
      process.stderr.write('npm test: installing libapache2-mod-fcgid for the mod_fcgid suites...\n');
      if (!aptInstall(['libapache2-mod-fcgid'])) skipped.push('mod_fcgid suites: apt-get install libapache2-mod-fcgid failed');
    }
  }
  // nginx and fcgiwrap for the nginx CGI suites; both are needed, so both are asked for at once.
  const nginxBins = { nginx: '/usr/sbin/nginx', fcgiwrap: '/usr/sbin/fcgiwrap' };
  const missing = Object.keys(nginxBins).filter((pkg) => !existsSync(nginxBins[pkg]));
  if (missing.length) {
    const names = missing.join(' and ');
    if (process.env.PSO_TEST_NO_INSTALL) {
      skipped.push(`nginx CGI suites: ${names} not installed (PSO_TEST_NO_INSTALL is set)`);
    } else if (!isRoot) {
      skipped.push(`nginx CGI suites: ${names} not installed and installing needs root (apt-get install ${missing.join(' ')})`);
    } else if (!have('apt-get')) {
      skipped.push(`nginx CGI suites: ${names} not installed and apt-get is not available`);
    } else {
      process.stderr.write(`npm test: installing ${names} for the nginx CGI suites...\n`);
      if (!aptInstall(missing)) skipped.push(`nginx CGI suites: apt-get install ${missing.join(' ')} failed`);
    }
  }
  if (Object.values(nginxBins).every((b) => existsSync(b)) && !isRoot) {
    skipped.push('nginx CGI suites: a private nginx whose workers and CGIs run as www-data needs root');
  }
  const chromium = '/usr/bin/chromium';
  if (!existsSync(chromium)) {
    if (process.env.PSO_TEST_NO_INSTALL) {
      skipped.push('Browser suite: chromium is not installed (PSO_TEST_NO_INSTALL is set)');
    } else if (!isRoot) {
      skipped.push('Browser suite: chromium is not installed and installing it needs root (apt-get install chromium)');
    } else if (!have('apt-get')) {
      skipped.push('Browser suite: chromium is not installed and apt-get is not available');
    } else {
      process.stderr.write('npm test: installing chromium for the browser suite...\n');
      if (!aptInstall(['chromium'])) skipped.push('Browser suite: apt-get install chromium failed');
    }
  }
  if (existsSync(chromium) && !skipped.some((s) => s.startsWith('Browser'))) {
    const r = spawnSync(chromium, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) skipped.push(`Browser suite: ${chromium} --version failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  }
  // setfacl for the test that a session directory writable through an ACL is refused.
  if (!have('setfacl')) {
    if (isRoot && have('apt-get') && !process.env.PSO_TEST_NO_INSTALL) {
      process.stderr.write('npm test: installing acl (setfacl) for the directory ACL test...\n');
      if (!aptInstall(['acl'])) skipped.push('Directory ACL test: apt-get install acl failed');
    } else skipped.push('Directory ACL test: setfacl is not installed (apt-get install acl)');
  }
  for (const service of SERVICES) {
    const problem = await ensureService(service);
    if (problem) skipped.push(`${service.suite}: ${problem}`);
  }
  for (const service of SERVICES) process.env[service.skipVar] = skipped.filter((s) => s.startsWith(service.suite)).join('; ');
  process.env.PSO_APACHE_SKIP = skipped.filter((s) => s.startsWith('Apache')).join('; ');
  process.env.PSO_NGINX_SKIP = skipped.filter((s) => s.startsWith('nginx')).join('; ');
  process.env.PSO_FCGID_SKIP = skipped.filter((s) => s.startsWith('mod_fcgid')).join('; ');
  process.env.PSO_BROWSER_SKIP = skipped.filter((s) => s.startsWith('Browser')).join('; ');
  process.env.PSO_ACL_SKIP = skipped.filter((s) => s.startsWith('Directory ACL')).join('; ');
  for (const s of skipped) process.stderr.write(`npm test: SKIPPING ${s}\n`);
  return skipped;
}

// Allow `node spec/support/ensure-system.mjs` on its own (used by .ci/run).
if (import.meta.url === `file://${process.argv[1]}`) {
  await ensureSystem();
  try { execFileSync('true'); } catch { /* nothing */ }
}
