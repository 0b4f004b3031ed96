// Slow and stalled clients against a real `pso serve`, over raw sockets:
// slowloris headers, a body that trickles, a client that stops reading its
// answer, and a web server that stops reading over FastCGI. Each is cut off
// within its timeout (the bounds asserted are generous: they prove "bounded",
// not how fast), holds the session's lock while it is slow never (or, for a
// handler that streams with the session open, for the send timeout at most),
// and other clients of the same session are answered all along.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FastCgiClient, cgiParams, request as fcgiRequest } from '../support/fastcgiClient.js';
import { get, psoServe, psoServeFails, sleep, type PsoServe } from '../support/psoServe.js';

const MB = 1024 * 1024;

// GET /       increments n and answers it     GET /peek   answers n
// GET /big    increments n, then writes 32 MB (more than the connection's buffers hold)
// GET /stream increments n, then writes 32 MB awaiting each flush(): the session stays open meanwhile
// GET /one    writes 24 MB in one piece (one write, which the system takes for a long while)
// POST /echo  reads the body (a form or not), increments n, answers its length
const HANDLER = `
const chunk = Buffer.alloc(${MB}, 'x');
const one = Buffer.alloc(${24 * MB}, 'y');
export async function handler(r) {
  r.sendHttpHeaders('text/plain');
  if (r.path === '/one') return void r.write(one);
  if (r.path === '/peek') return void r.write(String(r.session.get('n', 0)));
  const n = r.session.increment('n');
  if (r.path === '/big') { for (let i = 0; i < 32; i++) r.write(chunk); return; }
  if (r.path === '/stream') { for (let i = 0; i < 32; i++) { r.write(chunk); await r.flush(); } return; }
  if (r.path === '/echo') {
    const length = r.getRequestHeader('content-type')?.startsWith('application/x-www-form-urlencoded') ? (r.getInput('a') ?? '').length : (await r.body()).byteLength;
    return void r.write(String(length));
  }
  r.write(String(n));
}
`;

/** A raw connection to `pso serve`, keeping what comes back and when it closed. */
class Raw {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  closedAt: number | undefined;
  readonly closed: Promise<void>;
  constructor(port: number, options: { read: boolean }) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.socket.on('error', () => {});
    if (options.read) this.socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    else this.socket.pause();
    this.closed = new Promise((resolve) => this.socket.once('close', () => {
      this.closedAt = Date.now();
      resolve();
    }));
  }
  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }
  /** Writes `text` a byte at a time, `everyMs` apart, until it is all sent or the connection is gone. */
  async trickle(text: string, everyMs: number): Promise<void> {
    for (const byte of Buffer.from(text)) {
      if (this.isClosed || this.socket.destroyed) return;
      this.socket.write(Buffer.from([byte]));
      await sleep(everyMs);
    }
  }
  /** Reads everything still to come, until the server closes the connection. */
  async drain(): Promise<number> {
    let bytes = 0;
    this.socket.on('data', (d: Buffer) => (bytes += d.byteLength));
    this.socket.resume();
    await this.closed;
    return bytes;
  }
}

/** Waits for `promise`, failing after `ms`: what proves a wait is bounded. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('pso serve: slow and stalled clients', function () {
  this.timeout(90_000);
  let dir: string;
  let module: string;
  let server: PsoServe | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-slow-'));
    module = join(dir, 'slow.mjs');
    writeFileSync(module, HANDLER);
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Serves the module with short timeouts; the session lock is waited for long enough that a 503 would mean it was held. */
  async function start(extra: string[] = []): Promise<{ port: number; cookie: string }> {
    server = await psoServe([
      module, '--port', '0', '--headers-timeout', '2', '--request-timeout', '3', '--send-timeout', '2', ...extra,
      '-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLockTimeout=30', '-D', 'PSOSessionGCProbability=0',
    ]);
    const port = Number(new URL(server.address).port);
    const first = await get(server.address, '/');
    assert.equal(first.body, '1');
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    return { port, cookie };
  }

  /** GET `path` with the session's cookie; asserts a 200 and answers the body. */
  async function ask(cookie: string, path = '/'): Promise<string> {
    const r = await get(server!.address, path, { headers: { cookie }, timeoutMs: 20_000 });
    assert.equal(r.status, 200, `${path}: ${r.status} ${r.body}`);
    return r.body;
  }

  /** The session's answers, asked every 200 ms while `slow` is still connected (20 s at most from `began`). */
  async function askWhileOpen(slow: Raw, cookie: string, began: number): Promise<string[]> {
    const answers: string[] = [];
    while (!slow.isClosed && Date.now() - began < 20_000) {
      answers.push(await ask(cookie));
      await sleep(200);
    }
    return answers;
  }

  it('cuts off a client that sends its headers a byte a second after the headers timeout; the same session is served meanwhile', async () => {
    const { port, cookie } = await start();
    const slow = new Raw(port, { read: true });
    const began = Date.now();
    void slow.trickle(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nX-Slow: ${'a'.repeat(60)}\r\n\r\n`, 1000);
    const answers = await askWhileOpen(slow, cookie, began);
    await within(2000 + 5000, slow.closed, 'the slow client cut off');
    assert.ok(slow.closedAt! - began < 2000 + 5000, `cut off after ${slow.closedAt! - began} ms`);
    assert.match(slow.received.toString('latin1'), /^HTTP\/1\.1 408 /);
    assert.ok(answers.length >= 3, `answers while it trickled: ${answers.length}`);
    assert.deepEqual(answers, answers.map((_, i) => String(i + 2)), 'each request of the session counted, in order');
  });

  for (const [kind, type, body] of [['a form', 'application/x-www-form-urlencoded', `a=${'b'.repeat(98)}`], ['a JSON body', 'application/json', `{"a":"${'b'.repeat(92)}"}`]] as const) {
    it(`cuts off ${kind} that trickles after the request timeout, and never holds the session while it trickles`, async () => {
      const { port, cookie } = await start();
      const slow = new Raw(port, { read: true });
      const began = Date.now();
      slow.socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`);
      void slow.trickle(body, 500);
      const answers = await askWhileOpen(slow, cookie, began);
      await within(3000 + 5000, slow.closed, 'the trickling client cut off');
      assert.ok(slow.closedAt! - began < 3000 + 5000, `cut off after ${slow.closedAt! - began} ms`);
      assert.match(slow.received.toString('latin1'), /^HTTP\/1\.1 408 /);
      assert.ok(answers.length >= 3, `answers while it trickled: ${answers.length}`);
      assert.deepEqual(answers, answers.map((_, i) => String(i + 2)), 'served all along; the cut-off request counted nothing');
      assert.equal(await ask(cookie, '/peek'), String(answers.length + 1));
    });
  }

  for (const workers of ['1', '2']) {
    it(`closes the connection of a client that never reads a large answer after the send timeout; its session was saved and free all along (--workers ${workers})`, async () => {
      const { port, cookie } = await start(['--workers', workers]);
      const stalled = new Raw(port, { read: false });
      const began = Date.now();
      stalled.socket.write(`GET /big HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`);
      // The handler has run and its session is saved and released before the answer goes out.
      await within(15_000, (async () => { while ((await ask(cookie, '/peek')) !== '2') await sleep(100); })(), 'the big request counted');
      assert.equal(await ask(cookie), '3', 'another client gets the session at once');
      await within(2000 + 5000, server!.waitFor(/took none of the response for 2 s: connection closed/, 30_000, 'stderr'), 'the stalled client cut off');
      assert.ok(Date.now() - began < 2000 + 5000 + 2000, `cut off after ${Date.now() - began} ms`);
      // What it gets now is what the system had taken before the cut: far from the 32 MB.
      const got = await within(15_000, stalled.drain(), 'the end of the cut connection');
      assert.ok(got < 32 * MB, `received ${got} bytes`);
      assert.equal(await ask(cookie), '4');
    });
  }

  it('does not cut off a client that reads a large answer slowly but keeps reading', async () => {
    const { port } = await start(['--send-timeout', '4']);
    const reader = new Raw(port, { read: false });
    reader.socket.write('GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let got = 0;
    // About 3 MB/s: the one write of 24 MB takes longer than the send timeout to go out, though the client never stops.
    reader.socket.on('data', (d: Buffer) => {
      got += d.byteLength;
      reader.socket.pause();
      setTimeout(() => reader.socket.resume(), 20);
    });
    reader.socket.resume();
    await within(60_000, reader.closed, 'the end of the answer');
    assert.ok(got > 24 * MB, `received ${got} bytes of the 24 MB body and its head`);
    assert.doesNotMatch(server!.stderr(), /took none of the response/);
  });

  it('a handler that streams with its session open holds it, from a client that stops reading, for the send timeout at most', async () => {
    const { port, cookie } = await start();
    const stalled = new Raw(port, { read: false });
    stalled.socket.write(`GET /stream HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`);
    await sleep(300);
    const began = Date.now();
    // Waits for the lock the streaming request holds, until the send timeout cuts that one off.
    const next = await within(2000 + 5000 + 2000, ask(cookie), 'the next request of the session');
    assert.equal(next, '3', 'the streamed request counted (saved when its handler ended), then this one');
    assert.ok(Date.now() - began < 2000 + 5000, `answered after ${Date.now() - began} ms`);
    assert.match(server!.stderr(), /took none of the response for 2 s: connection closed/);
  });

  it('over FastCGI, closes the connection of a web server that stops reading after the send timeout; the session is saved and free', async () => {
    const sock = join(dir, 'fcgi.sock');
    server = await psoServe([
      module, '--fastcgi', `unix:${sock}`, '--send-timeout', '2',
      '-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLockTimeout=30', '-D', 'PSOSessionGCProbability=0',
    ]);
    const fcgi = async (path: string, cookie?: string) => {
      const c = new FastCgiClient(sock);
      await c.send(fcgiRequest(1, cgiParams('GET', path, cookie ? { HTTP_COOKIE: cookie } : {}), '', { keep: false }));
      const a = await c.answer(1, 20_000);
      c.close();
      return a;
    };
    const first = await fcgi('/');
    const cookie = first.headers.find(([k]) => k === 'Set-Cookie')![1].split(';')[0]!;
    const stalled = connect({ path: sock });
    stalled.on('error', () => {});
    stalled.pause();
    const began = Date.now();
    stalled.write(fcgiRequest(1, cgiParams('GET', '/big', { HTTP_COOKIE: cookie }), '', { keep: true }));
    await within(15_000, (async () => { while ((await fcgi('/peek', cookie)).body.toString() !== '2') await sleep(100); })(), 'the big request counted');
    assert.equal((await fcgi('/', cookie)).body.toString(), '3');
    await within(2000 + 5000, server.waitFor(/the web server took none of the output for 2 s; closing the connection/, 30_000, 'stderr'), 'the stalled connection closed');
    assert.ok(Date.now() - began < 2000 + 5000 + 2000, `closed after ${Date.now() - began} ms`);
    stalled.destroy();
    assert.equal((await fcgi('/', cookie)).body.toString(), '4');
  });

  it('refuses a bad timeout with its error and exit 2, and lists the timeouts in its help', async () => {
    const cases: [string[], RegExp][] = [
      [['--headers-timeout', 'abc'], /^pso: --headers-timeout needs seconds \(more than 0, at most 86400\), got "abc"$/m],
      [['--request-timeout', '-1'], /^pso: --request-timeout needs seconds/m],
      [['--send-timeout', '0'], /^pso: --send-timeout needs seconds/m],
      [['--keep-alive-timeout', ''], /^pso: --keep-alive-timeout needs seconds/m],
      [['--keep-alive-timeout'], /^pso: --keep-alive-timeout needs seconds/m],
      [['--headers-timeout', '20', '--request-timeout', '10'], /^pso: --headers-timeout \(20 s\) must not be longer than --request-timeout \(10 s\)/m],
      [['--fastcgi', '127.0.0.1:0', '--headers-timeout', '5'], /^pso: --headers-timeout: for HTTP; with --fastcgi the web server in front times its clients/m],
    ];
    for (const [args, message] of cases) {
      const r = await psoServeFails([module, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0]!, message, r.stderr);
      assert.equal(r.stdout, '', 'nothing served');
    }
    const help = await psoServeFails(['--help']);
    assert.equal(help.code, 0);
    for (const option of ['--headers-timeout', '--request-timeout', '--send-timeout', '--keep-alive-timeout']) assert.match(help.stdout, new RegExp(`${option} S`));
  });
});
