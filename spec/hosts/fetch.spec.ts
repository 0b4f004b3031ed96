import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, TOKENS, createContainer, createFetchHandler, type Handler } from '../../src/index.js';
import { MemoryLogger } from '../support/memoryLogger.js';

describe('createFetchHandler()', () => {
  let dir: string;
  let logger: MemoryLogger;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-fetch-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function make(handler: Handler<any>, directives: Record<string, string> = {}) {
    const container = createContainer();
    logger = new MemoryLogger();
    container.rebind(TOKENS.Logger).toConstantValue(logger);
    return createFetchHandler(handler, { moduleName: 'f', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir, ...directives } });
  }

  it('answers a Request with a Response and keeps the session by cookie', async () => {
    const fetchHandler = make((r) => { r.sendHttpHeaders('text/plain'); r.write(`n=${r.session.increment('n')} ${r.method} ${r.path}?${r.queryString}`); });
    const first = await fetchHandler(new Request('http://example.test/a/b?x=1'));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await first.text(), 'n=1 GET /a/b?x=1');
    const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!;
    assert.match(cookie, /^f=[A-Za-z0-9_-]{27}$/);
    const second = await fetchHandler(new Request('http://example.test/', { headers: { cookie } }));
    assert.equal(await second.text(), 'n=2 GET /?');
  });

  it('reads urlencoded forms and answers redirects, status codes and HEAD', async () => {
    const fetchHandler = make(async (r) => {
      if (r.path === '/go') r.redirect('/there');
      if (r.path === '/gone') r.sendStatus(410);
      r.write(`name=${(await r.form()).get('name')}`);
    });
    const posted = await fetchHandler(new Request('http://x.test/', { method: 'POST', body: 'name=%C3%A9t%C3%A9', headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
    assert.equal(await posted.text(), 'name=été');
    const moved = await fetchHandler(new Request('http://x.test/go'));
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get('location'), '/there');
    assert.equal((await fetchHandler(new Request('http://x.test/gone'))).status, 410);
    const head = await fetchHandler(new Request('http://x.test/', { method: 'HEAD' }));
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('streams a large body', async () => {
    const fetchHandler = make(async (r) => {
      for (let i = 0; i < 4; i++) {
        r.write('x'.repeat(100_000));
        await r.flush();
      }
    });
    const res = await fetchHandler(new Request('http://x.test/'));
    assert.equal((await res.text()).length, 400_000);
  });

  it('answers a throwing handler with 500, and a too-large body with 413', async () => {
    const failing = make(() => { throw new Error('boom'); });
    const res = await failing(new Request('http://x.test/'));
    assert.equal(res.status, 500);
    assert.equal(await res.text(), '500 Internal Server Error\n');
    assert.match(logger.text(), /handler failed: Error: boom/);
    const limited = make(async (r) => { await r.body(); r.write('read'); }, { PSOMaxBodySize: '10' });
    const big = await limited(new Request('http://x.test/', { method: 'POST', body: 'x'.repeat(100) }));
    assert.equal(big.status, 413);
  });

  it('derives the CGI variables from the URL and what the runtime tells', async () => {
    const h = make((r) => r.write(['REMOTE_ADDR', 'SERVER_NAME', 'SERVER_PORT', 'REQUEST_URI', 'HTTP_X_A', 'HTTPS'].map((k) => r.getEnviron(k, '-')).join('|')));
    const res = await h(new Request('https://x.test/a?b=1', { headers: { 'x-a': 'y' } }), { remoteAddress: '10.1.2.3' });
    assert.equal(await res.text(), '10.1.2.3|x.test|443|/a?b=1|y|on');
  });

  it('marks the cookie Secure for https URLs', async () => {
    const res = await make((r) => { r.session.set('x', 1); r.write('x'); })(new Request('https://x.test/'));
    assert.match(res.headers.getSetCookie()[0]!, /; Secure/);
  });
});
