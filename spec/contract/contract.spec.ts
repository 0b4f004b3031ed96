// One handler, every host: the same tests against the contract handler under
// Apache CGI, nginx + fcgiwrap CGI, node:http, Express, a fetch handler and the
// command line, then a check that every host answered alike.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOSTS, SERVICE, answeredAlike, hostForSuite, type ContractHost, type HostResponse, type Transcripts } from './hosts.js';
import { Jar } from './jar.js';
import { setCookieOf } from '../support/responses.js';

const ID = /^[A-Za-z0-9_-]{27}$/;

/** A Set-Cookie header by cookie name: its value and its attributes, names in lower case. */
const cookieOf = (res: HostResponse, name: string) => setCookieOf(res.headers, name);

/** Waits for a line holding `token` in the host's PSOLog file (CGI servers write it as the script runs). */
async function logLines(host: ContractHost, token: string): Promise<string[]> {
  let lines: string[] = [];
  for (let i = 0; i < 40 && lines.length === 0; i++) {
    if (i) await new Promise((r) => setTimeout(r, 50));
    lines = host.log().split('\n').filter((l) => l.includes(token));
  }
  return lines;
}

/** A form as the bytes and Content-Type (with its boundary) a browser would send. */
async function encode(form: FormData): Promise<{ body: Uint8Array; type: string }> {
  const encoded = new Response(form);
  return { body: new Uint8Array(await encoded.arrayBuffer()), type: encoded.headers.get('content-type')! };
}

/** The upload directory is empty once the request is over (a CGI process may still be ending when the response arrives). */
async function assertNoUploadsLeft(host: ContractHost): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 40; i++) {
    if (i) await new Promise((r) => setTimeout(r, 50));
    left = readdirSync(host.uploadDir);
    if (left.length === 0) return;
  }
  assert.deepEqual(left, [], `temporary files left in ${host.uploadDir}`);
}

let tokens = 0;
const token = () => `tok${process.pid}n${++tokens}r${Math.random().toString(36).slice(2, 8)}`;

/** What each host answered, in a form that must be the same for all. */
const transcripts: Transcripts = new Map();

for (const definition of HOSTS) {
  describe(`the contract handler on ${definition.name}`, function () {
    this.timeout(60_000);
    let host: ContractHost;
    let record: Record<string, unknown>;
    /** A response as compared between hosts; `body` without what differs by host (its paths). */
    const note = (key: string, res: HostResponse, body = res.body) => {
      record[key] = { status: res.status, type: res.headers.get('content-type'), body };
    };
    /** An echo body with the path given relative to the host's base path. */
    const relative = (body: string) => {
      const echo = JSON.parse(body) as { path: string };
      return { ...echo, path: echo.path.startsWith(host.basePath) ? echo.path.slice(host.basePath.length) : echo.path };
    };

    hostForSuite(definition, `the ${definition.name} host`, undefined, transcripts, (started, fresh) => {
      host = started;
      record = fresh;
    });

    it('counts 1, 2, 3 in one session, under the PSOServiceId cookie; another client starts at 1', async () => {
      const jar = new Jar(host);
      const first = await jar.request('/counter');
      assert.equal(first.status, 200, first.body);
      assert.equal(first.body, 'count: 1\n');
      assert.equal(first.headers.get('content-type'), 'text/plain; charset=utf-8');
      const { value: id, attrs } = cookieOf(first, SERVICE);
      assert.match(id, ID);
      assert.equal(attrs.get('path'), '/');
      assert.ok(attrs.has('httponly'));
      assert.equal(attrs.get('samesite')?.toLowerCase(), 'lax');
      note('counter', first);
      record.sessionCookieAttributes = [...attrs.keys()].sort();

      for (const n of [2, 3]) {
        const res = await jar.request('/counter');
        assert.equal(res.body, `count: ${n}\n`);
        assert.equal(jar.cookies.get(SERVICE), id, 'the session id must not change');
      }
      const other = await new Jar(host).request('/counter');
      assert.equal(other.body, 'count: 1\n');
      assert.notEqual(cookieOf(other, SERVICE).value, id);
    });

    it('reads a request header, sets a response header and a cookie of its own beside the session cookie', async () => {
      const res = await host.request('/headers', { headers: { 'X-Test': 'hello there' } });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { xTest: 'hello there' });
      assert.equal(res.headers.get('x-out'), 'seen hello there');
      const flavour = cookieOf(res, 'flavour');
      assert.equal(flavour.value, 'oat');
      assert.deepEqual([...flavour.attrs], [['path', '/'], ['samesite', 'Lax']]);
      assert.match(cookieOf(res, SERVICE).value, ID);
      note('headers', res);

      const without = await host.request('/headers');
      assert.deepEqual(JSON.parse(without.body), { xTest: null });
      assert.equal(without.headers.get('x-out'), 'seen nothing');
    });

    it('redirects with the status asked for (302 by default) and keeps the session across the redirect', async () => {
      const jar = new Jar(host);
      assert.equal((await jar.request('/counter')).body, 'count: 1\n');
      const to = `${host.basePath}/counter`;
      for (const [status, expected] of [['303', 303], ['', 302], ['308', 308]] as const) {
        const res = await jar.request(`/redirect?to=${encodeURIComponent(to)}${status ? `&status=${status}` : ''}`);
        assert.equal(res.status, expected, res.body);
        assert.equal(res.headers.get('location'), to);
        assert.equal(res.body, `Redirecting to ${to}\n`);
        note(`redirect${expected}`, res, res.body.replace(to, '<to>'));
      }
      const followed = await jar.request('/counter');
      assert.equal(followed.body, 'count: 2\n', 'the session survived the redirects');
    });

    it('cannot be made to split its response: a redirect target is percent-encoded, a header value HTTP cannot carry is refused', async () => {
      const attack = '/x\u010d\u010aSet-Cookie: admin=1\u010d\u010a\u010d\u010a<script>';
      const encoded = '/x%C4%8D%C4%8ASet-Cookie:%20admin=1%C4%8D%C4%8A%C4%8D%C4%8A%3Cscript%3E';
      const res = await host.request(`/redirect?to=${encodeURIComponent(attack)}`);
      assert.equal(res.status, 302, res.body);
      assert.equal(res.headers.get('location'), encoded);
      assert.equal(res.body, `Redirecting to ${encoded}\n`);
      assert.deepEqual(res.headers.getSetCookie().filter((c) => !c.startsWith(`${SERVICE}=`)), []);
      note('splitRedirect', res);

      const header = await host.request(`/header?value=${encodeURIComponent('a\u010d\u010aSet-Cookie: admin=1')}`);
      assert.equal(header.status, 200, header.body);
      assert.equal(header.headers.get('x-out'), null);
      assert.match(header.body, /^refused: InvalidHeaderError: header X-Out has the character U\+010D at position 1 of its value/);
      assert.deepEqual(header.headers.getSetCookie().filter((c) => !c.startsWith(`${SERVICE}=`)), []);
      note('splitHeader', header);
    });

    it('answers sendStatus(418) with that status and its reason', async () => {
      const res = await host.request('/status?code=418');
      assert.equal(res.status, 418);
      assert.equal(res.body, "I'm a Teapot\n");
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      note('status', res);
      const missing = await host.request('/nowhere');
      assert.equal(missing.status, 404);
      assert.equal(missing.body, 'Not Found\n');
    });

    it('answers a request whose large body the handler never reads, and serves the next one', async () => {
      const res = await host.request('/status?code=202', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: randomBytes(2 * 1024 * 1024) });
      assert.equal(res.status, 202, res.body);
      assert.equal(res.body, 'Accepted\n');
      note('unreadBody', res);
      const next = await host.request('/echo?after=unread');
      assert.equal(next.status, 200, next.body);
      assert.equal(JSON.parse(next.body).query, 'after=unread');
    });

    it('request.log() appends one line to the PSOLog file', async () => {
      const t = token();
      const res = await host.request(`/log?token=${t}`);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, 'logged\n');
      const lines = await logLines(host, t);
      assert.equal(lines.length, 1, `one line with ${t} in:\n${host.log()}`);
      assert.match(lines[0]!, new RegExp(`^\\[pso\\] \\d{4}-\\d\\d-\\d\\dT\\S+Z info GET ${host.basePath.replace(/\./g, '\\.')}/log: contract-log-line ${t}$`));
    });

    it('answers 500 without details when the handler throws, logs the error in PSOLog, and serves the next request', async () => {
      const t = token();
      const res = await host.request(`/throw?token=${t}`);
      assert.equal(res.status, 500, res.body);
      assert.equal(res.body, '500 Internal Server Error\n');
      assert.equal(res.headers.getSetCookie().length, 0, 'no session for a failed request');
      note('throw', res);
      const lines = await logLines(host, t);
      assert.equal(lines.length, 1, `one line with ${t} in:\n${host.log()}`);
      assert.match(lines[0]!, new RegExp(`^\\[pso\\] \\S+ error GET ${host.basePath.replace(/\./g, '\\.')}/throw: handler failed: Error: contract failure ${t}$`));

      const next = await new Jar(host).request('/counter');
      assert.equal(next.status, 200);
      assert.equal(next.body, 'count: 1\n');
    });

    it('reads an urlencoded form: repeated keys in order, unicode names and values, empty values', async () => {
      const body = new URLSearchParams([['name', 'Zoë'], ['tag', 'a'], ['tag', 'b & c'], ['clé', '😀 ✓'], ['empty', '']]).toString();
      const res = await host.request('/form', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { name: ['Zoë'], tag: ['a', 'b & c'], 'clé': ['😀 ✓'], empty: [''] });
      note('formUrlencoded', res);
    });

    it('reads a multipart form: repeated keys in order, unicode names and values, empty values', async () => {
      const fields = new FormData();
      for (const [k, v] of [['name', 'Zoë'], ['tag', 'a'], ['tag', 'b & c'], ['clé', '😀 ✓'], ['empty', ''], ['lines', 'one\r\ntwo']]) fields.append(k!, v!);
      const { body, type } = await encode(fields);
      const res = await host.request('/form', { method: 'POST', headers: { 'Content-Type': type }, body });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { name: ['Zoë'], tag: ['a', 'b & c'], 'clé': ['😀 ✓'], empty: [''], lines: ['one\r\ntwo'] });
      note('formMultipart', res);
    });

    it('takes a 5 MB upload: reports its name, size and type, save() puts the same bytes where asked, no temporary file remains', async () => {
      const bytes = randomBytes(5 * 1024 * 1024);
      const dest = join(host.scratch, `upload-${token()}.bin`);
      const fields = new FormData();
      fields.append('dest', dest);
      fields.append('file', new Blob([bytes], { type: 'application/x-contract' }), 'payload.bin');
      const { body, type } = await encode(fields);
      const res = await host.request('/upload', { method: 'POST', headers: { 'Content-Type': type }, body });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), {
        filename: 'payload.bin', size: bytes.byteLength, type: 'application/x-contract', tempDir: host.uploadDir, savedTo: dest,
      }, 'written to PSOUploadDir while the request lasted, then moved');
      const saved = readFileSync(dest);
      assert.equal(saved.byteLength, bytes.byteLength);
      assert.ok(saved.equals(bytes), 'the saved file holds the bytes sent');
      note('upload', res, res.body.replace(dest, '<dest>').replace(host.uploadDir, '<uploads>'));
      await assertNoUploadsLeft(host);
    });

    it('removes an upload the handler neither saves nor keeps', async () => {
      const fields = new FormData();
      fields.append('file', new Blob([randomBytes(256 * 1024)]), 'ignored.bin');
      const { body, type } = await encode(fields);
      const res = await host.request('/upload', { method: 'POST', headers: { 'Content-Type': type }, body });
      assert.equal(res.status, 400, res.body);
      await assertNoUploadsLeft(host);
    });

    it('echoes the method, path and raw query, and reads a POST body', async () => {
      const get = await host.request('/echo?a=1&b=x%20y&c=%C3%A9');
      assert.equal(get.status, 200, get.body);
      assert.deepEqual(JSON.parse(get.body), {
        method: 'GET', route: '/echo', path: `${host.basePath}/echo`, query: 'a=1&b=x%20y&c=%C3%A9', body: '',
      });
      note('echoGet', get, JSON.stringify(relative(get.body)));

      const post = await host.request('/echo?via=post', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello body ✓' });
      assert.equal(post.status, 200, post.body);
      assert.deepEqual(JSON.parse(post.body), {
        method: 'POST', route: '/echo', path: `${host.basePath}/echo`, query: 'via=post', body: 'hello body ✓',
      });
      note('echoPost', post, JSON.stringify(relative(post.body)));
    });

    it('flash: a POST that flashes and redirects (303) shows the message once, on the page the redirect leads to', async () => {
      const jar = new Jar(host);
      const posted = await jar.request('/flash/note?text=milk', { method: 'POST' });
      assert.equal(posted.status, 303, posted.body);
      const location = posted.headers.get('location')!;
      assert.equal(location, `${host.basePath}/flash/show`);
      const shown = await jar.request(location.slice(host.basePath.length));
      assert.equal(shown.status, 200, shown.body);
      assert.deepEqual(JSON.parse(shown.body), [{ kind: 'info', message: 'noted milk' }]);
      note('flash', shown);
      assert.deepEqual(JSON.parse((await jar.request('/flash/show')).body), []);
    });

    it('CSRF: a token from the page lets a POST through; without one, or from another site, a 403 names the check', async () => {
      const jar = new Jar(host);
      const token = (await jar.request('/csrf/token')).body;
      assert.match(token, /^[A-Za-z0-9_-]{64}$/);
      const form = (body: string, headers: Record<string, string> = {}) =>
        jar.request('/csrf/post', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body });
      const ok = await form(`csrf=${token}&text=hi`);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, 'posted hi\n');
      note('csrfOk', ok);
      const missing = await form('text=hi');
      assert.equal(missing.status, 403);
      assert.equal(missing.body, '403 Forbidden\nCSRF check failed (token): no CSRF token came: send request.csrfToken() in the csrf field of the form, or the X-CSRF-Token header\n');
      note('csrfMissing', missing);
      const headerToken = await form('text=via-header', { 'X-CSRF-Token': token });
      assert.equal(headerToken.body, 'posted via-header\n');
      const crossSite = await form(`csrf=${token}&text=hi`, { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' });
      assert.equal(crossSite.status, 403);
      assert.match(crossSite.body, /^403 Forbidden\nCSRF check failed \(origin\): the browser says the request came from another site \(Sec-Fetch-Site: cross-site, Origin: https:\/\/evil\.example\)/);
      note('csrfCrossSite', crossSite);
      // Elsewhere the default, PSOCsrf origin: a cross-site POST with the session cookie is refused, a same-origin one is not.
      const counter = (site: string) => jar.request('/counter', { method: 'POST', headers: { 'Sec-Fetch-Site': site } });
      assert.equal((await counter('same-origin')).status, 200);
      assert.equal((await counter('same-site')).status, 403);
    });

    it('read-only and released sessions: reads go on, changes are refused, and the same visitor\'s next request does not wait', async () => {
      const jar = new Jar(host);
      await jar.request('/counter');
      const poll = await jar.request('/poll');
      assert.equal(poll.body, 'count: 1, change: SessionReadOnlyError\n');
      note('poll', poll);
      const released = await jar.request('/release');
      assert.equal(released.body, 'count: 2, change after release: SessionReadOnlyError\n');
      note('release', released);
      assert.equal((await jar.request('/counter')).body, 'count: 3\n', 'the poll saved nothing, release() saved its count');
      for (const mode of ['ro', 'release']) {
        const file = join(host.scratch, `hold-${token()}`);
        const held = jar.request(`/hold?mode=${mode}&file=${encodeURIComponent(file)}`);
        for (let i = 0; i < 400 && !existsSync(`${file}.inside`); i++) await new Promise((r) => setTimeout(r, 25));
        assert.ok(existsSync(`${file}.inside`), `the ${mode} request is in its handler`);
        try {
          const next = await jar.request('/counter');
          assert.equal(next.status, 200, next.body);
        } finally {
          writeFileSync(`${file}.go`, '');
        }
        assert.match((await held).body, /^held, count: \d+\n$/);
      }
      assert.equal((await jar.request('/counter')).body, 'count: 6\n');
    });

    it('touch(): moves a stored session\'s expiry; a session not stored has none to move', async () => {
      const jar = new Jar(host);
      assert.equal((await jar.request('/touch')).body, 'touched: false\n');
      await jar.request('/counter');
      const touched = await jar.request('/touch');
      assert.equal(touched.body, 'touched: true\n');
      note('touch', touched);
    });

    it('PSOSessionHeader Authorization: a bearer token carries the id, and a new id comes back in X-Session-Id', async () => {
      const first = await host.request('/counter');
      const id = first.headers.get('x-session-id');
      assert.ok(id && ID.test(id), `X-Session-Id: ${id}`);
      assert.equal(cookieOf(first, SERVICE).value, id, 'a client that sent no id gets the cookie too');
      const again = await host.request('/counter', { headers: { Authorization: `Bearer ${id}` } });
      assert.equal(again.body, 'count: 2\n', 'the host passed Authorization to the handler');
      assert.deepEqual(again.headers.getSetCookie(), []);
      note('bearer', again);
      const planted = await host.request('/counter', { headers: { Authorization: `Bearer ${'Z'.repeat(27)}` } });
      assert.equal(planted.body, 'count: 1\n');
      assert.notEqual(planted.headers.get('x-session-id'), 'Z'.repeat(27));
    });

    it('Cache-Control: private, no-store on a response that sets or shows the session, none on one that does not', async () => {
      const jar = new Jar(host);
      assert.equal((await jar.request('/counter')).headers.get('cache-control'), 'private, no-store');
      assert.equal((await jar.request('/counter')).headers.get('cache-control'), 'private, no-store');
      const plain = await jar.request('/echo?x=1');
      assert.equal(plain.headers.get('cache-control'), null);
      record.cacheControl = [(await jar.request('/poll')).headers.get('cache-control'), plain.headers.get('cache-control')];
    });
  });
}

answeredAlike('the contract handler on every host', transcripts);
