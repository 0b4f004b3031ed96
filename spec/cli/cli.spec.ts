import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeRecord } from '../../src/index.js';
import { CLI, ROOT, cleanEnv, runCgi, runProcess, startServer } from '../support/http.js';

const pso = (args: string[], env: Record<string, string> = {}) => runProcess(process.execPath, [CLI, ...args], cleanEnv(env));

describe('pso (command line)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-cli-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('help lists the commands', async () => {
    const r = await pso(['help']);
    assert.equal(r.code, 0);
    for (const c of ['serve', 'bundle', 'gc']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  });

  it('an unknown command exits 2 and says so', async () => {
    const r = await pso(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pso: unknown command frobnicate/);
  });

  describe('bundle', () => {
    it('writes a one-file executable CGI that runs without node_modules', async function () {
      this.timeout(60_000);
      const out = join(dir, 'quick.cgi');
      const r = await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      // A shell script that execs node (found on PATH, as `#!/usr/bin/env node` would find it).
      const lines = readFileSync(out, 'utf8').split('\n');
      assert.equal(lines[0], '#!/bin/sh');
      assert.match(lines[1]!, /^':' \/\/; exec node -e '/);
      assert.equal(statSync(out).mode & 0o777, 0o755);
      // Executed directly, as a web server would, from a directory with no node_modules.
      const sessions = join(dir, 's');
      const first = await runCgi(out, { PSOSessionFileLoader_Path: sessions });
      assert.equal(first.body, 'Hello World!  ~ You reloaded: 1 times ~ Try Reload !\n', first.stderr);
      const cookie = first.header('set-cookie')!.split(';')[0]!;
      assert.match(cookie, /^quick=[A-Za-z0-9_-]{27}$/);
      const second = await runCgi(out, { PSOSessionFileLoader_Path: sessions, HTTP_COOKIE: cookie });
      assert.equal(second.body, 'Hello World!  ~ You reloaded: 2 times ~ Try Reload !\n');
      // Given to node as a script (runCgi runs a .js file with node), it runs the same.
      const asScript = join(dir, 'quick.js');
      copyFileSync(out, asScript);
      const viaNode = await runCgi(asScript, { PSOSessionFileLoader_Path: sessions, HTTP_COOKIE: cookie });
      assert.equal(viaNode.body, 'Hello World!  ~ You reloaded: 3 times ~ Try Reload !\n', viaNode.stderr);
      // A returning visitor's request loads no node:crypto (some 8 ms of a CGI process's start).
      const probe = join(dir, 'modules.cjs');
      writeFileSync(probe, "process.on('exit', () => process.stderr.write(`crypto loaded: ${process.moduleLoadList.includes('NativeModule crypto')}\\n`));\n");
      const third = await runCgi(out, { PSOSessionFileLoader_Path: sessions, HTTP_COOKIE: cookie, NODE_OPTIONS: `--require ${probe}` });
      assert.equal(third.body, 'Hello World!  ~ You reloaded: 4 times ~ Try Reload !\n');
      assert.match(third.stderr, /^crypto loaded: false$/m);
    });

    it('embeds a code cache node accepts, made without calling the handler', async function () {
      this.timeout(60_000);
      const marker = join(dir, 'called');
      const entry = join(dir, 'marker.mjs');
      writeFileSync(entry, `import { appendFileSync } from 'node:fs';
import { ServiceHandler, isMain } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
export function handler(r) { appendFileSync(${JSON.stringify(marker)}, 'x'); r.write('called'); }
if (isMain(import.meta.url)) new ServiceHandler().run(handler);
`);
      const out = join(dir, 'marker.cgi');
      const r = await pso(['bundle', entry, '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /with a \d+-byte code cache/);
      assert.equal(existsSync(marker), false, 'the handler did not run at bundle time');
      // The script compiles the bundle with the cache, and node takes it.
      const probe = join(dir, 'cache.cjs');
      writeFileSync(probe, `const vm = require('vm');
vm.Script = class extends vm.Script {
  constructor(code, options) { super(code, options); if (options && options.cachedData) process.stderr.write('cache rejected: ' + this.cachedDataRejected + '\\n'); }
};
`);
      const probed = await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's'), NODE_OPTIONS: `--require ${probe}` });
      assert.equal(probed.body, 'called');
      assert.match(probed.stderr, /^cache rejected: false$/m);
      assert.equal(readFileSync(marker, 'utf8'), 'x');
      const run = await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's') });
      assert.equal(run.body, 'called');
      assert.equal(readFileSync(marker, 'utf8'), 'xx');
    });

    it('carries a bundle holding comment ends and control characters unchanged', async function () {
      this.timeout(60_000);
      const entry = join(dir, 'odd.mjs');
      // The bundle sits in a comment at the end of the script: its own "*/" must not end it.
      writeFileSync(entry, `import { ServiceHandler, isMain } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
const odd = ['/* a */', '*/', '*\\x01/', '*\\x02/', '\\x03*/\\x04'];
export function handler(r) { r.sendHttpHeaders('text/plain'); r.write(JSON.stringify(odd) + String(/a*\\//.test('a/'))); }
if (isMain(import.meta.url)) new ServiceHandler().run(handler);
`);
      const out = join(dir, 'odd.cgi');
      assert.equal((await pso(['bundle', entry, '-o', out, '--no-minify'])).code, 0);
      const r = await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's') });
      assert.equal(r.body, JSON.stringify(['/* a */', '*/', '*\x01/', '*\x02/', '\x03*/\x04']) + 'true', r.stderr);
    });

    it('--shebang names the node to run; anything but a path and plain options is refused', async function () {
      this.timeout(60_000);
      const entry = join(dir, 'argv.mjs');
      // What a child the handler forks would inherit: the node options, not the loader.
      writeFileSync(entry, `import { ServiceHandler, isMain } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
export function handler(r) { r.sendHttpHeaders('text/plain'); r.write(JSON.stringify(process.execArgv)); }
if (isMain(import.meta.url)) new ServiceHandler().run(handler);
`);
      const out = join(dir, 'named-node.cgi');
      assert.equal((await pso(['bundle', entry, '-o', out, '--no-code-cache', '--shebang', `#!${process.execPath} --max-old-space-size=64`])).code, 0);
      assert.ok(readFileSync(out, 'utf8').split('\n')[1]!.startsWith(`':' //; exec ${process.execPath} --max-old-space-size=64 -e '`));
      assert.equal((await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's') })).body, '["--max-old-space-size=64"]');
      // env's -S (to pass options through a shebang) is env's, not node's.
      const viaEnv = join(dir, 'env-node.cgi');
      assert.equal((await pso(['bundle', entry, '-o', viaEnv, '--no-code-cache', '--shebang', '#!/usr/bin/env -S node --max-old-space-size=64'])).code, 0);
      assert.ok(readFileSync(viaEnv, 'utf8').split('\n')[1]!.startsWith(`':' //; exec node --max-old-space-size=64 -e '`));
      assert.equal((await runCgi(viaEnv, { PSOSessionFileLoader_Path: join(dir, 's') })).body, '["--max-old-space-size=64"]');
      const bad = await pso(['bundle', join(ROOT, 'samples/test.ts'), '-o', join(dir, 'bad.cgi'), '--shebang', '#!/usr/bin/env node; touch /tmp/x']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /only a path and plain options/);
      const bare = await pso(['bundle', join(ROOT, 'samples/test.ts'), '-o', join(dir, 'bare.cgi'), '--shebang', '#!/usr/bin/env']);
      assert.equal(bare.code, 2);
      assert.match(bare.stderr, /no interpreter after env/);
    });

    it('with --no-code-cache writes a plain bundle that runs', async function () {
      this.timeout(60_000);
      const out = join(dir, 'plain.cgi');
      const r = await pso(['bundle', join(ROOT, 'samples/test.ts'), '-o', out, '--no-code-cache']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /code cache/);
      assert.equal((await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's') })).body, 'hello world\n');
    });

    it('starts the quick sample without wrapping pso and inversify for lazy start-up (no on-demand import reaches them)', async function () {
      this.timeout(60_000);
      const out = join(dir, 'eager.cgi');
      assert.equal((await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', out, '--no-code-cache', '--no-minify'])).code, 0);
      const text = readFileSync(out, 'utf8');
      // esbuild wraps modules for lazy start-up around an on-demand import(); serve.ts's import() of
      // listenHttp.ts, which imports serve.ts, made it wrap all 351, and a CGI paid about 1.5 ms.
      const wrapped = [...text.matchAll(/var init_(\w+) = __esm\(/g)].map((m) => m[1]!);
      assert.ok(wrapped.length > 0, 'the bundle still has its on-demand parts (multipart forms)');
      assert.ok(!wrapped.includes('ServiceCore') && !wrapped.includes('Container') && wrapped.length < 40, `wrapped for lazy start-up: ${wrapped.length}: ${wrapped.join(' ')}`);
      assert.equal((await runCgi(out, { PSOSessionFileLoader_Path: join(dir, 's') })).status, 200);
    });

    it('leaves the database stores out unless named, and says so when one is asked for', async function () {
      this.timeout(60_000);
      const out = join(dir, 'lean.cgi');
      assert.equal((await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', out, '--no-code-cache'])).code, 0);
      assert.doesNotMatch(readFileSync(out, 'utf8'), /pg_advisory_lock|GET_LOCK/);
      const r = await runCgi(out, { PSOSessionStore: 'redis://127.0.0.1:1/0' });
      assert.equal(r.status, 500);
      assert.match(r.stderr, /bundled without the redis store: bundle it with pso bundle --store redis/);
      const withStore = join(dir, 'pg.cgi');
      assert.equal((await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', withStore, '--no-code-cache', '--store', 'postgres'])).code, 0);
      assert.match(readFileSync(withStore, 'utf8'), /pg_advisory_lock/);
      const bad = await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', join(dir, 'x.cgi'), '--store', 'oracle']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /unknown store "oracle"/);
    });

    it('carries the JavaScript drivers of the stores named, and leaves the native one to node_modules', async function () {
      this.timeout(60_000);
      const out = join(dir, 'all-stores.cgi');
      const r = await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', out, '--no-code-cache', '--store', 'redis,postgres,mysql,sqlite']);
      assert.equal(r.code, 0, r.stderr);
      const text = readFileSync(out, 'utf8');
      const requires = (m: string) => text.includes(`require(${JSON.stringify(m)})`);
      assert.ok(requires('better-sqlite3'), 'better-sqlite3 is required from node_modules');
      for (const driver of ['redis', '@redis/client', 'pg', 'mysql2', 'mysql2/promise']) assert.ok(!requires(driver), `${driver} is bundled, not required at run time`);
    });

    it('looks for native drivers in no path of the build machine unless --node-modules names one', async function () {
      this.timeout(90_000);
      const plain = join(dir, 'plain', 'quick.cgi');
      const r = await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', plain, '--no-code-cache', '--store', 'sqlite']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /loads better-sqlite3 at run time from a node_modules beside or above .*--node-modules DIR/);
      assert.ok(!readFileSync(plain, 'utf8').includes(ROOT), 'the build path is not in the bundle');
      const db = join(dir, 'db', 'sessions.db');
      // Run where no node_modules is beside or above it: the driver is not found, and the log says so.
      const missing = await runCgi(plain, { PSOSessionStore: `sqlite://${db}` });
      assert.equal(missing.status, 500);
      assert.match(missing.stderr, /the sqlite store needs its database driver, which cannot be loaded/);

      const named = join(dir, 'named', 'quick.cgi');
      const n = await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', named, '--no-code-cache', '--store', 'sqlite', '--node-modules', join(ROOT, 'node_modules')]);
      assert.equal(n.code, 0, n.stderr);
      const found = await runCgi(named, { PSOSessionStore: `sqlite://${db}` });
      assert.equal(found.status, 200, found.stderr);
      assert.match(found.body, /reloaded: 1 times/);
      assert.equal((await pso(['bundle', join(ROOT, 'samples/quick.ts'), '-o', named, '--node-modules', join(dir, 'nowhere')])).code, 2);
    });

    it('without -o exits 2 with the usage', async () => {
      const r = await pso(['bundle', 'samples/quick.ts']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /usage: pso bundle <handler.ts> -o <file.cgi>/);
    });
  });

  describe('serve', () => {
    it('refuses a module without a handler, naming the module', async () => {
      const mod = join(dir, 'nohandler.mjs');
      writeFileSync(mod, 'export const x = 1;\n');
      const r = await pso(['serve', mod, '--port', '0']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^pso: cannot load \S+nohandler\.mjs: it exports no handler; fix: export a function named "handler"/);
    });

    it('refuses a bad port', async () => {
      const r = await pso(['serve', 'x.js', '--port', 'abc']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--port needs a number/);
    });
  });

  describe('gc', () => {
    it('deletes expired session files and keeps live ones', async () => {
      const now = Date.now();
      const live = join(dir, 'pso_svc_AAAAAAAAAAAAAAAAAAAAAAAAAAA.json');
      const dead = join(dir, 'pso_svc_BBBBBBBBBBBBBBBBBBBBBBBBBBB.json');
      writeFileSync(live, serializeRecord({ data: {}, created: now, expires: now + 60_000 }));
      writeFileSync(dead, serializeRecord({ data: {}, created: now - 120_000, expires: now - 60_000 }));
      const r = await pso(['gc', '--path', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /removed 1 expired file/);
      assert.ok(existsSync(live));
      assert.ok(!existsSync(dead));
    });
  });
});

describe('pso serve (directives)', () => {
  it('lets the environment override a module\'s default directives, as SetEnv does under CGI', async function () {
    this.timeout(20_000);
    const server = await startServer(join(ROOT, 'dist/samples/cookieattrs.js'), [], { PSOCookieSession_SameSite: 'Lax', PSOSessionFileLoader_Path: join(tmpdir(), `pso-cli-env-${process.pid}`) });
    try {
      const cookie = (await fetch(server.url)).headers.getSetCookie()[0]!;
      assert.match(cookie, /SameSite=Lax/);
      assert.match(cookie, /Priority=High/, 'the other defaults stay');
    } finally {
      await server.stop();
      rmSync(join(tmpdir(), `pso-cli-env-${process.pid}`), { recursive: true, force: true });
    }
  });
});

describe('pso store', () => {
  it('counts and collects a store named by URL, and refuses a bad command line', async () => {
    const count = await pso(['store', 'count', 'memory:']);
    assert.equal(count.code, 0, count.stderr);
    assert.equal(count.stdout, '0\n');
    const gc = await pso(['store', 'gc', 'memory:']);
    assert.match(gc.stdout, /removed 0 expired session\(s\) from memory:/);
    const bad = await pso(['store', 'drop', 'memory:']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage: pso store init\|gc\|count <store URL>/);
    const file = await pso(['store', 'init', 'file:///tmp/x/']);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /is the file store: use pso gc --path <dir>/);
  });
});
