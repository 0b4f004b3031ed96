// The bundled script under a real Apache httpd with mod_fcgid (Debian
// libapache2-mod-fcgid): the file `pso bundle` writes, renamed .fcgi, runs as
// a persistent FastCGI responder; several of its processes share sessions
// without losing updates; stopping Apache stops them. Beside it, the same
// bundle under mod_cgid stays a CGI script although its standard input is a
// socket too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { APACHE_MODULES, startApache, type ApacheServer } from '../support/apache.js';
import { CookieJar, ROOT } from '../support/http.js';

const DETECTOR = fileURLToPath(new URL('../../src/hosts/fastcgi/stdinListens.js', import.meta.url));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a bundled handler under Apache mod_fcgid', function () {
  this.timeout(120_000);
  let base: string;
  let apache: ApacheServer | undefined;

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP || process.env.PSO_FCGID_SKIP || (existsSync(join(APACHE_MODULES, 'mod_fcgid.so')) ? undefined : 'mod_fcgid is not installed');
    if (reason) {
      console.log(`    skipping: ${reason}`);
      this.skip();
    }
    base = mkdtempSync(join('/tmp', 'pso-fcgid-'));
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    const sessions = join(base, 'sessions');
    mkdirSync(docroot, { mode: 0o755 });
    mkdirSync(sessions, { mode: 0o700 });
    const id = (flag: string) => Number(execFileSync('id', [flag, 'www-data'], { encoding: 'utf8' }).trim());
    chownSync(sessions, id('-u'), id('-g'));
    const bundle = join(base, 'app.bundle');
    await bundleHandler({ entry: join(ROOT, 'spec/support/fastcgiHandler.ts'), outfile: bundle });
    // One file, two names: the same bytes as a FastCGI program and as a CGI script.
    for (const name of ['app.fcgi', 'app.cgi']) {
      copyFileSync(bundle, join(docroot, name));
      chmodSync(join(docroot, name), 0o755);
    }
    copyFileSync(DETECTOR, join(docroot, 'detector.mjs'));
    writeFileSync(join(docroot, 'probe.cgi'), [
      '#!/usr/bin/env node',
      "const { fstatSync } = require('fs');",
      "import('./detector.mjs').then((m) => process.stdout.write('Content-Type: application/json\\r\\n\\r\\n' + JSON.stringify({ socket: fstatSync(0).isSocket(), listens: m.stdinListens(), gateway: process.env.GATEWAY_INTERFACE })));",
      '',
    ].join('\n'), { mode: 0o755 });
    writeFileSync(join(docroot, '.htaccess'), [
      'Options +ExecCGI',
      'AddHandler fcgid-script .fcgi',
      'AddHandler cgi-script .cgi',
      'SetEnv PSOServiceId fcgid',
      `SetEnv PSOSessionFileLoader_Path ${sessions}`,
      'SetEnv PSOSessionGCProbability 0',
      '',
    ].join('\n'), { mode: 0o644 });
    apache = await startApache({ docroot, modules: ['fcgid'], logLevel: 'warn fcgid:info', extraConfig: 'FcgidIOTimeout 60\nFcgidMaxProcessesPerClass 8\n' });
  });

  after(async () => {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  const url = (p: string) => `${apache!.url}${p}`;
  const pidAndCount = async (res: Response) => {
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const [pid, count] = text.split(' ').map(Number);
    return { pid: pid!, count: count! };
  };

  it('one process answers request after request, the session kept', async () => {
    const jar = new CookieJar();
    const seen: { pid: number; count: number }[] = [];
    for (let i = 0; i < 5; i++) seen.push(await pidAndCount(await jar.fetch(url('/app.fcgi/count'))));
    assert.deepEqual(seen.map((s) => s.count), [1, 2, 3, 4, 5]);
    assert.equal(new Set(seen.map((s) => s.pid)).size, 1, `one process: ${seen.map((s) => s.pid).join(' ')}`);
    assert.ok(alive(seen[0]!.pid), 'it stays after answering');
  });

  it('the processes mod_fcgid starts for concurrent requests share a session without losing an update', async () => {
    const jar = new CookieJar();
    await pidAndCount(await jar.fetch(url('/app.fcgi/count')));
    const n = 40;
    const results = await Promise.all(Array.from({ length: n }, () => fetch(url('/app.fcgi/slow?ms=100'), { headers: { cookie: jar.header() } }).then(pidAndCount)))
      .catch((e: Error) => {
        // A request Apache dropped: what mod_fcgid and the processes said about it.
        throw new Error(`${e.message} (${(e.cause as Error | undefined)?.message ?? 'no cause'}); Apache's error log:\n${apache!.errorLog().slice(-4000)}`);
      });
    const counts = results.map((r) => r.count).sort((a, b) => a - b);
    assert.deepEqual(counts, Array.from({ length: n }, (_, i) => i + 2), 'every increment kept, none twice');
    const pids = new Set(results.map((r) => r.pid));
    assert.ok(pids.size >= 2, `more than one process answered (${[...pids].join(' ')})`);
  });

  it('the same file under mod_cgid is a CGI script: its standard input is a socket, but not a listening one', async () => {
    const probe = await fetch(url('/probe.cgi'));
    assert.equal(probe.status, 200);
    assert.deepEqual(await probe.json(), { socket: true, listens: false, gateway: 'CGI/1.1' });
    const jar = new CookieJar();
    const cgi = await jar.fetch(url('/app.cgi/count'));
    const { pid, count } = await pidAndCount(cgi);
    assert.equal(count, 1);
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid), false, 'the CGI process has exited');
  });

  it('stopping Apache stops its FastCGI processes', async () => {
    const { pid } = await pidAndCount(await fetch(url('/app.fcgi/count')));
    assert.ok(alive(pid));
    await apache!.stop();
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid), false);
    // mod_fcgid sends SIGTERM, then SIGKILL to what is left a moment later, and logs how each ended.
    const log = apache!.errorLog();
    assert.match(log, new RegExp(`app\\.fcgi\\(${pid}\\) exit\\(shutting down\\), terminated by calling exit\\(\\), return code: 0`), log);
    assert.doesNotMatch(log, /still did not exit|get stop signal 9/, `every process left on SIGTERM; Apache's error log:\n${log.slice(-4000)}`);
  });
});
