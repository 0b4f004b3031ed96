import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ConfigurationError, HttpError, InvalidHeaderError, HeadersSentError, ServiceHandler, TOKENS, createContainer, serve, type Handler, type ServiceRequest } from '../../src/index.js';
import { FakeRequest } from '../support/fakeRequest.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';

/** A GET sent as raw bytes over TCP (HTTP clients refuse control characters in headers). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), body: data.split('\r\n\r\n').slice(1).join('\r\n\r\n') }));
    socket.on('error', reject);
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(Buffer.from(`GET / HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n${lines}\r\n`, 'latin1'));
  });
}

describe('ServiceRequest', () => {
  let stop: (() => Promise<void>) | undefined;
  let base = '';
  let logger: MemoryLogger;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function start(handler: Handler<any>, directives: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'pso-request-'));
    const container = createContainer();
    logger = new MemoryLogger();
    container.rebind(TOKENS.Logger).toConstantValue(logger);
    const server = await serve(handler, { port: 0, moduleName: 'req', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir, ...directives } });
    base = server.url;
    stop = async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }

  describe('pso()', () => {
    it('returns the request itself', async () => {
      let same = false;
      await start((req) => { same = req.pso() === req; req.write('ok'); });
      await fetch(base);
      assert.equal(same, true);
    });
  });

  describe('sendHttpHeaders()', () => {
    it('defaults to text/html with UTF-8 and carries the session cookie', async () => {
      await start((req) => { req.session.set('seen', true); req.sendHttpHeaders(); req.write('é'); });
      const res = await fetch(base);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(res.headers.getSetCookie()[0]!, /^req=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.equal(await res.text(), 'é');
    });

    it('takes another content type', async () => {
      await start((req) => { req.sendHttpHeaders('application/json'); req.write('{}'); });
      assert.equal((await fetch(base)).headers.get('content-type'), 'application/json');
    });

    it('is sent by the first write when the handler did not send it', async () => {
      await start((req) => req.write('x'));
      const res = await fetch(base);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('content-length'), '1');
    });
  });

  describe('headers out', () => {
    it('sets, adds, reads and removes', async () => {
      const seen: unknown[] = [];
      await start((req) => {
        req.setHeader('X-One', '1');
        req.addHeader('X-Many', 'a');
        req.addHeader('X-Many', 'b');
        req.setHeader('X-Gone', 'soon');
        req.removeHeader('x-gone');
        seen.push(req.getHeader('x-one'), req.getHeader('X-Gone'));
        req.write('ok');
      });
      const res = await fetch(base);
      assert.equal(res.headers.get('x-one'), '1');
      assert.equal(res.headers.get('x-many'), 'a, b');
      assert.equal(res.headers.get('x-gone'), null);
      assert.deepEqual(seen, ['1', undefined]);
    });

    it('refuses CR, LF and NUL in values and bad names (no header injection)', async () => {
      const errors: string[] = [];
      await start((req) => {
        for (const f of [
          () => req.setHeader('X-A', 'v\r\nSet-Cookie: evil=1'),
          () => req.addHeader('X-B', 'v\nx'),
          () => req.setHeader('X-C', 'v\0'),
          () => req.setHeader('Bad Name', 'v'),
          () => req.setHeader('Status', '200'),
          () => req.redirect('/x\r\nSet-Cookie: evil=1'),
        ]) {
          try { f(); } catch (e) { errors.push((e as Error).name); }
        }
        req.write('ok');
      });
      const res = await fetch(base);
      assert.deepEqual(errors, Array(6).fill(InvalidHeaderError.name));
      assert.equal(res.headers.getSetCookie().some((c) => c.startsWith('evil')), false);
    });

    it('refuses every character a header value cannot carry as one byte, not only CR and LF (no splitting through latin1)', async () => {
      const messages: string[] = [];
      const refused = ['a\u010d\u010aSet-Cookie: evil=1', 'x\u0100', 'snow \u2603', '\ud83d\ude00', 'tab\x0bvt', 'del\x7f', 'bell\x07'];
      await start((req) => {
        for (const value of refused) {
          try { req.setHeader('X-A', value); } catch (e) { messages.push(`${(e as Error).name}: ${(e as Error).message}`); }
        }
        // What HTTP allows: tab, space, visible ASCII and U+0080-U+00FF (one byte each).
        req.setHeader('X-Ok', 'caf\u00e9\tand \u00ff!');
        req.write('ok');
      });
      const res = await fetch(base);
      assert.equal(messages.length, refused.length, messages.join('\n'));
      for (const m of messages) assert.match(m, /^InvalidHeaderError: header X-A has .* U\+[0-9A-F]{4} at position \d+ of its value/);
      assert.match(messages[0]!, /the character U\+010D at position 1 /);
      assert.equal(res.headers.get('x-a'), null);
      // One byte each on the wire (0xE9, 0xFF), which fetch reads back as latin1.
      assert.equal(res.headers.get('x-ok'), 'caf\u00e9\tand \u00ff!');
      assert.equal(res.headers.getSetCookie().some((c) => c.startsWith('evil')), false);
    });

    it('leaves out of an error response a header of a thrown HttpError that HTTP cannot carry, and logs it', async () => {
      await start(() => {
        throw new HttpError(409, 'conflict', true, { 'X-Why': 'a\u010d\u010aSet-Cookie: evil=1', 'X-Fine': 'yes' });
      });
      const res = await fetch(base);
      assert.equal(res.status, 409);
      assert.equal(res.headers.get('x-fine'), 'yes');
      assert.equal(res.headers.get('x-why'), null);
      assert.ok(logger.has('error', /left out of the error response: header X-Why has the character U\+010D/));
    });

    it('answers 500 when the host refuses the head, instead of an empty response with the status meant', async () => {
      const { createServer } = await import('node:http');
      const { psoMiddleware } = await import('../../src/index.js');
      const dir = mkdtempSync(join(tmpdir(), 'pso-request-'));
      const container = createContainer();
      logger = new MemoryLogger();
      container.rebind(TOKENS.Logger).toConstantValue(logger);
      const pso = psoMiddleware((req) => req.redirect('/next'), {
        moduleName: 'req', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir },
      });
      const server = createServer((req, res) => {
        // Node refuses a head it cannot send (ERR_INVALID_CHAR and the like) by throwing from writeHead.
        const writeHead = res.writeHead;
        let refusals = 1;
        res.writeHead = function (this: typeof res, ...args: Parameters<typeof res.writeHead>) {
          if (refusals-- > 0) throw Object.assign(new TypeError('Invalid character in header content ["Location"]'), { code: 'ERR_INVALID_CHAR' });
          return writeHead.apply(this, args);
        } as typeof res.writeHead;
        pso(req, res, () => res.end());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, { redirect: 'manual' });
        assert.equal(res.status, 500);
        assert.equal(res.headers.get('location'), null);
        assert.equal(await res.text(), '500 Internal Server Error\n');
        assert.ok(logger.has('error', /Invalid character in header content/));
      } finally {
        await new Promise((r) => server.close(r));
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses changes once the response has started', async () => {
      let error: unknown;
      await start(async (req) => {
        req.write('x'.repeat(70 * 1024));
        await req.flush();
        try { req.setHeader('X-Late', '1'); } catch (e) { error = e; }
      });
      const res = await fetch(base);
      assert.equal((await res.text()).length, 70 * 1024);
      assert.ok(error instanceof HeadersSentError);
    });
  });

  describe('cookies', () => {
    it('reads the cookies sent and sets new ones', async () => {
      await start((req) => {
        req.setCookie('theme', 'dark', { path: '/', maxAge: 60, sameSite: 'strict' });
        req.write(`${req.getCookie('a')}|${req.getCookie('missing')}`);
      });
      const res = await fetch(base, { headers: { cookie: 'a=1; b=2' } });
      assert.equal(await res.text(), '1|undefined');
      assert.ok(res.headers.getSetCookie().includes('theme=dark; Max-Age=60; Path=/; SameSite=Strict'));
    });

    it('tolerates malformed Cookie headers', async () => {
      await start((req) => req.write(String(req.getCookie('a'))));
      for (const cookie of ['a', ';;;=;', 'a=%E0%A4%A', '=====', 'a="x', 'a=1; a=2', 'a=\u00ff\u00fe', 'x'.repeat(10_000), 'req=../../etc/passwd', 'req=%00']) {
        const res = await rawGet(base, { cookie });
        assert.equal(res.status, 200, cookie);
      }
      // Control characters are refused by node's HTTP parser before pso sees them; the server keeps serving.
      assert.equal((await rawGet(base, { cookie: '\u0001x=y' })).status, 400);
      assert.equal((await rawGet(base, { cookie: 'a=ok' })).body, 'ok');
    });
  });

  describe('setStatus()', () => {
    it('sets the status and refuses nonsense', async () => {
      const errors: string[] = [];
      await start((req) => {
        for (const s of [99, 600, 2.5, NaN]) try { req.setStatus(s); } catch (e) { errors.push((e as Error).name); }
        req.setStatus(201);
        req.write('made');
      });
      const res = await fetch(base);
      assert.equal(res.status, 201);
      assert.deepEqual(errors, ['RangeError', 'RangeError', 'RangeError', 'RangeError']);
    });
  });

  describe('redirect()', () => {
    it('ends the handler with 302 and Location, after saving the session', async () => {
      let after = false;
      await start((req) => {
        if (req.path === '/next') {
          req.write(`n=${req.session.get('n')}`);
          return;
        }
        req.session.set('n', 7);
        req.write('discarded');
        req.redirect('/next');
        after = true;
      });
      const jar = new CookieJar();
      const res = await jar.fetch(base);
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), '/next');
      assert.equal(after, false, 'code after redirect() does not run');
      assert.doesNotMatch(await res.text(), /discarded/);
      // The very next request sees the saved session: the redirect did not outrun the save.
      assert.equal(await (await jar.fetch(new URL('/next', base).href)).text(), 'n=7');
    });

    it('percent-encodes a target that is not ASCII as UTF-8, whole, keeping %XX already there; refuses control characters', async () => {
      await start((req) => {
        const to = req.getInput('to', '');
        try {
          req.redirect(to);
        } catch (e) {
          if ((e as Error).name !== 'InvalidHeaderError') throw e;
          req.write(`refused: ${(e as Error).message}`);
        }
      });
      const cases: [string, string | RegExp][] = [
        ['/x\u010d\u010aSet-Cookie: admin=1\u010d\u010a\u010d\u010a<script>', '/x%C4%8D%C4%8ASet-Cookie:%20admin=1%C4%8D%C4%8A%C4%8D%C4%8A%3Cscript%3E'],
        ['/caf\u00e9/\u2603?q=a b&r=%41', '/caf%C3%A9/%E2%98%83?q=a%20b&r=%41'],
        ['https://example.org/\ud83d\ude00#top', 'https://example.org/%F0%9F%98%80#top'],
        ['/x\r\nSet-Cookie: evil=1', /^refused: redirect URL has a CR U\+000D at position 2$/],
        ['/x\u0000', /^refused: redirect URL has a NUL U\+0000/],
      ];
      for (const [to, expected] of cases) {
        const res = await fetch(`${base}?to=${encodeURIComponent(to)}`, { redirect: 'manual' });
        if (typeof expected === 'string') {
          assert.equal(res.status, 302, to);
          assert.equal(res.headers.get('location'), expected);
          assert.equal(await res.text(), `Redirecting to ${expected}\n`);
        } else {
          assert.equal(res.status, 200, to);
          assert.match(await res.text(), expected);
        }
        assert.equal(res.headers.getSetCookie().some((c) => /^(admin|evil)=/.test(c)), false);
      }
    });

    it('sends 301 when permanent', async () => {
      await start((req) => req.redirect('https://example.org/', true));
      const res = await fetch(base, { redirect: 'manual' });
      assert.equal(res.status, 301);
      assert.equal(res.headers.get('location'), 'https://example.org/');
    });

    for (const status of [301, 302, 303, 307, 308] as const) {
      it(`sends ${status} when asked`, async () => {
        await start((req) => req.redirect('/elsewhere', status));
        const res = await fetch(base, { method: 'POST', redirect: 'manual' });
        assert.equal(res.status, status);
        assert.equal(res.headers.get('location'), '/elsewhere');
      });
    }

    it('refuses another status before anything is sent, and the server keeps serving', async () => {
      await start((req) => {
        if (req.path === '/ok') return void req.write('fine');
        req.redirect('/x', 200 as 302);
      });
      const res = await fetch(base, { redirect: 'manual' });
      assert.equal(res.status, 500);
      assert.ok(logger.has('error', /redirect status must be one of 301, 302, 303, 307, 308/));
      assert.equal(await (await fetch(`${base}ok`)).text(), 'fine');
    });
  });

  describe('sendStatus()', () => {
    it('ends the handler with the status and its reason', async () => {
      await start((req) => { req.sendStatus(410); });
      const res = await fetch(base);
      assert.equal(res.status, 410);
      assert.equal(await res.text(), 'Gone\n');
    });
  });

  describe('getEnviron()', () => {
    it('reads CGI variables, directives and defaults alike', async () => {
      await start((req) => {
        req.write([req.getEnviron('REQUEST_METHOD'), req.getEnviron('QUERY_STRING'), req.getEnviron('HTTP_X_TEST'), req.getEnviron('MyDirective'), req.getEnviron('NOPE', 'dflt')].join('|'));
      }, { MyDirective: 'set' });
      const res = await fetch(`${base}?a=1`, { headers: { 'x-test': 'yes' } });
      assert.equal(await res.text(), 'GET|a=1|yes|set|dflt');
    });
  });

  describe('request metadata', () => {
    it('method, path, queryString, query, remoteAddress and headers by any case', async () => {
      await start((req) => {
        req.write(JSON.stringify([req.method, req.path, req.queryString, req.query.getAll('t'), req.remoteAddress, req.getRequestHeader('X-TEST'), req.getRequestHeader('x-test')]));
      });
      const res = await fetch(`${base}some/where?t=1&t=2`, { method: 'PUT', headers: { 'X-Test': 'yes' } });
      assert.deepEqual(JSON.parse(await res.text()), ['PUT', '/some/where', 't=1&t=2', ['1', '2'], '127.0.0.1', 'yes', 'yes']);
    });
  });

  describe('log()', () => {
    it('writes a line naming the request', async () => {
      await start((req) => { req.log('hello', { a: 1 }); req.write('ok'); });
      await (await fetch(`${base}x`)).text();
      assert.ok(logger.lines.some((l) => l.level === 'info' && l.message === 'GET /x: hello {"a":1}'));
    });
  });

  describe('PSOLog', () => {
    let dir: string;
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-log-')); });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("appends request.log() lines and pso's own errors to the file, not to the container's logger", async () => {
      const file = join(dir, 'pso.log');
      await start((req) => {
        if (req.path === '/boom') throw new Error('kaboom');
        req.log('first', 1);
        req.log('second\nforged line');
        req.write('ok');
      }, { PSOLog: file });
      await (await fetch(`${base}a`)).text();
      assert.equal((await fetch(`${base}boom`)).status, 500);
      const lines = readFileSync(file, 'utf8').split('\n');
      assert.match(lines[0]!, /^\[pso\] \d{4}-\d\d-\d\dT[\d:.]+Z info GET \/a: first 1$/);
      assert.match(lines[1]!, /info GET \/a: second$/);
      assert.equal(lines[2], '    forged line', 'a newline in a message cannot start a line of its own');
      assert.ok(lines.some((l) => /error GET \/boom: handler failed: Error: kaboom/.test(l)));
      assert.equal(logger.lines.length, 0, 'nothing went to the container logger');
    });

    it('falls back to the container logger, saying why, when the file cannot be written', async () => {
      await start((req) => { req.log('still logged'); req.write('ok'); }, { PSOLog: join(dir, 'missing-dir', 'pso.log') });
      const res = await fetch(base);
      assert.equal(await res.text(), 'ok');
      assert.ok(logger.has('error', /PSOLog ".*missing-dir\/pso\.log": ENOENT/));
      assert.ok(logger.has('info', /still logged/));
    });

    it('names the directive when the path is relative', async () => {
      await start((req) => { req.log('x'); req.write('ok'); }, { PSOLog: 'relative.log' });
      assert.equal(await (await fetch(base)).text(), 'ok');
      assert.ok(logger.has('error', /PSOLog "relative\.log": .*absolute path/));
    });
  });

  describe('getDirective()', () => {
    it('finds a directive by exact name, in any case, and with "_" for "-"; the exact name wins', () => {
      const r = new FakeRequest({ env: { PSOCookieSession_Path: '/exact', psocookiesession_path: '/lower', psocookiesession_domain: 'example.org', PSOCookieSession_Max_Age: '60' } });
      assert.equal(r.getDirective('PSOCookieSession_Path'), '/exact');
      assert.equal(r.getDirective('psocookiesession_path'), '/lower');
      assert.equal(r.getDirective('PSOCookieSession_Domain'), 'example.org');
      assert.equal(r.getDirective('PSOCOOKIESESSION_DOMAIN'), 'example.org');
      assert.equal(r.getDirective('PSOCookieSession_Max-Age'), '60');
      assert.equal(r.getDirective('PSOCookieSession_Priority'), undefined);
    });

    it('only PSO names are matched loosely: other variables need their exact name', () => {
      const r = new FakeRequest({ env: { HTTP_X_TEST: 'a', REMOTE_ADDR: '1.2.3.4' } });
      assert.equal(r.getDirective('http_x_test'), undefined);
      assert.equal(r.getDirective('REMOTE_ADDR'), '1.2.3.4');
    });
  });

  describe('isSecure()', () => {
    const secure = (init: ConstructorParameters<typeof FakeRequest>[0]) => new FakeRequest(init).isSecure();
    it('is true over an encrypted connection, whatever the headers say', () => {
      assert.equal(secure({ secure: true }), true);
      assert.equal(secure({ secure: true, headers: { 'x-forwarded-proto': 'http' } }), true);
    });

    it('believes X-Forwarded-Proto (first value) only with PSOTrustProxy on', () => {
      assert.equal(secure({}), false);
      assert.equal(secure({ headers: { 'x-forwarded-proto': 'https' } }), false);
      assert.equal(secure({ headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'off' } }), false);
      assert.equal(secure({ headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'on' } }), true);
      assert.equal(secure({ headers: { 'x-forwarded-proto': ' HTTPS , http' }, env: { PSOTrustProxy: 'yes' } }), true);
      assert.equal(secure({ headers: { 'x-forwarded-proto': 'http, https' }, env: { PSOTrustProxy: 'on' } }), false);
      assert.equal(secure({ env: { PSOTrustProxy: 'on' } }), false);
    });

    it('refuses an invalid PSOTrustProxy when a proxy header arrives', () => {
      assert.throws(() => secure({ headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'perhaps' } }), (e: unknown) =>
        e instanceof ConfigurationError && e.directive === 'PSOTrustProxy' && e.value === 'perhaps');
    });
  });

  describe('body() and form()', () => {
    const form = (init: ConstructorParameters<typeof FakeRequest>[0]) => new FakeRequest(init).form().then((f) => [...f]);
    const urlencoded = { 'content-type': 'application/x-www-form-urlencoded' };

    it('body() returns the bytes once, the same promise every time', async () => {
      const r = new FakeRequest({ method: 'POST', requestBody: 'héllo' });
      const a = r.body();
      assert.equal(r.body(), a);
      assert.equal(Buffer.from(await a).toString('utf8'), 'héllo');
    });

    it('body() stops at PSOMaxBodySize (with k/m suffixes) or at the limit given, with 413', async () => {
      await assert.rejects(new FakeRequest({ requestBody: 'x'.repeat(1025), env: { PSOMaxBodySize: '1k' } }).body(), (e: unknown) => e instanceof HttpError && e.status === 413);
      assert.equal((await new FakeRequest({ requestBody: 'x'.repeat(1024), env: { PSOMaxBodySize: '1k' } }).body()).byteLength, 1024);
      await assert.rejects(new FakeRequest({ requestBody: 'xyz' }).body(2), (e: unknown) => e instanceof HttpError && e.status === 413);
      await assert.rejects(new FakeRequest({ requestBody: 'x'.repeat(1024 * 1024 + 1) }).body(), (e: unknown) => e instanceof HttpError && e.status === 413, 'the default limit is 1 MiB');
    });

    it('body() refuses an invalid PSOMaxBodySize naming it', () => {
      assert.throws(() => new FakeRequest({ env: { PSOMaxBodySize: 'lots' } }).body(), (e: unknown) =>
        e instanceof ConfigurationError && e.directive === 'PSOMaxBodySize' && e.value === 'lots');
    });

    it('form() gives the query fields, then those of an urlencoded body', async () => {
      assert.deepEqual(await form({ method: 'POST', query: 'a=1&b=x+y', headers: urlencoded, requestBody: 'b=2&c=%C3%A9&a=3' }),
        [['a', '1'], ['b', 'x y'], ['b', '2'], ['c', 'é'], ['a', '3']]);
      assert.deepEqual(await form({ method: 'PUT', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=utf-8' }, requestBody: 'k=v' }), [['k', 'v']]);
    });

    it('form() reads no body for GET or HEAD, nor one of another type', async () => {
      assert.deepEqual(await form({ method: 'GET', query: 'a=1', headers: urlencoded, requestBody: 'b=2' }), [['a', '1']]);
      assert.deepEqual(await form({ method: 'HEAD', query: 'a=1', headers: urlencoded, requestBody: 'b=2' }), [['a', '1']]);
      assert.deepEqual(await form({ method: 'POST', query: 'a=1', headers: { 'content-type': 'application/json' }, requestBody: '{"b":2}' }), [['a', '1']]);
      assert.deepEqual(await form({ method: 'POST', query: 'a=1', requestBody: 'b=2' }), [['a', '1']]);
    });

    it('form() fails with 413 when the body is over the limit', async () => {
      await assert.rejects(new FakeRequest({ method: 'POST', headers: urlencoded, requestBody: 'a=12345', env: { PSOMaxBodySize: '4' } }).form(), (e: unknown) => e instanceof HttpError && e.status === 413);
    });
  });

  describe('mkurl()', () => {
    const mk = (...args: Parameters<FakeRequest['mkurl']>) => new FakeRequest().mkurl(...args);

    it('adds parameters, encoded, keeping the existing query and the #fragment', () => {
      assert.equal(mk('/p'), '/p');
      assert.equal(mk('/p?', {}), '/p');
      assert.equal(mk('/p', { a: 1, b: 'x y&z=é', c: true }), '/p?a=1&b=x+y%26z%3D%C3%A9&c=true');
      assert.equal(mk('/p?x=1&x=2#sec?tion', { y: 'z' }), '/p?x=1&x=2&y=z#sec?tion');
      assert.equal(mk('#top', { a: 1 }), '?a=1#top');
      assert.equal(mk('https://example.org/a/b?q=%20#f', { n: 0 }), 'https://example.org/a/b?q=+&n=0#f');
    });

    it('repeats a parameter given an array, and takes URLSearchParams', () => {
      assert.equal(mk('/p', { tag: ['a', 'b', 3], empty: [] }), '/p?tag=a&tag=b&tag=3');
      assert.equal(mk('/p?k=0', new URLSearchParams([['k', '1'], ['k', '2']])), '/p?k=0&k=1&k=2');
    });
  });

  describe('HEAD', () => {
    it('sends the headers and no body', async () => {
      await start((req) => req.write('body'));
      const res = await fetch(base, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '4');
      assert.equal(await res.text(), '');
    });
  });
});
