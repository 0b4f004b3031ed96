import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, TOKENS, createContainer, type ServiceRequest } from '../../../src/index.js';
import { FastCgiAddressError } from '../../../src/hosts/fastcgi/FastCgiAddressError.js';
import { formatFastCgiAddress, parseFastCgiAddress } from '../../../src/hosts/fastcgi/fastCgiAddress.js';
import { serveFastCgi, type FastCgiServer, type ServeFastCgiOptions } from '../../../src/hosts/fastcgi/serveFastCgi.js';
import { FastCgiClient, T, begin, cgiParams, pairs, rec, request } from '../../support/fastcgiClient.js';
import { handler } from '../../support/fastcgiHandler.js';
import { MemoryLogger } from '../../support/memoryLogger.js';

describe('serveFastCgi', () => {
  let dir: string;
  let sessions: string;
  let server: FastCgiServer | undefined;
  let logger: MemoryLogger;
  let clients: FastCgiClient[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-fcgi-serve-'));
    sessions = join(dir, 'sessions');
    logger = new MemoryLogger();
    clients = [];
  });
  afterEach(async () => {
    for (const c of clients) c.close();
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(options: Partial<ServeFastCgiOptions> = {}, fn: (r: ServiceRequest<any>) => unknown = handler): Promise<FastCgiServer> {
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(logger);
    server = await serveFastCgi(fn, {
      address: `unix:${join(dir, 'pso.sock')}`,
      moduleName: 'fcgi',
      serviceHandler: new ServiceHandler(container),
      ...options,
      directives: { PSOSessionFileLoader_Path: sessions, PSOSessionGCProbability: '0', ...options.directives },
    });
    return server;
  }

  function client(): FastCgiClient {
    const c = new FastCgiClient(server!.port ?? server!.address.slice(5));
    clients.push(c);
    return c;
  }

  /** One request on a connection of its own; the answer. */
  async function ask(method: string, path: string, extra: Record<string, string> = {}, body = '') {
    const c = client();
    await c.send(request(1, cgiParams(method, path, extra), body, { keep: false }));
    return c.answer(1);
  }
  const header = (a: { headers: [string, string][] }, name: string) => a.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

  it('answers with a CGI head and the body in one FCGI_STDOUT record, and keeps the session by its cookie', async () => {
    await start();
    const first = await ask('GET', '/count');
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), `${process.pid} 1`);
    assert.equal(first.stdout.length, 2, 'the head and the body in one record, then the empty one');
    assert.match(first.bytes.toString('latin1'), /^Status: 200 OK\r\n/);
    assert.deepEqual(header(first, 'content-type'), ['text/plain; charset=utf-8']);
    assert.deepEqual(header(first, 'content-length'), [String(first.body.byteLength)]);
    const cookie = header(first, 'set-cookie')[0]!.split(';')[0]!;
    assert.match(cookie, /^fcgi=/);
    const second = await ask('GET', '/count', { HTTP_COOKIE: cookie });
    assert.equal(second.body.toString(), `${process.pid} 2`);
  });

  it('reads the params as the CGI environment: path from SCRIPT_NAME and PATH_INFO, query, method, headers', async () => {
    await start();
    const a = await ask('POST', '/env?name=HTTP_USER_AGENT&name=REMOTE_ADDR&name=constructor', { SCRIPT_NAME: '/app', HTTP_USER_AGENT: 'tester/1', REMOTE_ADDR: '10.1.2.3', CONTENT_LENGTH: '0' });
    assert.equal(a.status, 200, a.body.toString());
    assert.deepEqual(JSON.parse(a.body.toString()), {
      HTTP_USER_AGENT: 'tester/1', REMOTE_ADDR: '10.1.2.3', constructor: null,
      path: '/app/env', query: 'name=HTTP_USER_AGENT&name=REMOTE_ADDR&name=constructor', method: 'POST',
    });
  });

  it('takes directives given in code as defaults that the params override, in any case of their names', async () => {
    await start({ directives: { PSOServiceId: 'fromCode', PSOCookieSession_SameSite: 'Strict', PSODebug: 'on' } });
    const defaults = await ask('GET', '/count');
    assert.match(header(defaults, 'set-cookie')[0]!, /^fromCode=.*SameSite=Strict/);
    const overridden = await ask('GET', '/count', { PSOServiceId: 'fromParams', psocookiesession_samesite: 'Lax' });
    const cookie = header(overridden, 'set-cookie')[0]!;
    assert.match(cookie, /^fromParams=/);
    assert.match(cookie, /SameSite=Lax/);
    assert.doesNotMatch(cookie, /Strict/);
  });

  it('reads a body of CONTENT_LENGTH bytes; without CONTENT_LENGTH to the end of FCGI_STDIN; more than declared is left out', async () => {
    await start();
    assert.equal((await ask('POST', '/body', { CONTENT_LENGTH: '5' }, 'hello')).body.toString(), '5');
    assert.equal((await ask('POST', '/body', {}, 'x'.repeat(70_000))).body.toString(), '70000');
    assert.equal((await ask('POST', '/body', { CONTENT_LENGTH: '3' }, 'abcdef')).body.toString(), '3');
  });

  it('answers 400 to a body shorter than its CONTENT_LENGTH, and 413 to one over PSOMaxBodySize', async () => {
    await start();
    const short = await ask('POST', '/body', { CONTENT_LENGTH: '10' }, 'abc');
    assert.equal(short.status, 400);
    assert.ok(logger.has('info', /request body ended after 3 of 10 bytes/), logger.text());
    const big = await ask('POST', '/body', { PSOMaxBodySize: '100' }, 'x'.repeat(101));
    assert.equal(big.status, 413);
  });

  it('sends no body for HEAD, and 404 without a session for /favicon.ico unless handleFavicon', async () => {
    await start();
    const head = await ask('HEAD', '/count');
    assert.equal(head.status, 200);
    assert.equal(head.body.byteLength, 0);
    const icon = await ask('GET', '/favicon.ico');
    assert.equal(icon.status, 404);
    assert.equal(icon.body.toString(), 'Not Found\n');
    assert.equal(header(icon, 'set-cookie').length, 0);
    assert.equal(header(icon, 'x-handler').length, 0, 'the handler did not run');
    await server!.close();
    await start({ handleFavicon: true });
    assert.equal((await ask('GET', '/favicon.ico')).status, 404, 'the fixture has no such route');
    assert.deepEqual(header(await ask('GET', '/favicon.ico'), 'x-handler'), ['ran'], 'but the handler ran');
  });

  it('answers 500 when the handler throws, logs it, and serves the next request', async () => {
    await start();
    const failed = await ask('GET', '/throw');
    assert.equal(failed.status, 500);
    assert.ok(logger.has('error', /handler failed: Error: fastcgi fixture failure/));
    assert.equal((await ask('GET', '/count')).status, 200);
  });

  it('releases the session lock of a request whose body the web server aborts', async () => {
    await start({ directives: { PSOSessionLockTimeout: '2' } });
    const first = await ask('GET', '/count');
    const cookie = header(first, 'set-cookie')[0]!.split(';')[0]!;
    const c = client();
    await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1, pairs(cgiParams('POST', '/body', { HTTP_COOKIE: cookie, CONTENT_LENGTH: '100' }))), rec(T.PARAMS, 1), rec(T.STDIN, 1, 'part')]));
    await new Promise((r) => setTimeout(r, 100));
    await c.send(rec(T.ABORT_REQUEST, 1));
    const aborted = await c.answer(1);
    assert.equal(aborted.stdout.length, 0);
    const started = Date.now();
    const next = await ask('GET', '/count', { HTTP_COOKIE: cookie });
    assert.equal(next.status, 200, next.body.toString());
    assert.ok(Date.now() - started < 1500, 'the lock was not held until its timeout');
    assert.equal(next.body.toString(), `${process.pid} 2`);
  });

  it('close() lets a request in flight finish and save its session', async () => {
    await start();
    const first = await ask('GET', '/count');
    const cookie = header(first, 'set-cookie')[0]!.split(';')[0]!;
    const c = client();
    await c.send(request(1, cgiParams('GET', '/slow?ms=300', { HTTP_COOKIE: cookie })));
    await new Promise((r) => setTimeout(r, 50));
    const closing = server!.close();
    const a = await c.answer(1);
    assert.equal(a.body.toString(), `${process.pid} 2`);
    await closing;
    server = undefined;
    const saved = readdirSync(sessions).filter((f) => f.endsWith('.json'));
    assert.equal(saved.length, 1);
    await start();
    assert.equal((await ask('GET', '/count', { HTTP_COOKIE: cookie })).body.toString(), `${process.pid} 3`);
  });

  it('listens on TCP, a port picked when 0 is asked', async () => {
    await start({ address: '127.0.0.1:0' });
    assert.ok(server!.port! > 0);
    assert.equal(server!.address, `127.0.0.1:${server!.port}`);
    assert.equal((await ask('GET', '/count')).status, 200);
  });

  it('gives the unix socket the mode asked for, replaces one left by a process gone, and refuses one in use', async () => {
    const path = join(dir, 'pso.sock');
    // A socket file nobody listens on any more: its process was killed.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.ok(statSync(path).isSocket(), 'a socket file is left behind');
    await start({ socketMode: 0o660 });
    assert.equal(statSync(path).mode & 0o777, 0o660);
    assert.equal((await ask('GET', '/count')).status, 200);
    await assert.rejects(serveFastCgi(handler, { address: `unix:${path}` }), (e: unknown) => e instanceof FastCgiAddressError && /another process listens on it/.test(e.message));
  });

  describe('parseFastCgiAddress', () => {
    it('reads unix:/path, HOST:PORT, [IPv6]:PORT and a bare port', () => {
      assert.deepEqual(parseFastCgiAddress('unix:/run/pso.sock'), { path: '/run/pso.sock' });
      assert.deepEqual(parseFastCgiAddress('0.0.0.0:9000'), { host: '0.0.0.0', port: 9000 });
      assert.deepEqual(parseFastCgiAddress('localhost:9001'), { host: 'localhost', port: 9001 });
      assert.deepEqual(parseFastCgiAddress('[::1]:9002'), { host: '::1', port: 9002 });
      assert.deepEqual(parseFastCgiAddress('9003'), { host: '127.0.0.1', port: 9003 });
      assert.equal(formatFastCgiAddress({ host: '::1', port: 9 }), '[::1]:9');
      assert.equal(formatFastCgiAddress({ path: '/x' }), 'unix:/x');
    });

    it('refuses a relative socket path, a port over 65535 and anything else, saying what to give', () => {
      for (const bad of ['unix:run/pso.sock', 'host:70000', 'host', '', 'http://x:1']) {
        assert.throws(() => parseFastCgiAddress(bad), (e: unknown) => e instanceof FastCgiAddressError && /unix:\/absolute\/path or HOST:PORT/.test(e.message), bad);
      }
    });
  });
});
