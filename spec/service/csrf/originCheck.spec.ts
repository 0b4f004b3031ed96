import assert from 'node:assert/strict';
import { originProblem } from '../../../src/service/csrf/originCheck.js';
import { FakeRequest } from '../../support/fakeRequest.js';

const problem = (headers: Record<string, string>, env: Record<string, string> = {}, trusted: string[] = []) =>
  originProblem(new FakeRequest({ method: 'POST', headers: { host: 'app.example:8080', ...headers }, env }), trusted);

describe('originProblem', () => {
  it('lets Sec-Fetch-Site same-origin and none pass, whatever Origin says', () => {
    assert.equal(problem({ 'sec-fetch-site': 'same-origin', origin: 'https://elsewhere.example' }), undefined);
    assert.equal(problem({ 'sec-fetch-site': 'none' }), undefined);
  });

  it('refuses same-site and cross-site requests, saying what the browser said', () => {
    assert.equal(
      problem({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }),
      'the browser says the request came from another site (Sec-Fetch-Site: cross-site, Origin: https://evil.example); list the origin in PSOCsrfTrustedOrigins if it is yours',
    );
    assert.match(problem({ 'sec-fetch-site': 'same-site' })!, /another origin of this site \(another port or subdomain\) \(Sec-Fetch-Site: same-site\)/);
    assert.match(problem({ 'sec-fetch-site': 'galaxy' })!, /somewhere it does not name/);
  });

  it('lets a trusted origin pass, given as it is or with a trailing slash', () => {
    assert.equal(problem({ 'sec-fetch-site': 'cross-site', origin: 'https://pay.example' }, {}, ['https://pay.example']), undefined);
    assert.notEqual(problem({ 'sec-fetch-site': 'cross-site', origin: 'https://pay.example.evil' }, {}, ['https://pay.example']), undefined);
  });

  it('without Sec-Fetch-Site, compares Origin with Host; no Origin at all passes (no browser, or an old one)', () => {
    assert.equal(problem({ origin: 'http://app.example:8080' }), undefined);
    assert.equal(problem({ origin: 'https://APP.example:8080' }), undefined, 'the scheme and case do not matter: a TLS proxy in front changes the scheme');
    assert.equal(problem({ origin: 'http://app.example:8081' }), 'Origin http://app.example:8081 is not this site (Host: app.example:8080); list the origin in PSOCsrfTrustedOrigins if it is yours');
    assert.match(problem({ origin: 'null' })!, /without an origin \(Origin: null/);
    assert.match(problem({ origin: 'not a url' })!, /is not an origin/);
    assert.equal(problem({}), undefined);
  });

  it('believes X-Forwarded-Host only with PSOTrustProxy on', () => {
    const headers = { origin: 'https://public.example', 'x-forwarded-host': 'public.example, inner' };
    assert.notEqual(problem(headers), undefined);
    assert.equal(problem(headers, { PSOTrustProxy: 'on' }), undefined);
  });
});
