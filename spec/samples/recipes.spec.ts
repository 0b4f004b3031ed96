// The How-To's "More Control" recipes (docs/recipes/): each sample run as a
// CGI process, as a script and behind `pso serve`, plus the directive forms
// the recipe pages describe.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CookieFileImpl, ServiceHandler, TOKENS, createContainer, injectableSubclass, serve,
  type ServiceRequest, type Session,
} from '../../src/index.js';
import { CookieJar, runCgi, runScript, sample, startServer, type ParsedResponse } from '../support/http.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';
import { storedJson } from '../support/storedFile.js';

const ID = /^[A-Za-z0-9_-]{27}$/;

interface Cookie { name: string; value: string; attrs: Map<string, string> }

function parseSetCookie(header: string): Cookie {
  const [pair, ...rest] = header.split(';').map((s) => s.trim());
  const eq = pair!.indexOf('=');
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    attrs.set((i < 0 ? a : a.slice(0, i)).toLowerCase(), i < 0 ? '' : a.slice(i + 1));
  }
  return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attrs };
}

function setCookies(r: ParsedResponse | Response): string[] {
  return r instanceof Response ? r.headers.getSetCookie() : r.all('set-cookie');
}

/** The one Set-Cookie named `name`. */
function cookie(r: ParsedResponse | Response, name: string): Cookie {
  const all = setCookies(r).map(parseSetCookie).filter((c) => c.name === name);
  assert.equal(all.length, 1, `one ${name} cookie in ${JSON.stringify(setCookies(r))}`);
  return all[0]!;
}

/** A new session's id, checked. */
function newId(r: ParsedResponse | Response, name: string): string {
  const c = cookie(r, name);
  assert.match(c.value, ID);
  return c.value;
}

function assertCleared(c: Cookie): void {
  assert.equal(c.value, '');
  assert.equal(c.attrs.get('max-age'), '0');
  assert.equal(Date.parse(c.attrs.get('expires')!), 0);
}

function maxAge(c: Cookie): number {
  assert.ok(c.attrs.has('max-age'), `Max-Age in ${JSON.stringify([...c.attrs])}`);
  return Number(c.attrs.get('max-age'));
}

const count = (body: string, re: RegExp): number => {
  const m = re.exec(body);
  assert.ok(m, `unexpected body ${JSON.stringify(body)}`);
  return Number(m[1]);
};
const reloads = (body: string) => count(body, /You reloaded: (\d+) times/);
const visits = (body: string) => count(body, /[Vv]isits: (\d+)/);
const hrefOf = (body: string, id: string) => {
  const m = new RegExp(`id="${id}" href="([^"]+)"`).exec(body);
  assert.ok(m, `no link #${id} in ${body}`);
  return m[1]!;
};
const queryOf = (url: string) => (url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
const directiveArgs = (d: Record<string, string>) => Object.entries(d).flatMap(([k, v]) => ['-D', `${k}=${v}`]);

describe('recipes', () => {
  let tmp: string;
  let env: Record<string, string>;
  const file = (service: string, id: string) => join(tmp, `${sessionFileName(service, id)}`);

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'pso-recipes-'));
    // The strptime form of expire() is local time, as time.mktime made it.
    env = { PSOSessionFileLoader_Path: tmp, PSOSessionGCProbability: '0', TZ: 'UTC' };
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  describe('expire.ts', () => {
    const S = 'expire';

    it('as a CGI process: browser lifetime by default; ?how=now clears the cookie and deletes the session', async () => {
      const first = await runCgi(sample(S), env);
      assert.equal(first.status, 200, first.stderr);
      assert.equal(reloads(first.body), 1);
      const c = cookie(first, S);
      assert.match(c.value, ID);
      assert.ok(!c.attrs.has('max-age') && !c.attrs.has('expires'), 'a browser-lifetime cookie');
      const id = c.value;
      assert.ok(existsSync(file(S, id)));

      const second = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${id}` });
      assert.equal(reloads(second.body), 2);
      const now = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${id}`, QUERY_STRING: 'how=now' });
      assert.equal(now.status, 200, now.stderr);
      assertCleared(cookie(now, S));
      assert.equal(cookie(now, S).attrs.get('path'), '/');
      assert.ok(!existsSync(file(S, id)), 'the session file is deleted');

      // A browser that kept the old cookie anyway starts again at 1.
      const next = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${id}` });
      assert.equal(reloads(next.body), 1);
      assert.notEqual(newId(next, S), id);
    });

    it('as a CGI process: ?how=15min gives Max-Age=900, ?how=twodays about 172800 s, ?how=date the 2030 date', async () => {
      const min = await runCgi(sample(S), { ...env, QUERY_STRING: 'how=15min' });
      const c = cookie(min, S);
      assert.equal(maxAge(c), 900);
      assert.ok(Math.abs(Date.parse(c.attrs.get('expires')!) - (Date.now() + 900_000)) < 5_000);
      // The stored session ends when the cookie does.
      const record = storedJson(file(S, c.value));
      assert.ok(Math.abs(record.expires - (Date.now() + 900_000)) < 5_000);

      const two = cookie(await runCgi(sample(S), { ...env, QUERY_STRING: 'how=twodays' }), S);
      assert.ok(Math.abs(maxAge(two) - 172_800) <= 5, `Max-Age ${maxAge(two)}`);

      const date = cookie(await runCgi(sample(S), { ...env, QUERY_STRING: 'how=date' }), S);
      assert.equal(date.attrs.get('expires'), 'Mon, 15 Apr 2030 19:00:00 GMT');
      assert.ok(Math.abs(maxAge(date) - Math.round((Date.UTC(2030, 3, 15, 19) - Date.now()) / 1000)) <= 5);
    });

    it('as a CGI process: the links are made with mkurl under the script\'s path', async () => {
      const r = await runCgi(sample(S), env);
      assert.equal(hrefOf(r.body, 'now'), '/cgi-bin/test.cgi?how=now');
      assert.equal(hrefOf(r.body, '15min'), '/cgi-bin/test.cgi?how=15min');
    });

    it('as a script: how=15min prints Max-Age=900; --cookie with how=now clears it', async () => {
      const first = await runScript(sample(S), ['how=15min'], env);
      assert.equal(first.code, 0, first.stderr);
      const c = cookie(first, S);
      assert.equal(maxAge(c), 900);
      const cleared = await runScript(sample(S), ['--cookie', `${S}=${c.value}`, 'how=now'], env);
      assert.equal(reloads(cleared.body), 2);
      assertCleared(cookie(cleared, S));
      assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.json')), []);
    });

    it('behind pso serve: 1, 2, then ?how=now forgets the session and the next request starts at 1', async () => {
      const server = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp }), { TZ: 'UTC' });
      try {
        const jar = new CookieJar();
        assert.equal(reloads(await (await jar.fetch(server.url)).text()), 1);
        assert.equal(reloads(await (await jar.fetch(server.url)).text()), 2);
        const now = await jar.fetch(`${server.url}?how=now`);
        assert.equal(reloads(await now.text()), 3);
        assertCleared(cookie(now, S));
        assert.equal(jar.cookies.size, 0);
        assert.equal(reloads(await (await jar.fetch(server.url)).text()), 1);

        const min = await jar.fetch(`${server.url}?how=15min`);
        assert.equal(reloads(await min.text()), 2);
        assert.equal(maxAge(cookie(min, S)), 900);
        const date = await jar.fetch(`${server.url}?how=date`);
        await date.text();
        assert.equal(cookie(date, S).attrs.get('expires'), 'Mon, 15 Apr 2030 19:00:00 GMT');
      } finally {
        await server.stop();
      }
    });

    describe('the directive forms (docs/recipes/expiry.md)', () => {
      const cases: [string, Record<string, string>, (c: Cookie) => void][] = [
        ['PSOSessionExpire 900', { PSOSessionExpire: '900' }, (c) => assert.equal(maxAge(c), 900)],
        ['PSOSessionExpire "15*60" with its quotes', { PSOSessionExpire: '"15*60"' }, (c) => assert.equal(maxAge(c), 900)],
        ['PSOSessionExpires 60*15', { PSOSessionExpires: '60*15' }, (c) => assert.equal(maxAge(c), 900)],
        ['PSOSessionExpire wins over PSOSessionExpires', { PSOSessionExpire: '60', PSOSessionExpires: '900' }, (c) => assert.equal(maxAge(c), 60)],
        ['an RFC 1123 date', { PSOSessionExpire: 'Sun, 06 Nov 2033 08:49:37 GMT' }, (c) => assert.equal(c.attrs.get('expires'), 'Sun, 06 Nov 2033 08:49:37 GMT')],
        ['an RFC 850 date', { PSOSessionExpire: 'Sunday, 06-Nov-33 08:49:37 GMT' }, (c) => assert.equal(c.attrs.get('expires'), 'Sun, 06 Nov 2033 08:49:37 GMT')],
        ['an asctime date', { PSOSessionExpire: 'Sun Nov  6 08:49:37 2033' }, (c) => assert.equal(c.attrs.get('expires'), 'Sun, 06 Nov 2033 08:49:37 GMT')],
        ['PSOSessionIdleTimeout caps a longer lifetime', { PSOSessionExpire: '3600', PSOSessionIdleTimeout: '600' }, (c) => assert.equal(maxAge(c), 600)],
        ['PSOSessionAbsoluteTimeout caps it from creation', { PSOSessionExpire: '3600', PSOSessionAbsoluteTimeout: '100' }, (c) => assert.equal(maxAge(c), 100)],
        ['code wins over the directive', { PSOSessionExpire: '60', QUERY_STRING: 'how=15min' }, (c) => assert.equal(maxAge(c), 900)],
      ];
      for (const [title, vars, check] of cases) {
        it(title, async () => {
          const r = await runCgi(sample(S), { ...env, ...vars });
          assert.equal(r.status, 200, r.stderr);
          check(cookie(r, S));
        });
      }

      it('a browser-lifetime session stays a cookie without Expires under PSOSessionIdleTimeout, and the file ends then', async () => {
        const r = await runCgi(sample(S), { ...env, PSOSessionIdleTimeout: '20*60' });
        const c = cookie(r, S);
        assert.ok(!c.attrs.has('max-age'));
        const record = storedJson(file(S, c.value));
        assert.ok(Math.abs(record.expires - (Date.now() + 1_200_000)) < 5_000);
      });

      it('a date in the past (the How-To\'s 2001 example) ends the session at once', async () => {
        const r = await runCgi(sample(S), { ...env, PSOSessionExpire: 'Mon, 15 Apr 2001 19:00:00 GMT' });
        assert.equal(reloads(r.body), 1);
        assert.deepEqual(setCookies(r), []);
        assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.json')), []);
      });

      for (const bad of ['15 minutes', 'require("fs")', '15*60; rm -rf /', '1/0']) {
        it(`refuses ${JSON.stringify(bad)} with a 500 naming the directive (never eval)`, async () => {
          const r = await runCgi(sample(S), { ...env, PSOSessionExpire: bad });
          assert.equal(r.status, 500);
          assert.match(r.stderr, /PSOSessionExpire/);
          assert.doesNotMatch(r.body, /PSOSessionExpire/, 'details go to the log only');
        });
      }
    });
  });

  describe('revert.ts', () => {
    const S = 'revert';

    it('as a CGI process: ?undo=1 keeps the count, ?save=1 keeps one increment', async () => {
      const first = await runCgi(sample(S), env);
      assert.equal(first.body, 'visits: 1\n', first.stderr);
      const id = newId(first, S);
      const run = (q: string) => runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${id}`, QUERY_STRING: q });
      assert.equal((await run('undo=1')).body, 'visits: 1\n');
      assert.equal((await run('undo=1')).body, 'visits: 1\n');
      assert.equal((await run('')).body, 'visits: 2\n');
      assert.equal((await run('save=1')).body, 'visits: 3\n');
      assert.equal(storedJson(file(S, id)).data.visits, 3);
      assert.equal((await run('save=1')).body, 'visits: 4\n');
      assert.equal((await run('')).body, 'visits: 5\n');
    });

    it('as a script', async () => {
      const first = await runScript(sample(S), [], env);
      const id = newId(first, S);
      assert.equal((await runScript(sample(S), ['--cookie', `${S}=${id}`, 'undo=1'], env)).body, 'visits: 1\n');
      assert.equal((await runScript(sample(S), ['--cookie', `${S}=${id}`, 'save=1'], env)).body, 'visits: 2\n');
    });

    it('behind pso serve', async () => {
      const server = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp }));
      try {
        const jar = new CookieJar();
        const get = async (q = '') => (await jar.fetch(`${server.url}${q}`)).text();
        assert.equal(await get(), 'visits: 1\n');
        assert.equal(await get('?undo=1'), 'visits: 1\n');
        assert.equal(await get('?save=1'), 'visits: 2\n');
        assert.equal(await get(), 'visits: 3\n');
      } finally {
        await server.stop();
      }
    });
  });

  describe('nocookie.ts', () => {
    const S = 'nocookie';

    it('as a CGI process: following the page\'s link without cookies keeps counting, with Referrer-Policy: no-referrer', async () => {
      const first = await runCgi(sample(S), env);
      assert.equal(first.status, 200, first.stderr);
      assert.equal(visits(first.body), 1);
      assert.equal(first.header('referrer-policy'), 'no-referrer');
      const id = newId(first, S);
      let href = hrefOf(first.body, 'next');
      assert.equal(href, `/cgi-bin/test.cgi?nocookie=${id}`);
      for (const n of [2, 3]) {
        const r = await runCgi(sample(S), { ...env, QUERY_STRING: queryOf(href) });
        assert.equal(visits(r.body), n);
        assert.equal(r.header('referrer-policy'), 'no-referrer');
        href = hrefOf(r.body, 'next');
        assert.equal(href, `/cgi-bin/test.cgi?nocookie=${id}`);
      }
      // The form posts the id too.
      const action = /<form method="post" action="([^"]+)"/.exec(first.body)![1]!;
      const post = await runCgi(sample(S), { ...env, REQUEST_METHOD: 'POST', QUERY_STRING: queryOf(action) });
      assert.equal(visits(post.body), 4);
      // ... and so does a form field of the service's name.
      const body = `nocookie=${id}`;
      const field = await runCgi(sample(S), {
        ...env, REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(body.length),
      }, body);
      assert.equal(visits(field.body), 5);
    });

    it('as a CGI process: an unknown id in the URL is never adopted', async () => {
      const planted = 'A'.repeat(27);
      const r = await runCgi(sample(S), { ...env, QUERY_STRING: `nocookie=${planted}` });
      assert.equal(visits(r.body), 1);
      const id = newId(r, S);
      assert.notEqual(id, planted);
      assert.equal(hrefOf(r.body, 'next'), `/cgi-bin/test.cgi?nocookie=${id}`);
      assert.ok(!existsSync(file(S, planted)));
    });

    it('as a CGI process: once the cookie comes back, links no longer carry the id', async () => {
      const id = newId(await runCgi(sample(S), env), S);
      const r = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${id}` });
      assert.equal(visits(r.body), 2);
      assert.equal(hrefOf(r.body, 'next'), '/cgi-bin/test.cgi');
      assert.equal(r.header('referrer-policy'), undefined);
    });

    it('as a CGI process: PSOSessionUrl only sends no cookie and ignores one', async () => {
      const first = await runCgi(sample(S), { ...env, PSOSessionUrl: 'only' });
      assert.deepEqual(setCookies(first), []);
      const id = /nocookie=([A-Za-z0-9_-]{27})/.exec(hrefOf(first.body, 'next'))![1]!;
      const withCookie = await runCgi(sample(S), { ...env, PSOSessionUrl: 'only', HTTP_COOKIE: `${S}=${id}` });
      assert.equal(visits(withCookie.body), 1, 'a cookie is no way in');
      const viaUrl = await runCgi(sample(S), { ...env, PSOSessionUrl: 'only', QUERY_STRING: `${S}=${id}` });
      assert.equal(visits(viaUrl.body), 2);
    });

    it('as a script: the id given as a query word', async () => {
      const first = await runScript(sample(S), [], env);
      const id = newId(first, S);
      const r = await runScript(sample(S), [queryOf(hrefOf(first.body, 'next'))], env);
      assert.equal(visits(r.body), 2);
      assert.equal(r.header('referrer-policy'), 'no-referrer');
      assert.match(hrefOf(r.body, 'next'), new RegExp(`nocookie=${id}$`));
    });

    it('behind pso serve: a client that never sends cookies follows the links and keeps its session', async () => {
      const server = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp }));
      try {
        let res = await fetch(server.url);
        assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
        let body = await res.text();
        assert.equal(visits(body), 1);
        const id = newId(res, S);
        for (const n of [2, 3]) {
          const href = hrefOf(body, 'next');
          assert.equal(href, `/?nocookie=${id}`);
          res = await fetch(new URL(href, server.url));
          assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
          body = await res.text();
          assert.equal(visits(body), n);
        }
        const planted = await fetch(`${server.url}?nocookie=${'B'.repeat(27)}`);
        assert.equal(visits(await planted.text()), 1);
        assert.notEqual(newId(planted, S), 'B'.repeat(27));
      } finally {
        await server.stop();
      }
    });
  });

  describe('cookieattrs.ts', () => {
    const S = 'cookieattrs';

    function assertDefaults(c: Cookie): void {
      assert.match(c.value, ID);
      assert.equal(c.attrs.get('samesite'), 'Strict');
      assert.equal(c.attrs.get('priority'), 'High');
      assert.equal(maxAge(c), 3600);
      assert.equal(c.attrs.get('path'), '/');
      assert.ok(c.attrs.has('httponly'));
      assert.ok(!c.attrs.has('secure'), 'not Secure over plain HTTP');
    }

    it('as a CGI process: the sample\'s directives give SameSite=Strict, Priority=High, Max-Age=3600', async () => {
      const r = await runCgi(sample(S), env);
      assert.equal(r.status, 200, r.stderr);
      assert.equal(r.body, 'visits: 1\n');
      assertDefaults(cookie(r, S));
    });

    it('as a CGI process: the environment overrides the sample\'s defaults, whatever the case of the name', async () => {
      const exact = cookie(await runCgi(sample(S), { ...env, PSOCookieSession_SameSite: 'Lax' }), S);
      assert.equal(exact.attrs.get('samesite'), 'Lax');
      const lower = cookie(await runCgi(sample(S), { ...env, psocookiesession_samesite: 'lax', PSOCOOKIESESSION_PRIORITY: 'low' }), S);
      assert.equal(lower.attrs.get('samesite'), 'Lax');
      assert.equal(lower.attrs.get('priority'), 'Low');
      // Apache hands `SetEnv PSOCookieSession_Max-Age` to a CGI as PSOCookieSession_Max_Age.
      const apache = cookie(await runCgi(sample(S), { ...env, PSOCookieSession_Max_Age: '60' }), S);
      assert.equal(maxAge(apache), 60);
      const expire = cookie(await runCgi(sample(S), { ...env, PSOSessionExpire: '120' }), S);
      assert.equal(maxAge(expire), 120, 'PSOSessionExpire wins over PSOCookieSession_Max-Age');
      const noHttpOnly = cookie(await runCgi(sample(S), { ...env, PSOCookieSession_HttpOnly: 'off', PSOCookieSession_Path: '/shop/' }), S);
      assert.ok(!noHttpOnly.attrs.has('httponly'));
      assert.equal(noHttpOnly.attrs.get('path'), '/shop/');
    });

    it('as a CGI process: Secure over HTTPS, and behind a proxy only with PSOTrustProxy on', async () => {
      assert.ok(cookie(await runCgi(sample(S), { ...env, HTTPS: 'on' }), S).attrs.has('secure'));
      const proxied = { ...env, HTTP_X_FORWARDED_PROTO: 'https' };
      assert.ok(!cookie(await runCgi(sample(S), proxied), S).attrs.has('secure'));
      assert.ok(cookie(await runCgi(sample(S), { ...proxied, PSOTrustProxy: 'on' }), S).attrs.has('secure'));
      assert.ok(!cookie(await runCgi(sample(S), { ...env, HTTPS: 'on', PSOCookieSession_Secure: 'off' }), S).attrs.has('secure'));
    });

    it('as a CGI process: the RFC 2109 attributes and an invalid value', async () => {
      const c = cookie(await runCgi(sample(S), {
        ...env, PSOCookieSession_Comment: 'pso session', PSOCookieSession_Version: '1', PSOCookieSession_Domain: 'example.org',
      }), S);
      assert.equal(c.attrs.get('comment'), '"pso session"');
      assert.equal(c.attrs.get('version'), '1');
      assert.equal(c.attrs.get('domain'), 'example.org');
      // PSOCookieSession_expires sets the session's end, as PSOSessionExpire would (quick.ts has no Max-Age default).
      const dated = cookie(await runCgi(sample('quick'), { ...env, PSOCookieSession_expires: 'Sun, 06 Nov 2033 08:49:37 GMT' }), 'quick');
      assert.equal(dated.attrs.get('expires'), 'Sun, 06 Nov 2033 08:49:37 GMT');
      const bad = await runCgi(sample(S), { ...env, PSOCookieSession_SameSite: 'None' });
      assert.equal(bad.status, 500);
      assert.match(bad.stderr, /PSOCookieSession_SameSite.*Secure/);
    });

    it('as a script, with an environment override', async () => {
      assertDefaults(cookie(await runScript(sample(S), [], env), S));
      const r = await runScript(sample(S), [], { ...env, PSOCookieSession_Priority: 'Medium' });
      assert.equal(cookie(r, S).attrs.get('priority'), 'Medium');
    });

    it('behind pso serve: the module\'s directives, and -D over them', async () => {
      const plain = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp }));
      try {
        const res = await fetch(plain.url);
        assert.equal(await res.text(), 'visits: 1\n');
        assertDefaults(cookie(res, S));
      } finally {
        await plain.stop();
      }
      const overridden = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp, PSOCookieSession_SameSite: 'Lax', psocookiesession_priority: 'low', PSOCookieSession_Max_Age: '60' }));
      try {
        const c = cookie(await fetch(overridden.url), S);
        assert.equal(c.attrs.get('samesite'), 'Lax');
        assert.equal(c.attrs.get('priority'), 'Low');
        assert.equal(maxAge(c), 60);
      } finally {
        await overridden.stop();
      }
    });
  });

  describe('login.ts', () => {
    const S = 'login';
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const post = (path: string, cookieHeader: string, body = '') => runCgi(sample(S), {
      ...env, REQUEST_METHOD: 'POST', PATH_INFO: path, HTTP_COOKIE: cookieHeader,
      CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(Buffer.byteLength(body)),
    }, body);

    it('as a CGI process: 401 on a wrong password; a new id on login, the old one dead; logout clears everything', async () => {
      const page = await runCgi(sample(S), env);
      assert.equal(page.status, 200, page.stderr);
      assert.match(page.body, /<form method="post" action="\/cgi-bin\/test\.cgi\/login">/);
      assert.deepEqual(setCookies(page), [], 'a visit that stores nothing gets no session');

      // A failed login stores its error: the visitor's session before logging in.
      const first = await post('/login', '', form({ user: 'ada', password: 'babbage' }));
      assert.equal(first.status, 401);
      const before = newId(first, S);
      const wrong = await post('/login', `${S}=${before}`, form({ user: 'ada', password: 'babbage' }));
      assert.equal(wrong.status, 401);
      assert.match(wrong.body, /<p id="error">wrong user or password<\/p>/);
      assert.match(wrong.body, /id="login"/);
      assert.deepEqual(setCookies(wrong), [], 'a failed login keeps the session id');

      const right = await post('/login', `${S}=${before}`, form({ user: 'ada', password: 'lovelace' }));
      assert.equal(right.status, 302, right.stderr);
      assert.equal(right.header('location'), './');
      const after = newId(right, S);
      assert.notEqual(after, before, 'a new session id on login');
      assert.ok(!existsSync(file(S, before)), 'the pre-login session is deleted');
      assert.ok(existsSync(file(S, after)));
      assert.equal(storedJson(file(S, after)).user.id, 'ada');

      const old = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${before}` });
      assert.doesNotMatch(old.body, /Logged in/);
      // The old id is dead: the client is told to forget it.
      assertCleared(cookie(old, S));
      const me = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${after}` });
      assert.match(me.body, /<p id="who">Logged in as ada<\/p>/);
      assert.match(me.body, /action="\/cgi-bin\/test\.cgi\/logout"/);

      const out = await post('/logout', `${S}=${after}`);
      assert.equal(out.status, 302);
      assertCleared(cookie(out, S));
      assert.ok(!existsSync(file(S, after)), 'the session file is deleted on logout');
      const again = await runCgi(sample(S), { ...env, HTTP_COOKIE: `${S}=${after}` });
      assert.doesNotMatch(again.body, /Logged in/);
    });

    it('as a script: -X POST --path /login with the fields as words', async () => {
      const before = newId(await runScript(sample(S), ['-X', 'POST', '--path', '/login', 'user=ada', 'password=no'], env), S);
      const r = await runScript(sample(S), ['-X', 'POST', '--path', '/login', '--cookie', `${S}=${before}`, 'user=ada', 'password=lovelace'], env);
      assert.equal(r.status, 302, r.stderr);
      assert.notEqual(newId(r, S), before);
      const wrong = await runScript(sample(S), ['-X', 'POST', '--path', '/login', 'user=ada', 'password=x'], env);
      assert.equal(wrong.status, 401);
      assert.match(wrong.body, /wrong user or password/);
    });

    it('behind pso serve: log in, see who, log out', async () => {
      const server = await startServer(sample(S), directiveArgs({ PSOSessionFileLoader_Path: tmp }));
      try {
        const jar = new CookieJar();
        const page = await jar.fetch(server.url);
        assert.match(await page.text(), /action="\/login"/);
        const postForm = (path: string, fields: Record<string, string>) => jar.fetch(new URL(path, server.url).href, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(fields),
        });
        const wrong = await postForm('/login', { user: 'ada', password: 'nope' });
        assert.equal(wrong.status, 401);
        assert.match(await wrong.text(), /wrong user or password/);
        const before = jar.cookies.get(S)!;
        assert.match(before, ID, 'the failed login stored its error in a session');
        const right = await postForm('/login', { user: 'ada', password: 'lovelace' });
        assert.equal(right.status, 302);
        await right.text();
        const after = jar.cookies.get(S)!;
        assert.notEqual(after, before);
        const me = await jar.fetch(new URL(right.headers.get('location')!, new URL('/login', server.url)).href);
        assert.match(await me.text(), /Logged in as ada/);
        const stale = await fetch(server.url, { headers: { cookie: `${S}=${before}` } });
        assert.doesNotMatch(await stale.text(), /Logged in/);
        const out = await postForm('/logout', {});
        assert.equal(out.status, 302);
        assertCleared(cookie(out, S));
        assert.ok(!existsSync(file(S, after)));
        assert.doesNotMatch(await (await fetch(server.url, { headers: { cookie: `${S}=${after}` } })).text(), /Logged in/);
      } finally {
        await server.stop();
      }
    });
  });

  describe('the service id and forced ids (docs/recipes/service-id.md)', () => {
    it('PSOServiceId names the cookie and the files; SetEnv <service id> <id> forces the id', async () => {
      const named = await runCgi(sample('quick'), { ...env, PSOServiceId: 'MyPSOTest' });
      const id = newId(named, 'MyPSOTest');
      assert.ok(existsSync(file('MyPSOTest', id)));
      const forced = { ...env, PSOServiceId: 'MyPSOTest', MyPSOTest: '007' };
      const first = await runCgi(sample('quick'), forced);
      assert.equal(cookie(first, 'MyPSOTest').value, '007');
      // Everyone gets that one session, whatever cookie they send.
      const other = await runCgi(sample('quick'), { ...forced, HTTP_COOKIE: `MyPSOTest=${id}` });
      assert.equal(reloads(other.body), 2);
      assert.ok(existsSync(file('MyPSOTest', '007')));
    });

    it('behind pso serve, with -D', async () => {
      const server = await startServer(sample('quick'), directiveArgs({ PSOSessionFileLoader_Path: tmp, PSOServiceId: 'MyPSOTest', MyPSOTest: '007' }));
      try {
        const a = await fetch(server.url);
        assert.equal(reloads(await a.text()), 1);
        assert.equal(cookie(a, 'MyPSOTest').value, '007');
        assert.equal(reloads(await (await fetch(server.url)).text()), 2, 'another client, the same session');
      } finally {
        await server.stop();
      }
    });

    it('refuses a forced id that is not a safe token, and a service id a client could set', async () => {
      const bad = await runCgi(sample('quick'), { ...env, PSOServiceId: 'MyPSOTest', MyPSOTest: '../etc/passwd' });
      assert.equal(bad.status, 500);
      assert.match(bad.stderr, /forced session id/);
      const cgiName = await runCgi(sample('quick'), { ...env, PSOServiceId: 'HTTP_X_SESSION' });
      assert.equal(cgiName.status, 500);
      assert.match(cgiName.stderr, /CGI variable/);
    });
  });

  describe('signed ids (docs/recipes/cookies.md)', () => {
    const OLD = 'old-secret-0123456789';
    const NEW = 'new-secret-9876543210';

    it('signs with the first secret, accepts the others, and re-signs a cookie made with an older one', async () => {
      const first = await runCgi(sample('quick'), { ...env, PSOSessionSecret: OLD });
      const signed = cookie(first, 'quick').value;
      assert.match(signed, /^[A-Za-z0-9_-]{27}\.[A-Za-z0-9_-]{43}$/);
      const id = signed.split('.')[0]!;
      assert.ok(existsSync(file('quick', id)), 'the file is named by the bare id');

      const rotated = await runCgi(sample('quick'), { ...env, PSOSessionSecret: `${NEW} ${OLD}`, HTTP_COOKIE: `quick=${signed}` });
      assert.equal(reloads(rotated.body), 2);
      const resigned = cookie(rotated, 'quick').value;
      assert.equal(resigned.split('.')[0], id, 'same session');
      assert.notEqual(resigned, signed, 're-signed with the new secret');

      // Once the old secret is gone, the re-signed cookie still works; the old one does not.
      assert.equal(reloads((await runCgi(sample('quick'), { ...env, PSOSessionSecret: NEW, HTTP_COOKIE: `quick=${resigned}` })).body), 3);
      const stale = await runCgi(sample('quick'), { ...env, PSOSessionSecret: NEW, HTTP_COOKIE: `quick=${signed}` });
      assert.equal(reloads(stale.body), 1);
      // A bare id is refused when ids are signed.
      assert.equal(reloads((await runCgi(sample('quick'), { ...env, PSOSessionSecret: NEW, HTTP_COOKIE: `quick=${id}` })).body), 1);
      const unchanged = await runCgi(sample('quick'), { ...env, PSOSessionSecret: NEW, HTTP_COOKIE: `quick=${resigned}` });
      assert.deepEqual(setCookies(unchanged), [], 'a cookie signed with the first secret is not sent again');
    });

    it('refuses secrets shorter than 16 characters', async () => {
      const r = await runCgi(sample('quick'), { ...env, PSOSessionSecret: 'short' });
      assert.equal(r.status, 500);
      assert.match(r.stderr, /PSOSessionSecret.*16 characters/);
      assert.doesNotMatch(r.stderr, /short/, 'the secret is not logged');
    });
  });

  describe('state (docs/recipes/state.md)', () => {
    it('PSOSessionLazy on: a session that holds nothing is neither stored nor sent', async () => {
      const r = await runCgi(sample('test'), { ...env, PSOSessionLazy: 'on' });
      assert.equal(r.body, 'hello world\n');
      assert.deepEqual(setCookies(r), []);
      assert.deepEqual(readdirSync(tmp), []);
      assert.match(cookie(await runCgi(sample('quick'), { ...env, PSOSessionLazy: 'on' }), 'quick').value, ID);
    });

    it('an unchanged session is not rewritten', async () => {
      const id = newId(await runCgi(sample('test'), { ...env, PSOSessionLazy: 'off' }), 'test');
      const before = readFileSync(file('test', id), 'utf8');
      await runCgi(sample('test'), { ...env, HTTP_COOKIE: `test=${id}` });
      assert.equal(readFileSync(file('test', id), 'utf8'), before);
    });
  });

  describe('PSOSessionUrl on with the default policy (docs/recipes/no-cookies.md)', () => {
    it('puts the id in mkurl() links until the cookie comes back', async () => {
      const first = await runCgi(sample('expire'), { ...env, PSOSessionUrl: 'on' });
      const id = newId(first, 'expire');
      assert.equal(hrefOf(first.body, 'now'), `/cgi-bin/test.cgi?how=now&expire=${id}`);
      assert.equal(first.header('referrer-policy'), 'no-referrer');
      const followed = await runCgi(sample('expire'), { ...env, PSOSessionUrl: 'on', QUERY_STRING: `how=15min&expire=${id}` });
      assert.equal(reloads(followed.body), 2);
      const withCookie = await runCgi(sample('expire'), { ...env, PSOSessionUrl: 'on', HTTP_COOKIE: `expire=${id}` });
      assert.equal(hrefOf(withCookie.body, 'now'), '/cgi-bin/test.cgi?how=now');
      // Without the directive an id in the URL is not read at all.
      const off = await runCgi(sample('expire'), { ...env, QUERY_STRING: `expire=${id}` });
      assert.equal(reloads(off.body), 1);
    });
  });

  describe('the cookie policy in code (docs/recipes/cookies.md)', () => {
    it('a CookieFileImpl subclass overriding cookieOptions, bound in the container', async () => {
      class StrictCookies extends CookieFileImpl {
        override cookieOptions(request: ServiceRequest, session: Session, expires: number | undefined) {
          return { ...super.cookieOptions(request, session, expires), sameSite: 'strict' as const, path: '/app/' };
        }
      }
      const container = createContainer();
      container.rebind(TOKENS.SessionImpl).to(injectableSubclass(StrictCookies)).inSingletonScope();
      const server = await serve((r: ServiceRequest) => { r.write(`${r.session.increment('n')}\n`); }, {
        port: 0, moduleName: 'app', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: tmp },
      });
      try {
        const jar = new CookieJar();
        const res = await jar.fetch(server.url);
        assert.equal(await res.text(), '1\n');
        const c = cookie(res, 'app');
        assert.equal(c.attrs.get('samesite'), 'Strict');
        assert.equal(c.attrs.get('path'), '/app/');
        assert.equal(await (await jar.fetch(server.url)).text(), '2\n');
      } finally {
        await server.close();
      }
    });
  });
});
