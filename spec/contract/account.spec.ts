// samples/account.ts on every host of the contract suite (CGI under Apache and
// nginx, mod_fcgid, pso serve --fastcgi behind Apache and nginx, pso serve,
// Express, a fetch handler, the command line): log in, the welcome flash
// once, a note posted with and without the session's CSRF token, and "log
// out everywhere" ending the user's session in two browsers; then a check
// that every host answered alike.
import assert from 'node:assert/strict';
import { HOSTS, SERVICE, answeredAlike, hostForSuite, sampleModule, type ContractHost, type HostResponse, type Transcripts } from './hosts.js';
import { Jar } from './jar.js';

const ACCOUNT = sampleModule('account');
const ID = /^[A-Za-z0-9_-]{27}$/;
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** The value of the page's hidden csrf field. */
function csrfField(body: string): string {
  const m = /<input type="hidden" name="csrf" value="([^"]*)">/.exec(body);
  assert.ok(m, `no csrf field in ${body}`);
  return m[1]!;
}

/** What each host answered, with what differs by host (its base path, ids, tokens) taken out. */
const transcripts: Transcripts = new Map();

for (const definition of HOSTS) {
  describe(`samples/account.ts on ${definition.name}`, function () {
    this.timeout(60_000);
    let host: ContractHost;
    let record: Record<string, unknown>;
    /** `s` with the host's base path, where a path starts, as `<base>` (the base path is '' on servers). */
    const unbased = (s: string) =>
      s.replace(new RegExp(`(^|["\\s])${host.basePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`, 'g'), '$1<base>/');
    const note = (key: string, res: HostResponse) => {
      const location = res.headers.get('location');
      record[key] = {
        status: res.status,
        type: res.headers.get('content-type'),
        location: location === null ? null : unbased(location),
        body: unbased(res.body).replace(/name="csrf" value="[^"]*"/, 'name="csrf" value="<token>"'),
      };
    };
    const page = (jar: Jar) => jar.request('/');
    const login = (jar: Jar, user: string) => jar.request(`/login?user=${encodeURIComponent(user)}`);
    const post = (jar: Jar, body: string) => jar.request('/note', { method: 'POST', headers: FORM, body });

    hostForSuite(definition, `samples/account.ts on the ${definition.name} host`, ACCOUNT, transcripts, (started, fresh) => {
      host = started;
      record = fresh;
    });

    it('GET /login?user=NAME: 303 to the page, with a new session id bound to NAME', async () => {
      const jar = new Jar(host);
      const anonymous = await page(jar);
      assert.equal(anonymous.status, 200, anonymous.body);
      assert.match(anonymous.body, /<p id="user">user: -<\/p>/);
      note('anonymous', anonymous);
      const before = jar.cookies.get(SERVICE);
      assert.match(before ?? '', ID, 'the page keeps a session for its token');

      const res = await login(jar, 'ada');
      assert.equal(res.status, 303, res.body);
      assert.equal(res.headers.get('location'), `${host.basePath}/`);
      const after = jar.cookies.get(SERVICE);
      assert.match(after ?? '', ID);
      assert.notEqual(after, before, 'a login gives a new id');
      note('login', res);

      // The id from before the login is worth nothing: it opens an empty session.
      const planted = new Jar(host);
      planted.cookies.set(SERVICE, before!);
      assert.match((await page(planted)).body, /user: -/);
    });

    it('GET /: user: NAME and the welcome flash on the first page after the login only, a form with the csrf field', async () => {
      const jar = new Jar(host);
      await login(jar, 'ada');
      const first = await page(jar);
      assert.equal(first.status, 200, first.body);
      assert.equal(first.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(first.headers.get('cache-control'), 'private, no-store');
      assert.match(first.body, /<p id="user">user: ada<\/p>/);
      assert.match(first.body, /<p class="flash">flash: welcome ada<\/p>/);
      assert.ok(first.body.includes(`<form method="post" action="${host.basePath}/note"><input type="hidden" name="csrf" value="`), first.body);
      assert.match(csrfField(first.body), /^[A-Za-z0-9_-]{64}$/);
      note('firstPage', first);

      const second = await page(jar);
      assert.match(second.body, /user: ada/);
      assert.doesNotMatch(second.body, /flash:/);
      note('secondPage', second);
    });

    it('escapes what it echoes: a user name, its flash, a note', async () => {
      const jar = new Jar(host);
      const name = '<b>"ada" & co\'</b>';
      assert.equal((await login(jar, name)).status, 303);
      const shown = await page(jar);
      const escaped = '&#60;b&#62;&#34;ada&#34; &#38; co&#39;&#60;/b&#62;';
      assert.ok(shown.body.includes(`user: ${escaped}</p>`), shown.body);
      assert.ok(shown.body.includes(`flash: welcome ${escaped}</p>`), shown.body);
      assert.ok(!shown.body.includes('<b>'), shown.body);
      const noted = await post(jar, new URLSearchParams({ csrf: csrfField(shown.body), text: '<script>x</script>' }).toString());
      assert.equal(noted.status, 200, noted.body);
      assert.ok(noted.body.includes('noted: &#60;script&#62;x&#60;/script&#62;'), noted.body);
    });

    it('POST /note: 200 noted: TEXT with the session\'s token; 403 without one, with a wrong one, or with another session\'s', async () => {
      const jar = new Jar(host);
      await login(jar, 'ada');
      const token = csrfField((await page(jar)).body);
      const ok = await post(jar, new URLSearchParams({ csrf: token, text: 'milk and honey' }).toString());
      assert.equal(ok.status, 200, ok.body);
      assert.match(ok.body, /<p id="noted">noted: milk and honey<\/p>/);
      note('noted', ok);

      const missing = await post(jar, 'text=milk');
      assert.equal(missing.status, 403, missing.body);
      assert.doesNotMatch(missing.body, /noted/);
      note('noToken', missing);
      const wrong = await post(jar, `csrf=${'A'.repeat(64)}&text=milk`);
      assert.equal(wrong.status, 403, wrong.body);
      const other = new Jar(host);
      await login(other, 'ada');
      const othersToken = csrfField((await page(other)).body);
      const stolen = await post(jar, new URLSearchParams({ csrf: othersToken, text: 'milk' }).toString());
      assert.equal(stolen.status, 403, 'a token of another session of the same user');
      // The page's own token still works after the refusals.
      assert.equal((await post(jar, new URLSearchParams({ csrf: token, text: 'again' }).toString())).status, 200);
    });

    it('GET /logout-everywhere: the user\'s sessions in both browsers end; another user\'s does not', async () => {
      const user = `ada-${definition.name}`;
      const [laptop, phone, bob] = [new Jar(host), new Jar(host), new Jar(host)];
      await login(laptop, user);
      await login(phone, user);
      await login(bob, 'bob');
      for (const jar of [laptop, phone]) assert.ok((await page(jar)).body.includes(`user: ${user}</p>`));
      assert.notEqual(laptop.cookies.get(SERVICE), phone.cookies.get(SERVICE));

      const out = await laptop.request('/logout-everywhere');
      assert.equal(out.status, 303, out.body);
      assert.equal(out.headers.get('location'), `${host.basePath}/`);
      assert.equal(laptop.cookies.has(SERVICE), false, 'the cookie of the browser that logged out is cleared');
      note('logoutEverywhere', out);

      const phoneId = phone.cookies.get(SERVICE);
      for (const jar of [laptop, phone]) {
        const after = await page(jar);
        assert.equal(after.status, 200, after.body);
        assert.match(after.body, /<p id="user">user: -<\/p>/);
        assert.doesNotMatch(after.body, /flash:/);
      }
      assert.notEqual(phone.cookies.get(SERVICE), phoneId, 'the other browser\'s id is refused: it got a new session');
      assert.match((await page(bob)).body, /user: bob</);
      // Logged out, the page still works: a new login, a new welcome.
      await login(phone, user);
      assert.match((await page(phone)).body, /flash: welcome ada-/);
    });

    it('answers 404 elsewhere and 400 for a login without a name', async () => {
      assert.equal((await host.request('/nowhere')).status, 404);
      assert.equal((await host.request('/login')).status, 400);
      assert.equal((await host.request(`/login?user=${'x'.repeat(201)}`)).status, 400);
    });
  });
}

answeredAlike('samples/account.ts on every host', transcripts);
