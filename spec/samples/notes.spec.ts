// samples/notes.ts as a CGI script: a CSRF token in its form, a flash after
// the redirect, a read-only poll.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cookiePair, runCgi, sample, type ParsedResponse } from '../support/http.js';

describe('samples/notes.ts under CGI', function () {
  this.timeout(30_000);
  let dir: string;
  let cookie = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-notes-'));
    cookie = '';
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** One CGI request, keeping the session cookie as a browser would. */
  async function cgi(method: string, path: string, body = ''): Promise<ParsedResponse> {
    const r = await runCgi(sample('notes'), {
      REQUEST_METHOD: method, PATH_INFO: path, PSOSessionFileLoader_Path: dir, HTTP_COOKIE: cookie || undefined,
      ...(body ? { CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(Buffer.byteLength(body)) } : {}),
    }, body);
    const set = cookiePair(r.header('set-cookie'));
    if (set) cookie = set;
    return r;
  }
  const tokenOf = (page: ParsedResponse) => /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];

  it('adds a note posted with the token, shows "Noted" once after the redirect, and counts it in the read-only poll', async () => {
    const page = await cgi('GET', '/');
    assert.equal(page.status, 200, page.stderr);
    const token = tokenOf(page)!;
    assert.match(token, /^[A-Za-z0-9_-]{64}$/);
    assert.ok(cookie.startsWith('notes='), 'the page kept a session for its token');
    const posted = await cgi('POST', '/note', `csrf=${token}&text=${encodeURIComponent('buy <milk>')}`);
    assert.equal(posted.status, 303, posted.body + posted.stderr);
    assert.equal(posted.header('location'), '/cgi-bin/test.cgi/');
    const after = await cgi('GET', '/');
    assert.match(after.body, /<p class="info">Noted: buy &#60;milk&#62;<\/p>/);
    assert.match(after.body, /<ul id="notes"><li>buy &#60;milk&#62;<\/li><\/ul>/);
    assert.doesNotMatch((await cgi('GET', '/')).body, /Noted/);
    const poll = await cgi('GET', '/count');
    assert.equal(poll.body, '{"notes":1}');
    assert.equal(poll.header('set-cookie'), undefined);
  });

  it('refuses a post without the token with a 403 that says so', async () => {
    await cgi('GET', '/');
    const refused = await cgi('POST', '/note', 'text=forged');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /^403 Forbidden\nCSRF check failed \(token\): no CSRF token came/);
    assert.match((await cgi('GET', '/')).body, /<ul id="notes"><\/ul>/);
  });
});
