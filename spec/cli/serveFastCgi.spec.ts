import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FastCgiClient, cgiParams, request } from '../support/fastcgiClient.js';
import { CLI, cleanEnv, runProcess } from '../support/http.js';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../support/fastcgiHandler.js', import.meta.url));

describe('pso serve --fastcgi', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-cli-fcgi-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts the command and resolves with the address it prints. */
  function start(args: string[]) {
    const child = spawn(process.execPath, [CLI, 'serve', FIXTURE, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const address = new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d) => {
        out += d;
        const m = /over FastCGI on (\S+)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    return { child, address, exited, output: () => out };
  }

  it('serves FastCGI on a unix socket of the mode asked for, -D directives under the params, and on SIGTERM exits 0 and removes the socket', async () => {
    const socket = join(dir, 'pso.sock');
    const run = start(['--fastcgi', `unix:${socket}`, '--socket-mode', '660', '-D', 'PSOServiceId=fromCommandLine', '-D', `PSOSessionFileLoader_Path=${join(dir, 's')}`]);
    try {
      assert.equal(await run.address, `unix:${socket}`);
      assert.equal(statSync(socket).mode & 0o777, 0o660);
      const ask = async (extra: Record<string, string>) => {
        const c = new FastCgiClient(socket);
        await c.send(request(1, cgiParams('GET', '/count', extra), '', { keep: false }));
        const a = await c.answer(1);
        c.close();
        return a.headers.find(([k]) => k === 'Set-Cookie')![1];
      };
      assert.match(await ask({}), /^fromCommandLine=/);
      assert.match(await ask({ PSOServiceId: 'fromParams' }), /^fromParams=/);
    } finally {
      run.child.kill('SIGTERM');
    }
    assert.equal(await run.exited, 0, run.output());
    assert.equal(existsSync(socket), false);
  });

  it('serves on HOST:PORT, the port picked for 0', async () => {
    const run = start(['--fastcgi', '127.0.0.1:0', '-D', `PSOSessionFileLoader_Path=${join(dir, 's')}`]);
    try {
      const address = await run.address;
      const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(address)![1]);
      const c = new FastCgiClient(port);
      await c.send(request(1, cgiParams('GET', '/count'), '', { keep: false }));
      assert.equal((await c.answer(1)).status, 200);
      c.close();
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  it('refuses a socket mode that is not octal, a missing address, --port with --fastcgi and --socket-mode without a unix socket, exiting 2', async () => {
    for (const [args, message] of [
      [['--fastcgi', `unix:${join(dir, 'x.sock')}`, '--socket-mode', 'rw'], /--socket-mode needs permissions in octal/],
      [['--fastcgi'], /--fastcgi needs an address/],
      [['--fastcgi', '127.0.0.1:0', '--port', '8080'], /--port and --host are for HTTP/],
      [['--socket-mode', '660'], /--socket-mode is for a unix socket: use it with --listen \(or --fastcgi\) unix:/],
      [['--fastcgi', 'nowhere:port'], /--fastcgi needs unix:\/path\/to\.sock, HOST:PORT or PORT/],
    ] as const) {
      const r = await runProcess(process.execPath, [CLI, 'serve', FIXTURE, ...args], cleanEnv());
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
