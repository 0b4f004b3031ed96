// The session id in a request header for API clients (PSOSessionHeader):
// the same strictness as the cookie, new ids back in a response header.
import assert from 'node:assert/strict';
import { ConfigurationError, ServiceHandler, createContainer, type Handler } from '../../../src/index.js';
import { idInHeader, sessionHeaderOf } from '../../../src/session/identity/sessionHeader.js';
import { FakeRequest, tempDir } from '../../support/fakeRequest.js';

const ID = /^[A-Za-z0-9_-]{27}$/;
const headerOf = (r: FakeRequest, name: string) => r.head?.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
const withEnv = (env: Record<string, string>, headers: Record<string, string> = {}) => new FakeRequest({ env, headers });

describe('PSOSessionHeader', () => {
  describe('sessionHeaderOf', () => {
    it('is undefined when unset or off', () => {
      assert.equal(sessionHeaderOf(withEnv({})), undefined);
      for (const off of ['off', 'OFF', ' no ', '0', '']) assert.equal(sessionHeaderOf(withEnv({ PSOSessionHeader: off })), undefined, off);
    });

    it('names the request header, and the response header (the same, or X-Session-Id for Authorization)', () => {
      assert.deepEqual(sessionHeaderOf(withEnv({ PSOSessionHeader: 'X-Session-Id' })), { request: 'x-session-id', bearer: false, response: 'X-Session-Id' });
      assert.deepEqual(sessionHeaderOf(withEnv({ PSOSessionHeader: 'authorization' })), { request: 'authorization', bearer: true, response: 'X-Session-Id' });
      assert.deepEqual(sessionHeaderOf(withEnv({ PSOSessionHeader: ' Authorization  X-Token ' })), { request: 'authorization', bearer: true, response: 'X-Token' });
    });

    it('refuses what names no header, or a response header that carries something else, with the directive named', () => {
      for (const bad of ['a b c', 'X-Id Set-Cookie', 'X-Id Authorization', 'Cookie', 'X:Id', 'X-Id Cache-Control']) {
        assert.throws(() => sessionHeaderOf(withEnv({ PSOSessionHeader: bad })), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionHeader', bad);
      }
    });
  });

  describe('idInHeader', () => {
    const bearer = { request: 'authorization', bearer: true, response: 'X-Session-Id' };
    const plain = { request: 'x-session-id', bearer: false, response: 'X-Session-Id' };
    it('takes the token of Bearer (any case), and nothing of another scheme', () => {
      assert.equal(idInHeader(withEnv({}, { authorization: 'Bearer abc' }), bearer), 'abc');
      assert.equal(idInHeader(withEnv({}, { authorization: 'bearer   abc ' }), bearer), 'abc');
      assert.equal(idInHeader(withEnv({}, { authorization: 'Basic YWRhOmxvdmVsYWNl' }), bearer), undefined);
      assert.equal(idInHeader(withEnv({}, { authorization: 'Bearer' }), bearer), undefined);
      assert.equal(idInHeader(withEnv({}, {}), bearer), undefined);
    });
    it('takes a plain header as it is, trimmed; an empty one carries nothing', () => {
      assert.equal(idInHeader(withEnv({}, { 'x-session-id': ' abc ' }), plain), 'abc');
      assert.equal(idInHeader(withEnv({}, { 'x-session-id': '' }), plain), undefined);
    });
  });

  describe('through the core', () => {
    let dir: string;
    let cleanup: () => void;
    beforeEach(() => ({ dir, cleanup } = tempDir()));
    afterEach(() => cleanup());

    async function call(fn: Handler, headers: Record<string, string> = {}, env: Record<string, string> = {}): Promise<FakeRequest> {
      const r = new FakeRequest({ headers, env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', PSOSessionHeader: 'X-Session-Id', ...env } });
      await new ServiceHandler(createContainer()).handle(r, fn);
      return r;
    }
    const count: Handler = (r) => { r.write(String(r.session.increment('n'))); };

    it('gives a client that sent no id its new id in both the header and the cookie', async () => {
      const r = await call(count);
      const id = headerOf(r, 'X-Session-Id')!;
      assert.match(id, ID);
      assert.equal(/^spec=([^;]+)/.exec(r.setCookies()[0]!)![1], id);
    });

    it('finds the session by the header, and answers a client that uses it in headers only', async () => {
      const id = headerOf(await call(count), 'X-Session-Id')!;
      const again = await call(count, { 'X-Session-Id': id });
      assert.equal(again.sentBody, '2');
      assert.deepEqual(again.setCookies(), []);
      assert.equal(headerOf(again, 'X-Session-Id'), undefined, 'an id that did not change is not sent again');
      const regenerated = await call((r) => { r.session.regenerate(); r.write('new'); }, { 'X-Session-Id': id });
      const next = headerOf(regenerated, 'X-Session-Id')!;
      assert.match(next, ID);
      assert.notEqual(next, id);
      assert.deepEqual(regenerated.setCookies(), []);
      assert.equal((await call(count, { 'X-Session-Id': next })).sentBody, '3');
      const destroyed = await call((r) => { r.session.destroy(); }, { 'X-Session-Id': next });
      assert.equal(headerOf(destroyed, 'X-Session-Id'), '', 'an empty id: forget yours');
    });

    it('adopts no id it did not issue, and prefers the header to a cookie', async () => {
      const planted = 'P'.repeat(27);
      const r = await call(count, { 'X-Session-Id': planted });
      const given = headerOf(r, 'X-Session-Id')!;
      assert.notEqual(given, planted);
      assert.match(given, ID);
      for (const bad of ['../etc/passwd', 'x'.repeat(500), 'a, b']) {
        const res = await call(count, { 'X-Session-Id': bad });
        assert.equal(res.sentBody, '1');
        assert.match(headerOf(res, 'X-Session-Id')!, ID);
      }
      const cookieId = /^spec=([^;]+)/.exec((await call(count)).setCookies()[0]!)![1]!;
      const both = await call(count, { 'X-Session-Id': given, cookie: `spec=${cookieId}` });
      assert.equal(both.sentBody, '2', 'the header\'s session, not the cookie\'s');
    });

    it('takes Authorization: Bearer, and sends the signed id with PSOSessionSecret; an unsigned one is refused', async () => {
      const env = { PSOSessionHeader: 'Authorization', PSOSessionSecret: 'a-secret-of-sixteen-chars' };
      const first = await call(count, {}, env);
      const signed = headerOf(first, 'X-Session-Id')!;
      assert.match(signed, /^[A-Za-z0-9_-]{27}\.[A-Za-z0-9_-]{43}$/);
      assert.equal((await call(count, { authorization: `Bearer ${signed}` }, env)).sentBody, '2');
      const unsigned = await call(count, { authorization: `Bearer ${signed.split('.')[0]}` }, env);
      assert.equal(unsigned.sentBody, '1');
      assert.equal((await call(count, { authorization: 'Basic YWRhOmxvdmVsYWNl' }, env)).sentBody, '1');
    });

    it('answers 500 naming the directive when it is invalid', async () => {
      const r = await call(count, {}, { PSOSessionHeader: 'X-Id Set-Cookie' });
      assert.equal(r.head!.status, 500);
      assert.ok(r.logLines.some((l) => /PSOSessionHeader/.test(l.message)), JSON.stringify(r.logLines));
    });
  });
});
