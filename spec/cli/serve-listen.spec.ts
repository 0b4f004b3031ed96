import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/apache.js';
import { cleanEnv } from '../support/http.js';
import { eventually, get, psoServe, psoServeFails, type PsoServe } from '../support/psoServe.js';

const HANDLER = `export function handler(r) { r.sendHttpHeaders('text/plain'); r.write(process.pid + '\\n'); }\n`;

/** A socket file whose server was killed: the file stays, nothing accepts on it. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(statSync(path).isSocket(), 'the killed server left its socket file');
}

describe('pso serve --listen', function () {
  this.timeout(60_000);
  let dir: string;
  let module: string;
  let server: PsoServe | undefined;
  let other: Server | undefined;
  const directives = () => ['-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLazy=on'];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-listen-'));
    module = join(dir, 'pid.mjs');
    writeFileSync(module, HANDLER);
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    other?.close();
    other = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  for (const workers of ['1', '2']) {
    it(`serves on a unix socket with mode 0660 by default, and removes it when it stops (--workers ${workers})`, async () => {
      const sock = join(dir, 'app.sock');
      server = await psoServe([module, '--listen', `unix:${sock}`, '--workers', workers, ...directives()]);
      assert.equal(server.address, `unix:${sock}`);
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      const pids = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const r = await get(server.address);
        assert.equal(r.status, 200);
        pids.add(r.body);
      }
      assert.equal(pids.size, Number(workers));
      const { code } = await server.stop();
      assert.equal(code, 0);
      assert.equal(existsSync(sock), false, 'the socket file is gone');
    });
  }

  it('gives the socket the mode asked for with --socket-mode', async () => {
    const sock = join(dir, 'private.sock');
    server = await psoServe([module, '--listen', `unix:${sock}`, '--socket-mode', '0600', '--workers', '2', ...directives()]);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    assert.equal((await get(server.address)).status, 200);
  });

  for (const workers of ['1', '2']) {
    it(`replaces a stale socket file left by a dead server (--workers ${workers})`, async () => {
      const sock = join(dir, 'stale.sock');
      await staleSocket(sock);
      server = await psoServe([module, '--listen', `unix:${sock}`, '--workers', workers, ...directives()]);
      assert.equal((await get(server.address)).status, 200);
    });

    it(`refuses a socket a live server answers on, with one line and exit 1 (--workers ${workers})`, async () => {
      const sock = join(dir, 'live.sock');
      other = createServer((c) => c.end());
      await new Promise<void>((resolve) => other!.listen(sock, resolve));
      const r = await psoServeFails([module, '--listen', `unix:${sock}`, '--workers', workers, ...directives()]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `pso: cannot listen on unix:${sock}: a server is running on that socket; fix: stop that server first, or choose another path\n`);
      assert.ok(statSync(sock).isSocket(), 'the live server keeps its socket');
      // ...and still answers on it.
      await eventually(() => new Promise<boolean>((resolve) => {
        const c = createConnection(sock).once('connect', () => { c.destroy(); resolve(true); }).once('error', () => resolve(false));
      }), 2000, 'the live server answering');
    });
  }

  it('refuses a path that is not a socket, and leaves the file alone', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'keep me');
    const r = await psoServeFails([module, '--listen', `unix:${file}`, ...directives()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pso: cannot listen on unix:\S+notes\.txt: the path exists and is not a socket; fix: /);
    assert.ok(statSync(file).isFile());
  });

  it('says which directory is missing', async () => {
    const r = await psoServeFails([module, '--listen', `unix:${join(dir, 'no', 'such', 'app.sock')}`, ...directives()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the directory \S+\/no\/such does not exist; fix: create it/);
  });

  it('listens on HOST:PORT', async () => {
    const port = await freePort();
    server = await psoServe([module, '--listen', `127.0.0.1:${port}`, '--workers', '2', ...directives()]);
    assert.equal(server.address, `http://127.0.0.1:${port}/`);
    assert.equal((await get(server.address)).status, 200);
  });

  it('says so in one line when the port is taken (exit 1)', async () => {
    other = createServer();
    await new Promise<void>((resolve) => other!.listen(0, '127.0.0.1', resolve));
    const port = (other.address() as { port: number }).port;
    for (const workers of ['1', '2']) {
      const r = await psoServeFails([module, '--port', String(port), '--workers', workers, ...directives()]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `pso: cannot listen on 127.0.0.1:${port}: the address is in use; fix: stop what listens there, or choose another --port or --listen\n`);
    }
  });

  it('refuses a command line it cannot use, with the usage and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--listen', '127.0.0.1:1', '--port', '2'], /give either --listen or --port\/--host, not both/],
      [['--listen', 'example:port'], /--listen needs unix:\/path\/to.sock, HOST:PORT or PORT/],
      [['--socket-mode', '0660'], /--socket-mode is for a unix socket/],
      [['--listen', 'unix:/tmp/x.sock', '--socket-mode', '0999'], /--socket-mode needs permissions in octal/],
      [['--workers', '0'], /--workers needs a number of processes \(1 or more\) or auto/],
      [['--grace', '-1'], /--grace needs seconds/],
    ];
    for (const [args, message] of cases) {
      const r = await psoServeFails([module, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /usage: pso <command>/);
    }
  });

  it('--workers auto starts one worker per CPU', async () => {
    server = await psoServe([module, '--port', '0', '--workers', 'auto', ...directives()]);
    const cpus = availableParallelism();
    assert.match(server.stdout(), new RegExp(cpus === 1 ? 'serving' : `with ${cpus} workers`));
  });
});
