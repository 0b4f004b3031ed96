import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { HttpError, ServiceHandler, type ServiceRequest } from '../../src/index.js';
import { CgiRequest } from '../../src/hosts/index.js';
import { runCgi } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';

/** The compiled fixture that echoes its form fields as JSON. */
const FORM_HANDLER = fileURLToPath(new URL('../support/formHandler.js', import.meta.url));
const STORE_DEADLINE_HANDLER = fileURLToPath(new URL('../support/storeDeadlineHandler.js', import.meta.url));
const LINGER_HANDLER = fileURLToPath(new URL('../support/lingerHandler.js', import.meta.url));

/** What a CGI process run to its end showed, and where its descriptor 1 led when its output ended ('' once it had exited). */
interface Ended { stdout: string; stderr: string; code: number | null; fd1AtEnd: string; markerAtEnd: boolean }

/** Runs `script` with `env` until it exits (through `wrap`, a command that ends by exec'ing node); `marker` is a file it may create. */
function runToEnd(script: string, env: NodeJS.ProcessEnv, marker: string, wrap: string[] = []): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = [...wrap, process.execPath, script];
    const child = spawn(command!, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    let fd1AtEnd = '';
    let markerAtEnd = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('end', () => {
      try {
        fd1AtEnd = readlinkSync(`/proc/${child.pid}/fd/1`);
      } catch {
        // Exited: its descriptors are gone.
      }
      markerAtEnd = existsSync(marker);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code, fd1AtEnd, markerAtEnd }));
  });
}

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  return { out, text: () => text };
}

describe('CgiRequest', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-cgi-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function request(env: NodeJS.ProcessEnv) {
    const c = capture();
    const req = new CgiRequest({ env: { PSOSessionFileLoader_Path: dir, ...env }, stdout: c.out, moduleName: 'cgi', logger: new MemoryLogger() });
    return { req, text: c.text };
  }

  it('reads method, path, query and headers from RFC 3875 variables', () => {
    const { req } = request({
      REQUEST_METHOD: 'post', SCRIPT_NAME: '/cgi-bin/app.cgi', PATH_INFO: '/items/3', QUERY_STRING: 'a=1&b=2',
      CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: '', HTTP_USER_AGENT: 'spec', HTTP_X_FORWARDED_FOR: '10.0.0.1',
    });
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/cgi-bin/app.cgi/items/3');
    assert.equal(req.queryString, 'a=1&b=2');
    assert.equal(req.getRequestHeader('Content-Type'), 'application/x-www-form-urlencoded');
    assert.equal(req.getRequestHeader('content-length'), undefined, 'an empty CONTENT_LENGTH is no length');
    assert.equal(req.getRequestHeader('User-Agent'), 'spec');
    assert.equal(req.getRequestHeader('X-Forwarded-For'), '10.0.0.1');
    assert.equal(req.persistent, false);
  });

  it('knows HTTPS from HTTPS=on or REQUEST_SCHEME=https', () => {
    assert.equal(request({ HTTPS: 'on' }).req.isSecure(), true);
    assert.equal(request({ REQUEST_SCHEME: 'https' }).req.isSecure(), true);
    assert.equal(request({}).req.isSecure(), false);
  });

  it('answers with a Status header, CRLF-terminated header lines, a blank line and the body', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'GET' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => { r.session.set('made', true); r.setStatus(201); r.setHeader('X-A', 'b'); r.write('made'); });
    const out = text();
    assert.match(out, /^Status: 201 Created\r\nX-A: b\r\nContent-Type: text\/html; charset=utf-8\r\nContent-Length: 4\r\nSet-Cookie: cgi=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax\r\nCache-Control: private, no-store\r\n\r\nmade$/);
  });

  it('marks the session cookie Secure on HTTPS', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'GET', HTTPS: 'on' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => { r.session.set('x', 1); r.write('x'); });
    assert.match(text(), /Set-Cookie: cgi=[^\r]*; Secure/);
  });

  it('sends no body for HEAD', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'HEAD' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => r.write('hidden'));
    assert.match(text(), /Content-Length: 6\r\n/);
    assert.doesNotMatch(text(), /hidden/);
  });
  describe('request body (in process, from a stream)', () => {
    function withBody(env: NodeJS.ProcessEnv, body: string | undefined) {
      const c = capture();
      const stdin = new PassThrough();
      if (body !== undefined) stdin.end(body);
      const logger = new MemoryLogger();
      const req = new CgiRequest({ env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...env }, stdout: c.out, stdin, moduleName: 'cgi', logger });
      return { req, text: c.text, logger };
    }
    const post = { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded' };

    it('reads exactly CONTENT_LENGTH bytes, and form() merges query and body', async () => {
      const { req } = withBody({ ...post, QUERY_STRING: 'a=1', CONTENT_LENGTH: '7' }, 'b=2&c=3IGNORED');
      assert.deepEqual([...(await req.form())], [['a', '1'], ['b', '2'], ['c', '3']]);
      assert.equal(Buffer.from(await req.body()).toString(), 'b=2&c=3');
    });

    it('without CONTENT_LENGTH, the body is empty and stdin is not read', async () => {
      const { req } = withBody({ ...post }, 'a=1');
      assert.equal((await req.body()).byteLength, 0);
      const blank = withBody({ ...post, CONTENT_LENGTH: ' ' }, 'a=1');
      assert.equal((await blank.req.body()).byteLength, 0);
    });

    it('CONTENT_LENGTH over PSOMaxBodySize: 413 before reading', async () => {
      const { req } = withBody({ ...post, CONTENT_LENGTH: '2048', PSOMaxBodySize: '1k' }, undefined);
      await assert.rejects(req.body(), (e: unknown) => e instanceof HttpError && e.status === 413 && e.message === 'request body of 2048 bytes is larger than the limit of 1024 bytes (PSOMaxBodySize)');
    });

    it('a body shorter than CONTENT_LENGTH: 400', async () => {
      const { req } = withBody({ ...post, CONTENT_LENGTH: '100' }, 'a=1');
      await assert.rejects(req.body(), (e: unknown) => e instanceof HttpError && e.status === 400 && e.message === 'request body ended after 3 of 100 bytes');
    });

    it('an invalid CONTENT_LENGTH: 400 naming it', async () => {
      for (const bad of ['abc', '-1', '1.5', '1e3', '0x10']) {
        const { req } = withBody({ ...post, CONTENT_LENGTH: bad }, 'a=1');
        await assert.rejects(req.body(), (e: unknown) => e instanceof HttpError && e.status === 400 && e.message === `invalid CONTENT_LENGTH ${JSON.stringify(bad)}`, bad);
      }
    });

    it('takes the whole body from standard input before answering, though the handler never read it', async () => {
      const c = capture();
      const stdin = new PassThrough();
      const body = Buffer.alloc(300 * 1024, 'x');
      stdin.end(body);
      const req = new CgiRequest({
        env: { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(body.byteLength), PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0' },
        stdout: c.out, stdin, moduleName: 'cgi', logger: new MemoryLogger(),
      });
      await new ServiceHandler().handle(req, (r: ServiceRequest) => { r.write('ignored the body'); });
      assert.match(c.text(), /^Status: 200 OK\r\n[^]*\r\n\r\nignored the body$/);
      assert.equal(stdin.readableLength, 0, 'nothing of the body is left in the pipe');
    });

    it('through the handler, a body error becomes the response status with its message', async () => {
      const { req, text, logger } = withBody({ ...post, CONTENT_LENGTH: '10', PSOMaxBodySize: '4' }, 'a=12345678');
      await new ServiceHandler().handle(req, async (r: ServiceRequest) => { await r.form(); r.write('not reached'); });
      assert.match(text(), /^Status: 413 Payload Too Large\r\n[^]*\r\n\r\n413 Payload Too Large\nrequest body of 10 bytes is larger than the limit of 4 bytes \(PSOMaxBodySize\)\n$/);
      assert.ok(logger.lines.some((l) => l.level === 'info' && /413: request body of 10 bytes/.test(l.message)), logger.text());
    });
  });

  describe('store operation deadlines (real CGI processes)', () => {
    it('once the store has answered, nothing of pso keeps the process alive: it exits with its answer', async () => {
      const res = await runCgi(STORE_DEADLINE_HANDLER, { PSOSessionStore: 'answers://test' });
      assert.equal(res.status, 200, res.stderr);
      assert.equal(res.body, '1');
      const alive = /^alive after the write: (.*)$/m.exec(res.stderr)?.[1];
      assert.ok(alive, res.stderr);
      assert.ok(!JSON.parse(alive).includes('Timeout'), `no timer holds the process: ${alive}`);
    });

    it('while a store operation waits, its deadline keeps the process alive: a store that never answers gets a 503', async () => {
      const first = await runCgi(STORE_DEADLINE_HANDLER, { PSOSessionStore: 'answers://test' });
      const cookie = first.headers.find(([name]) => name.toLowerCase() === 'set-cookie')?.[1].split(';')[0];
      assert.ok(cookie, first.stderr);
      const res = await runCgi(STORE_DEADLINE_HANDLER, { PSOSessionStore: 'hang://test', PSOSessionStoreTimeout: '1', HTTP_COOKIE: cookie });
      assert.equal(res.status, 503, res.stderr);
      assert.match(res.stderr, /session store hang:\/\/test unavailable: no answer to get within 1000 ms/);
    });
  });

  describe('the end of the output (real CGI processes)', () => {
    const cgiEnv = (extra: Record<string, string>) => ({
      ...process.env, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/linger.cgi', PSOSessionFileLoader_Path: dir, ...extra,
    });
    const marker = () => join(dir, 'marker');
    /** Runs until the output was seen to end while the process was still there (node's tear-down takes milliseconds), at most `tries` times. */
    async function endedBeforeExit(env: NodeJS.ProcessEnv, tries = 10, wrap: string[] = []): Promise<Ended[]> {
      const runs: Ended[] = [];
      for (let i = 0; i < tries && !runs.some((r) => r.fd1AtEnd !== ''); i++) runs.push(await runToEnd(LINGER_HANDLER, env, marker(), wrap));
      return runs;
    }

    it('ends once the process has nothing left to do, before node tears itself down: descriptor 1 is /dev/null by then', async () => {
      const runs = await endedBeforeExit(cgiEnv({}));
      for (const r of runs) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^Status: 200 OK\r\n[^]*\r\n\r\nanswered$/);
      }
      assert.deepEqual(runs.map((r) => r.fd1AtEnd).filter(Boolean), ['/dev/null'], 'seen once the process had let its output go');
    });

    it('work left after the answer keeps the output open until it is done (Apache ends a script whose output has ended)', async () => {
      const r = await runToEnd(LINGER_HANDLER, cgiEnv({ PSO_TEST_LINGER_MS: '300', PSO_TEST_MARKER: marker() }), marker());
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.markerAtEnd, true);
      assert.match(r.stdout, /\r\n\r\nansweredlate\nlate again\n$/, 'what it printed then went out');
    });

    for (const late of [false, true]) {
      it(`work a 'beforeExit' listener starts keeps it open too (a listener added ${late ? 'after' : 'before'} the response ended)`, async () => {
        const r = await runToEnd(LINGER_HANDLER, cgiEnv({ PSO_TEST_BEFORE_EXIT_MS: '300', PSO_TEST_MARKER: marker(), ...(late ? { PSO_TEST_LATE_LISTENER: '1' } : {}) }), marker());
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.markerAtEnd, true);
      });
    }

    it('an \'exit\' listener keeps it open until the process has exited', async () => {
      const r = await runToEnd(LINGER_HANDLER, cgiEnv({ PSO_TEST_EXIT_HOLD_MS: '300', PSO_TEST_MARKER: marker() }), marker());
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.markerAtEnd, true);
      assert.equal(r.fd1AtEnd, '');
    });

    it('without /dev/null (a chroot without it), the output ends with the process and nothing fails', async function () {
      // A mount namespace of its own whose /dev is an empty tmpfs.
      const wrap = ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs none /dev && exec "$0" "$@"'];
      if (process.getuid?.() !== 0 || spawnSync(wrap[0]!, [...wrap.slice(1), 'true']).status !== 0) {
        console.log('    skipped: needs root and unshare --mount');
        return this.skip();
      }
      const runs = await endedBeforeExit(cgiEnv({}), 4, wrap);
      assert.equal(runs.length, 4);
      for (const r of runs) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.equal(r.fd1AtEnd, '');
        assert.match(r.stdout, /\r\n\r\nanswered$/);
      }
    });

    it('as a command-line script, standard output ends with the process', async () => {
      const runs = await endedBeforeExit({ ...process.env, PSOSessionFileLoader_Path: dir }, 4);
      assert.equal(runs.length, 4);
      for (const r of runs) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.fd1AtEnd, '');
        assert.match(r.stdout, /\n\nanswered$/);
      }
    });
  });

  describe('request body (real CGI processes, standard input)', () => {
    const post = (extra: Record<string, string>) => ({
      REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...extra,
    });

    it('reads the form from standard input', async () => {
      const body = 'name=ada&note=x+y%21';
      const res = await runCgi(FORM_HANDLER, post({ QUERY_STRING: 'q=1', CONTENT_LENGTH: String(body.length) }), body);
      assert.equal(res.status, 200, res.stderr);
      assert.equal(res.body, '[["q","1"],["name","ada"],["note","x y!"]]');
    });

    it('reads exactly CONTENT_LENGTH bytes: what follows on standard input is not the body', async () => {
      const res = await runCgi(FORM_HANDLER, post({ CONTENT_LENGTH: '3' }), 'a=1&b=2');
      assert.equal(res.status, 200, res.stderr);
      assert.equal(res.body, '[["a","1"]]');
    });

    it('an empty CONTENT_LENGTH (as nginx passes with a GET) means no body', async () => {
      const res = await runCgi(FORM_HANDLER, { REQUEST_METHOD: 'GET', QUERY_STRING: 'x=1', CONTENT_TYPE: '', CONTENT_LENGTH: '', PSOSessionFileLoader_Path: dir }, 'ignored');
      assert.equal(res.status, 200, res.stderr);
      assert.equal(res.body, '[["x","1"]]');
    });

    it('answers 413 when CONTENT_LENGTH is over PSOMaxBodySize', async () => {
      const res = await runCgi(FORM_HANDLER, post({ CONTENT_LENGTH: '5000', PSOMaxBodySize: '1k' }), 'a=1');
      assert.equal(res.status, 413, res.stderr);
      assert.equal(res.body, '413 Payload Too Large\nrequest body of 5000 bytes is larger than the limit of 1024 bytes (PSOMaxBodySize)\n');
      assert.equal(res.code, 0);
    });

    it('answers 400 when standard input ends before CONTENT_LENGTH', async () => {
      const res = await runCgi(FORM_HANDLER, post({ CONTENT_LENGTH: '100' }), 'a=1&b=2');
      assert.equal(res.status, 400, res.stderr);
      assert.equal(res.body, '400 Bad Request\nrequest body ended after 7 of 100 bytes\n');
    });

    it('answers 400 for an invalid CONTENT_LENGTH', async () => {
      const res = await runCgi(FORM_HANDLER, post({ CONTENT_LENGTH: '12abc' }), 'a=1');
      assert.equal(res.status, 400, res.stderr);
      assert.equal(res.body, '400 Bad Request\ninvalid CONTENT_LENGTH "12abc"\n');
    });
  });
});
