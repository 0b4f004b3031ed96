// Cache-Control on responses that set or show a session (PSOSessionCacheControl).
import assert from 'node:assert/strict';
import { ServiceHandler, createContainer, type Handler } from '../../src/index.js';
import { FakeRequest, tempDir } from '../support/fakeRequest.js';

const cacheControl = (r: FakeRequest) => r.head!.headers.filter(([n]) => n.toLowerCase() === 'cache-control').map(([, v]) => v);
const idOf = (r: FakeRequest) => /^spec=([^;]+)/.exec(r.setCookies()[0] ?? '')?.[1];

describe('Cache-Control of session responses', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  async function call(fn: Handler, cookie?: string, env: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<FakeRequest> {
    const r = new FakeRequest({ env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...env }, headers: { ...(cookie ? { cookie: `spec=${cookie}` } : {}), ...headers } });
    await new ServiceHandler(createContainer()).handle(r, fn);
    return r;
  }
  const count: Handler = (r) => { r.write(String(r.session.increment('n'))); };
  const show: Handler = (r) => { r.write(String(r.session.get('n', 0))); };
  const plain: Handler = (r) => { r.write('static'); };

  it('is "private, no-store" on a response that sets the session cookie', async () => {
    const r = await call(count);
    assert.ok(idOf(r));
    assert.deepEqual(cacheControl(r), ['private, no-store']);
  });

  it('is there when the handler used a stored session, and not when it did not', async () => {
    const id = idOf(await call(count))!;
    const shown = await call(show, id);
    assert.deepEqual(shown.setCookies(), []);
    assert.deepEqual(cacheControl(shown), ['private, no-store']);
    assert.deepEqual(cacheControl(await call(plain, id)), []);
  });

  it('is not there for a visitor without a session whose page read the empty session', async () => {
    const r = await call(show);
    assert.deepEqual(r.setCookies(), []);
    assert.deepEqual(cacheControl(r), []);
  });

  it('is there on a clearing cookie, a redirect that sets the session, a page with a CSRF token, and an id in a response header', async () => {
    const id = idOf(await call(count))!;
    assert.deepEqual(cacheControl(await call((r) => { r.session.destroy(); }, id)), ['private, no-store']);
    const redirect = await call((r) => { r.session.set('a', 1); r.redirect('/next'); });
    assert.equal(redirect.head!.status, 302);
    assert.deepEqual(cacheControl(redirect), ['private, no-store']);
    assert.deepEqual(cacheControl(await call((r) => { r.write(r.csrfToken()); }, id)), ['private, no-store']);
    const api = await call(count, undefined, { PSOSessionHeader: 'X-Session-Id' });
    assert.deepEqual(cacheControl(api), ['private, no-store']);
  });

  it('leaves a Cache-Control the handler set alone', async () => {
    const r = await call((req) => { req.setHeader('Cache-Control', 'public, max-age=60'); req.session.set('a', 1); });
    assert.ok(idOf(r));
    assert.deepEqual(cacheControl(r), ['public, max-age=60']);
  });

  it('follows PSOSessionCacheControl: off, or another value; a value a header cannot carry is a 500 naming it', async () => {
    assert.deepEqual(cacheControl(await call(count, undefined, { PSOSessionCacheControl: 'off' })), []);
    assert.deepEqual(cacheControl(await call(count, undefined, { PSOSessionCacheControl: ' private, no-cache ' })), ['private, no-cache']);
    const bad = await call(count, undefined, { PSOSessionCacheControl: 'private\u0001' });
    assert.equal(bad.head!.status, 500);
    assert.ok(bad.logLines.some((l) => /PSOSessionCacheControl/.test(l.message)), JSON.stringify(bad.logLines));
  });
});
