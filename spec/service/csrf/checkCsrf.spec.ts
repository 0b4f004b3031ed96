// The CSRF checks as a request meets them: before the handler, on unsafe
// methods, with a 403 that says which check failed.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import sinon from 'sinon';
import { CsrfError, ServiceHandler, createContainer, type Handler, type HandlerOptions } from '../../../src/index.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../../support/fakeRequest.js';

const FORM = 'application/x-www-form-urlencoded';
const idOf = (r: FakeRequest) => /^spec=([^;]+)/.exec(r.setCookies()[0] ?? '')?.[1];

describe('CSRF checks', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  let handlerRan = false;
  const note: Handler = (r) => {
    handlerRan = true;
    r.session.set('note', r.getInput('text', ''));
    r.write(`noted ${r.getInput('text', '')}`);
  };
  /** A page that gives a token (and keeps the session it belongs to). */
  const page: Handler = (r) => { r.write(r.csrfToken()); };

  async function call(fn: Handler, init: FakeRequestInit & { cookie?: string; options?: HandlerOptions } = {}): Promise<FakeRequest> {
    handlerRan = false;
    const r = new FakeRequest({
      ...init,
      env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...init.env },
      headers: { host: 'app.example', ...(init.cookie ? { cookie: `spec=${init.cookie}` } : {}), ...init.headers },
    });
    await new ServiceHandler(createContainer()).handle(r, fn, init.options);
    return r;
  }
  /** A visitor with a stored session and a token of it. */
  async function visitor(env: Record<string, string> = {}): Promise<{ id: string; token: string }> {
    const r = await call(page, { env });
    return { id: idOf(r)!, token: r.sentBody };
  }
  const post = (cookie: string | undefined, body: string, init: FakeRequestInit & { options?: HandlerOptions } = {}) =>
    call(note, { method: 'POST', requestBody: body, ...init, ...(cookie ? { cookie } : {}), headers: { 'content-type': FORM, ...init.headers } });

  describe('origin (the default)', () => {
    it('refuses an unsafe request with the session cookie that a browser says came from another site: a 403 naming the check, the handler not run', async () => {
      const { id } = await visitor();
      const r = await post(id, 'text=x', { headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
      assert.equal(r.head!.status, 403);
      assert.equal(r.sentBody, '403 Forbidden\nCSRF check failed (origin): the browser says the request came from another site (Sec-Fetch-Site: cross-site, Origin: https://evil.example); list the origin in PSOCsrfTrustedOrigins if it is yours\n');
      assert.equal(handlerRan, false);
      assert.ok(r.logLines.some((l) => l.level === 'info' && /403: CSRF check failed \(origin\)/.test(l.message)), JSON.stringify(r.logLines));
    });

    it('lets pass: same-origin requests, requests without the session cookie (nothing to forge), safe methods, and clients that are no browser', async () => {
      const { id } = await visitor();
      assert.equal((await post(id, 'text=a', { headers: { 'sec-fetch-site': 'same-origin' } })).head!.status, 200);
      assert.equal((await post(undefined, 'text=b', { headers: { 'sec-fetch-site': 'cross-site' } })).head!.status, 200);
      assert.equal((await call(note, { cookie: id, headers: { 'sec-fetch-site': 'cross-site' } })).head!.status, 200);
      assert.equal((await post(id, 'text=c')).head!.status, 200);
      assert.equal((await post(id, 'text=d', { headers: { origin: 'http://app.example' } })).head!.status, 200);
      assert.equal((await post(id, 'text=e', { headers: { origin: 'http://other.example' } })).head!.status, 403);
    });

    it('lets an origin listed in PSOCsrfTrustedOrigins pass; refuses a list entry that is no origin', async () => {
      const env = { PSOCsrfTrustedOrigins: 'https://pay.example https://sso.example/' };
      const { id } = await visitor(env);
      assert.equal((await post(id, 'text=x', { env, headers: { 'sec-fetch-site': 'cross-site', origin: 'https://sso.example' } })).head!.status, 200);
      const bad = await post(id, 'text=x', { env: { PSOCsrfTrustedOrigins: 'https://pay.example/path' }, headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(bad.head!.status, 500);
      assert.ok(bad.logLines.some((l) => /PSOCsrfTrustedOrigins/.test(l.message)));
    });
  });

  describe('on (PSOCsrf on, or the csrf option)', () => {
    const on = { PSOCsrf: 'on' };

    it('takes the token from the form field or the header; refuses a request without one', async () => {
      const { id, token } = await visitor();
      assert.equal((await post(id, `csrf=${token}&text=a`, { env: on })).sentBody, 'noted a');
      assert.equal((await post(id, 'text=b', { env: on, headers: { 'x-csrf-token': token } })).sentBody, 'noted b');
      const none = await post(id, 'text=c', { env: on });
      assert.equal(none.head!.status, 403);
      assert.equal(none.sentBody, '403 Forbidden\nCSRF check failed (token): no CSRF token came: send request.csrfToken() in the csrf field of the form, or the X-CSRF-Token header\n');
      assert.equal(handlerRan, false);
    });

    it('refuses a token in the query string, another session\'s, a malformed one, and one from before a login', async () => {
      const { id, token } = await visitor();
      const other = await visitor();
      assert.match((await call(note, { method: 'POST', cookie: id, query: `csrf=${token}`, env: on })).sentBody, /\(token\): no CSRF token came/);
      assert.match((await post(id, `csrf=${other.token}`, { env: on })).sentBody, /\(token\): the CSRF token belongs to another session \(a page from before a login or logout/);
      assert.match((await post(id, 'csrf=abc', { env: on })).sentBody, /\(token\): the CSRF token in the csrf field of the form, or the X-CSRF-Token header is not one pso makes/);
      const login = await call((r) => { r.session.regenerate(); r.write(r.csrfToken()); }, { cookie: id });
      const newId = idOf(login)!;
      assert.equal((await post(newId, `csrf=${token}`, { env: on })).head!.status, 403, 'the token of the id before the login');
      assert.equal((await post(newId, `csrf=${login.sentBody}`, { env: on })).head!.status, 200);
    });

    it('refuses an unsafe request that names no stored session, token or not (login CSRF)', async () => {
      const { token } = await visitor();
      const r = await post(undefined, `csrf=${token}&user=mallory`, { env: on });
      assert.equal(r.head!.status, 403);
      assert.match(r.sentBody, /\(token\): the request names no stored session to check its CSRF token against/);
    });

    it('checks the origin first, and lets a session that came in PSOSessionHeader pass (no browser sends it by itself)', async () => {
      const { id, token } = await visitor();
      const cross = await post(id, `csrf=${token}`, { env: on, headers: { 'sec-fetch-site': 'same-site' } });
      assert.match(cross.sentBody, /^403 Forbidden\nCSRF check failed \(origin\)/);
      const api = { ...on, PSOSessionHeader: 'X-Session-Id' };
      assert.equal((await call(note, { method: 'PUT', env: api, headers: { 'x-session-id': id, 'sec-fetch-site': 'cross-site' } })).head!.status, 200);
    });

    it('reads a multipart form\'s field, and the names PSOCsrfField and PSOCsrfHeader give', async () => {
      const { id, token } = await visitor();
      const boundary = 'xYzZy';
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${token}\r\n--${boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nm\r\n--${boundary}--\r\n`;
      assert.equal((await post(id, body, { env: on, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })).sentBody, 'noted m');
      const named = { ...on, PSOCsrfField: '_token', PSOCsrfHeader: 'X-XSRF' };
      assert.equal((await post(id, `_token=${token}&text=n`, { env: named })).sentBody, 'noted n');
      assert.equal((await post(id, 'text=o', { env: named, headers: { 'x-xsrf': token } })).sentBody, 'noted o');
      assert.equal((await post(id, `csrf=${token}`, { env: named })).head!.status, 403);
    });

    it('is chosen per handler and per request by the csrf option, which decides over PSOCsrf', async () => {
      const { id } = await visitor();
      assert.equal((await post(id, 'text=a', { options: { csrf: true } })).head!.status, 403);
      assert.equal((await post(id, 'text=b', { options: { csrf: 'on' } })).head!.status, 403);
      assert.equal((await post(id, 'text=c', { env: on, options: { csrf: false } })).head!.status, 200);
      const perPath: HandlerOptions = { csrf: (r) => (r.path === '/webhook' ? 'off' : undefined) };
      assert.equal((await post(id, 'text=d', { env: on, path: '/webhook', options: perPath })).head!.status, 200);
      assert.equal((await post(id, 'text=e', { env: on, path: '/note', options: perPath })).head!.status, 403);
      assert.equal((await post(id, 'text=f', { env: { PSOCsrf: 'off' }, headers: { 'sec-fetch-site': 'cross-site' } })).head!.status, 200);
    });

    it('answers a PSOCsrf it does not know with a 500 naming it', async () => {
      const r = await post(undefined, 'text=a', { env: { PSOCsrf: 'strict' } });
      assert.equal(r.head!.status, 500);
      assert.ok(r.logLines.some((l) => /PSOCsrf/.test(l.message) && /expected one of on, origin, off/.test(l.message)), JSON.stringify(r.logLines));
    });
  });

  describe('while an id replaced by regenerate() or PSOSessionRotate still leads to the new one (PSOSessionRotateGrace)', () => {
    const on = { PSOCsrf: 'on' };
    let clock: sinon.SinonFakeTimers;
    let T0: number;
    beforeEach(() => {
      T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
      clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    });
    afterEach(() => sinon.restore());
    const at = (ms: number) => clock.setSystemTime(T0 + ms);
    /** What the session holds, seen with `id`. */
    const noteOf = async (id: string) => (await call((r) => { r.write(String(r.session.get('note'))); }, { cookie: id })).sentBody;

    /** ada, logged in, with a form rendered: her id and the form's token. */
    async function loggedIn(env: Record<string, string> = {}): Promise<{ id: string; token: string }> {
      const r = await call((req) => { req.session.login('ada'); req.write(req.csrfToken()); }, { env });
      return { id: idOf(r)!, token: r.sentBody };
    }
    /** A request with `old` that regenerates the session: the new id. */
    async function regenerate(old: string): Promise<string> {
      const id = idOf(await call((r) => { r.session.regenerate(); r.write('ok'); }, { cookie: old }))!;
      assert.ok(id && id !== old);
      return id;
    }

    it('accepts the token of the old id, posted with the old id within the grace: a parallel request, a page open while the id changed', async () => {
      const { id: old, token } = await loggedIn();
      const id = await regenerate(old);
      at(4_999);
      const r = await post(old, `csrf=${token}&text=parallel`, { env: on });
      assert.equal(r.sentBody, 'noted parallel');
      assert.equal(idOf(r), id, 'the client learns the new id');
      assert.equal(await noteOf(id), 'parallel', 'noted in the session the old id leads to');
    });

    it('accepts it along a chain of forwards (an id replaced twice within the grace)', async () => {
      const { id: first, token } = await loggedIn();
      const second = await regenerate(first);
      at(1_000);
      const third = await regenerate(second);
      at(2_000);
      assert.equal((await post(first, `csrf=${token}&text=chained`, { env: on })).sentBody, 'noted chained');
      assert.equal(await noteOf(third), 'chained');
    });

    it('refuses it once the grace is over: the old id names no session any more', async () => {
      const { id: old, token } = await loggedIn();
      await regenerate(old);
      at(5_000);
      const r = await post(old, `csrf=${token}&text=late`, { env: on });
      assert.equal(r.head!.status, 403);
      assert.match(r.sentBody, /\(token\): the request names no stored session/);
      assert.equal(handlerRan, false);
    });

    it('refuses, within the grace, a token of another session posted with the old id, and the new session\'s own check stands', async () => {
      const { id: old } = await loggedIn();
      const other = await visitor();
      const id = await regenerate(old);
      at(1_000);
      const forged = await post(old, `csrf=${other.token}&text=x`, { env: on });
      assert.equal(forged.head!.status, 403);
      assert.match(forged.sentBody, /\(token\): the CSRF token belongs to another session/);
      assert.equal(await noteOf(id), 'undefined');
      const fresh = (await call(page, { cookie: id })).sentBody;
      assert.equal((await post(id, `csrf=${fresh}&text=y`, { env: on })).sentBody, 'noted y');
    });

    it('refuses the token of an id a login replaced: a login leaves no forward', async () => {
      const planted = await visitor();
      const id = idOf(await call((r) => { r.session.login('ada'); r.write('ok'); }, { cookie: planted.id }))!;
      assert.notEqual(id, planted.id);
      assert.equal((await post(planted.id, `csrf=${planted.token}&text=x`, { env: on })).head!.status, 403);
      assert.equal((await post(id, `csrf=${planted.token}&text=x`, { env: on })).head!.status, 403);
    });

    it('accepts the token of an id PSOSessionRotate replaces on this very request', async () => {
      const env = { ...on, PSOSessionRotate: '600' };
      const { id: old, token } = await loggedIn(env);
      at(600_000);
      const r = await post(old, `csrf=${token}&text=rotated`, { env });
      assert.equal(r.sentBody, 'noted rotated');
      const id = idOf(r)!;
      assert.notEqual(id, old);
      assert.equal(await noteOf(id), 'rotated');
    });
  });

  describe('request.csrfToken()', () => {
    it('keeps a new session that holds nothing, so that its token can be checked', async () => {
      const r = await call(page);
      assert.match(r.sentBody, /^[A-Za-z0-9_-]{64}$/);
      assert.ok(idOf(r));
      assert.equal(readdirSync(dir).filter((n) => n.endsWith('.json')).length, 1);
    });
  });

  it('CsrfError is a 403 HttpError with the check it failed', () => {
    const e = new CsrfError('token', 'why');
    assert.equal(e.status, 403);
    assert.equal(e.check, 'token');
    assert.equal(e.expose, true);
    assert.equal(e.message, 'CSRF check failed (token): why');
  });
});
