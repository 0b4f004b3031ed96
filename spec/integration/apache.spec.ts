// The CGI host behind a real Apache httpd (event MPM + mod_cgid): bundled
// samples, directives from .htaccess, file sessions written as www-data.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { startApache, type ApacheServer } from '../support/apache.js';
import { CookieJar, ROOT } from '../support/http.js';
import { reloadCount, setCookieOf } from '../support/responses.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';

const SERVICE = 'MyPSOTest';
const ID = /^[A-Za-z0-9_-]{27}$/;
const SESSION_FILE = /^pso_MyPSOTest_~[A-Za-z0-9_-]{43}\.json$/;
/** A session file, or the older version it keeps as the spare its next version is written into. */
const SESSION_FILE_OR_SPARE = /^pso_MyPSOTest_~[A-Za-z0-9_-]{43}\.(json|spare)$/;

const idOf = (name: string) => Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
const modeOf = (p: string) => statSync(p).mode & 0o777;
const fileNameOf = (id: string) => sessionFileName(SERVICE, id);

const counter = reloadCount;

/** The one MyPSOTest Set-Cookie of a response, split into id and attributes. */
function sessionCookie(res: Response): { id: string; attrs: Map<string, string> } {
  const { value, attrs } = setCookieOf(res.headers, SERVICE);
  return { id: value, attrs };
}

/** A directory owned by www-data, mode 0700, whether or not it existed. */
function wwwDataDir(dir: string, uid: number, gid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
}

describe('CGI under a real Apache httpd (mod_cgid)', function () {
  this.timeout(60_000);

  let apache: ApacheServer | undefined;
  let base: string;
  let docroot: string;
  let sessions: string;
  let rootOnly: string;
  let created: string;
  let wwwUid: number;
  let wwwGid: number;
  let lingerDone: string;
  const url = (p: string) => `${apache!.url}${p}`;

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP;
    if (reason) {
      console.log(`    skipping the Apache suite: ${reason}`);
      this.skip();
    }
    wwwUid = idOf('www-data');
    wwwGid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());

    // Under /tmp so that www-data can traverse every parent.
    base = mkdtempSync('/tmp/pso-apache-spec-');
    chmodSync(base, 0o755);
    docroot = join(base, 'htdocs');
    sessions = join(base, 'sessions');
    rootOnly = join(base, 'root-only');
    created = join(base, 'www-data-owned');
    mkdirSync(docroot, { mode: 0o755 });
    wwwDataDir(sessions, wwwUid, wwwGid);
    // www-data cannot write here (nor even look inside).
    mkdirSync(rootOnly, { mode: 0o700 });
    // pso must create <created>/new/sessions itself.
    mkdirSync(created, { mode: 0o755 });
    chownSync(created, wwwUid, wwwGid);

    await Promise.all(
      ['quick', 'test', 'path0'].map((name) =>
        bundleHandler({ entry: join(ROOT, 'samples', `${name}.ts`), outfile: join(docroot, `${name}.cgi`) })),
    );
    // Here the subclass decides where sessions go: the inherited directive is removed.
    const own = join(docroot, 'own');
    mkdirSync(own, { mode: 0o755 });
    await Promise.all(
      ['path1', 'path2'].map((name) =>
        bundleHandler({ entry: join(ROOT, 'samples', `${name}.ts`), outfile: join(own, `${name}.cgi`) })),
    );
    writeFileSync(join(own, '.htaccess'), 'UnsetEnv PSOSessionFileLoader_Path\n', { mode: 0o644 });

    const subdir = (name: string, htaccess: string) => {
      const dir = join(docroot, name);
      mkdirSync(dir, { mode: 0o755 });
      copyFileSync(join(docroot, 'quick.cgi'), join(dir, 'quick.cgi'));
      chmodSync(join(dir, 'quick.cgi'), 0o755);
      writeFileSync(join(dir, '.htaccess'), htaccess, { mode: 0o644 });
    };
    // A script that has work left after its answer, and says when it is done.
    lingerDone = join(base, 'linger-state', 'done');
    wwwDataDir(join(base, 'linger-state'), wwwUid, wwwGid);
    mkdirSync(join(docroot, 'linger'), { mode: 0o755 });
    await bundleHandler({ entry: join(ROOT, 'spec/support/lingerHandler.ts'), outfile: join(docroot, 'linger', 'linger.cgi') });
    writeFileSync(join(docroot, 'linger', '.htaccess'), `SetEnv PSO_TEST_MARKER ${lingerDone}\nSetEnv PSO_TEST_LINGER_MS 300\n`, { mode: 0o644 });
    subdir('blocked', `SetEnv PSOSessionFileLoader_Path ${rootOnly}\n`);
    subdir('fresh', `SetEnv PSOSessionFileLoader_Path ${join(created, 'new/sessions')}\n`);

    writeFileSync(
      join(docroot, '.htaccess'),
      [
        'Options +ExecCGI',
        'AddHandler cgi-script .cgi',
        `SetEnv PSOServiceId ${SERVICE}`,
        `SetEnv PSOSessionFileLoader_Path ${sessions}`,
        'SetEnv PSOSessionExpire "15*60"',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );

    // Room for the 10 KB cookie below (Apache's default limit is 8190 bytes per header).
    apache = await startApache({ docroot, extraConfig: 'LimitRequestFieldSize 32768\n' });
  });

  after(async function () {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('quick.cgi: MyPSOTest cookie of 15 minutes, a counter per session, private files in the directive\'s directory', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/quick.cgi'));
    assert.equal(first.status, 200);
    assert.equal(counter(await first.text()), 1);
    const { id, attrs } = sessionCookie(first);
    assert.match(id, ID);
    assert.equal(attrs.get('max-age'), '900');
    assert.equal(attrs.get('path'), '/');
    assert.ok(attrs.has('httponly'));
    const date = Date.parse(first.headers.get('date')!);
    const expires = Date.parse(attrs.get('expires')!);
    assert.ok(Number.isFinite(date) && Number.isFinite(expires), `Date ${first.headers.get('date')}, Expires ${attrs.get('expires')}`);
    assert.ok(Math.abs(expires - (date + 900_000)) <= 3_000, `Expires ${attrs.get('expires')} is not 900 s after Date ${first.headers.get('date')}`);

    for (const expected of [2, 3]) {
      const res = await jar.fetch(url('/quick.cgi'));
      assert.equal(res.status, 200);
      assert.equal(counter(await res.text()), expected);
      assert.equal(jar.cookies.get(SERVICE), id, 'the session id must not change');
    }

    const other = new CookieJar();
    const res = await other.fetch(url('/quick.cgi'));
    assert.equal(counter(await res.text()), 1);
    const otherId = sessionCookie(res).id;
    assert.notEqual(otherId, id);

    for (const sid of [id, otherId]) {
      const file = join(sessions, fileNameOf(sid));
      assert.ok(existsSync(file), `${file} is missing; ${sessions} holds ${readdirSync(sessions).join(', ')}`);
      assert.equal(modeOf(file).toString(8), '600');
      assert.equal(statSync(file).uid, wwwUid, 'written by the CGI as www-data');
    }
    assert.equal(modeOf(sessions).toString(8), '700');
  });

  it('a script with work left after its answer finishes it: its output ends only then, so Apache does not cut it short', async () => {
    const res = await fetch(url('/linger/linger.cgi'));
    assert.equal(await res.text(), 'answeredlate\nlate again\n');
    assert.ok(existsSync(lingerDone), 'the work was done before the response ended');
  });

  it('creates a missing session directory 0700', async () => {
    const dir = join(created, 'new/sessions');
    assert.ok(!existsSync(dir));
    const res = await new CookieJar().fetch(url('/fresh/quick.cgi'));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(counter(await res.text()), 1);
    const { id } = sessionCookie(res);
    assert.equal(modeOf(dir).toString(8), '700');
    assert.equal(modeOf(join(dir, fileNameOf(id))).toString(8), '600');
  });

  it('test.cgi answers hello world; it never touches its session, so no cookie is sent and nothing stored', async () => {
    const before = readdirSync(sessions).length;
    const res = await new CookieJar().fetch(url('/test.cgi'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello world\n');
    assert.deepEqual(res.headers.getSetCookie(), []);
    assert.equal(readdirSync(sessions).length, before);
  });

  it('path0.cgi: the .htaccess directive overrides the sample\'s default /tmp/path0/', async () => {
    const jar = new CookieJar();
    for (const expected of [1, 2]) {
      const res = await jar.fetch(url('/path0.cgi'));
      assert.equal(res.status, 200);
      assert.equal(counter(await res.text()), expected);
    }
    const id = jar.cookies.get(SERVICE)!;
    assert.match(id, ID);
    assert.ok(existsSync(join(sessions, fileNameOf(id))), 'stored in the directive\'s directory');
    assert.ok(!existsSync(join('/tmp/path0', fileNameOf(id))), 'not in the sample\'s default');
  });

  for (const [name, dir] of [['path1', '/tmp/path1'], ['path2', '/tmp/path2']] as const) {
    describe(`${name}.cgi without the directive`, () => {
      before(() => wwwDataDir(dir, wwwUid, wwwGid));
      // www-data's directory: other suites, as root, would rightly refuse it.
      after(() => rmSync(dir, { recursive: true, force: true }));

      it(`stores the session in ${dir}/, as the subclass says`, async () => {
        const jar = new CookieJar();
        const res = await jar.fetch(url(`/own/${name}.cgi`));
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(counter(await res.text()), 1);
        const { id } = sessionCookie(res);
        assert.ok(existsSync(join(dir, fileNameOf(id))), `no session file in ${dir}`);
        assert.ok(!existsSync(join(sessions, fileNameOf(id))), 'the directive was unset');
        const again = await jar.fetch(url(`/own/${name}.cgi`));
        assert.equal(counter(await again.text()), 2);
      });
    });
  }

  it('loses no increment under 50 concurrent requests on one session', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/quick.cgi'));
    const start = counter(await first.text());
    const cookie = jar.header();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => fetch(url('/quick.cgi'), { headers: { cookie } })),
    );
    const seen: number[] = [];
    for (const res of responses) {
      const body = await res.text();
      assert.equal(res.status, 200, body);
      seen.push(counter(body));
    }
    seen.sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => start + 1 + i));
    const last = await jar.fetch(url('/quick.cgi'));
    assert.equal(counter(await last.text()), start + 51);
    // No lock or temporary file is left behind.
    const leftovers = readdirSync(sessions).filter((n) => !SESSION_FILE_OR_SPARE.test(n));
    assert.deepEqual(leftovers, []);
  });

  it('gives a malformed cookie a fresh session and writes nothing outside the session directory', async () => {
    const before = new Set(readdirSync(base));
    for (const value of ['../../etc/passwd', 'A'.repeat(10 * 1024), '%00', `..%2F..%2F${'x'.repeat(20)}`]) {
      const res = await fetch(url('/quick.cgi'), { headers: { cookie: `${SERVICE}=${value}` } });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.equal(counter(body), 1);
      const { id } = sessionCookie(res);
      assert.match(id, ID);
      assert.notEqual(id, value);
      assert.ok(existsSync(join(sessions, fileNameOf(id))));
    }
    // Only session files, nothing built from the cookie (no subdirectories either).
    for (const name of readdirSync(sessions)) {
      assert.match(name, SESSION_FILE_OR_SPARE);
      assert.ok(lstatSync(join(sessions, name)).isFile());
    }
    assert.deepEqual(new Set(readdirSync(base)), before);
    assert.ok(!existsSync('/etc/passwd.json') && !existsSync(join(base, 'etc')));
  });

  it('answers 500 without details when the session directory is not writable, and logs why', async () => {
    const newClient = `${SERVICE}=`;
    const returning = `${SERVICE}=${'B'.repeat(27)}`;
    for (const cookie of [newClient, returning]) {
      const res = await fetch(url('/blocked/quick.cgi'), { headers: { cookie } });
      const body = await res.text();
      assert.equal(res.status, 500, body);
      assert.ok(body.length < 200, `body too long: ${body}`);
      assert.doesNotMatch(body, /\bat .+:\d+|\w*Error:|EACCES|\/tmp\//, 'no stack trace or path in the body');
      assert.equal(res.headers.getSetCookie().length, 0, 'no session for a failed request');
    }
    assert.deepEqual(readdirSync(rootOnly), []);
    // Apache logs a CGI's stderr as it reads it: allow it a moment.
    let lines: string[] = [];
    let log = '';
    for (let i = 0; i < 40 && lines.length < 2; i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      log = apache!.errorLog();
      lines = log.split('\n').filter((l) => l.startsWith('[pso]') && l.includes('/blocked/quick.cgi'));
    }
    assert.equal(lines.length, 2, `one pso line per request in:\n${log}`);
    // New client: saving fails, with the directory and what to do about it.
    assert.match(lines[0]!, / error GET \/blocked\/quick\.cgi: 500: cannot write session file in (\S+): EACCES.*PSOSessionFileLoader_Path/);
    assert.ok(lines[0]!.includes(`in ${rootOnly}:`), lines[0]);
    // Returning client: taking the lock file fails first; the line still names the directory.
    assert.match(lines[1]!, / error .*EACCES/);
    assert.ok(lines[1]!.includes(`${rootOnly}/`), lines[1]);
    assert.doesNotMatch(log, /^\s+at \S.*:\d+:\d+\)?$/m, 'no stack trace in the log');
  });
});

// The "More Control" recipes (docs/recipes/) under Apache: bundled samples in
// /recipes/ whose .htaccess sets the cookie policy, names in any case.
describe('the recipes under a real Apache httpd (mod_cgid)', function () {
  this.timeout(90_000);

  let apache: ApacheServer | undefined;
  let base: string;
  let sessions: string;
  const url = (p: string) => `${apache!.url}${p}`;
  const sessionFile = (service: string, id: string) => join(sessions, `${sessionFileName(service, id)}`);

  /** The one Set-Cookie named `name`, split into value and attributes. */
  function cookieOf(res: Response, name: string): { value: string; attrs: Map<string, string> } {
    const all = res.headers.getSetCookie().filter((c) => c.startsWith(`${name}=`));
    assert.equal(all.length, 1, `expected one ${name} cookie, got ${JSON.stringify(res.headers.getSetCookie())}`);
    const [pair, ...rest] = all[0]!.split(';').map((s) => s.trim());
    const attrs = new Map<string, string>();
    for (const a of rest) {
      const eq = a.indexOf('=');
      attrs.set((eq < 0 ? a : a.slice(0, eq)).toLowerCase(), eq < 0 ? '' : a.slice(eq + 1));
    }
    return { value: pair!.slice(name.length + 1), attrs };
  }

  /** The policy of /recipes/.htaccess: Path, SameSite=Strict, no HttpOnly. */
  function assertPolicy(attrs: Map<string, string>): void {
    assert.equal(attrs.get('path'), '/recipes/');
    assert.equal(attrs.get('samesite'), 'Strict');
    assert.ok(!attrs.has('httponly'), 'psocookiesession_httponly off');
  }

  const number = (body: string, re: RegExp) => {
    const m = re.exec(body);
    assert.ok(m, `unexpected body: ${JSON.stringify(body)}`);
    return Number(m[1]);
  };
  const reloads = (body: string) => number(body, /You reloaded: (\d+) times/);
  const hrefOf = (body: string, id: string) => {
    const m = new RegExp(`id="${id}" href="([^"]+)"`).exec(body);
    assert.ok(m, `no link #${id} in ${body}`);
    return m[1]!;
  };

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP;
    if (reason) {
      console.log(`    skipping the Apache recipes suite: ${reason}`);
      this.skip();
    }
    const wwwUid = idOf('www-data');
    const wwwGid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());
    base = mkdtempSync('/tmp/pso-apache-recipes-');
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    const recipes = join(docroot, 'recipes');
    const attrs = join(recipes, 'attrs');
    sessions = join(base, 'sessions');
    mkdirSync(attrs, { recursive: true, mode: 0o755 });
    chmodSync(docroot, 0o755);
    chmodSync(recipes, 0o755);
    wwwDataDir(sessions, wwwUid, wwwGid);

    await Promise.all([
      ...['expire', 'revert', 'nocookie', 'login'].map((name) =>
        bundleHandler({ entry: join(ROOT, 'samples', `${name}.ts`), outfile: join(recipes, `${name}.cgi`) })),
      bundleHandler({ entry: join(ROOT, 'samples', 'cookieattrs.ts'), outfile: join(attrs, 'cookieattrs.cgi') }),
    ]);
    const htaccess = (dir: string, lines: string[]) => writeFileSync(join(dir, '.htaccess'), `${lines.join('\n')}\n`, { mode: 0o644 });
    htaccess(docroot, [
      'Options +ExecCGI',
      'AddHandler cgi-script .cgi',
      `SetEnv PSOServiceId ${SERVICE}`,
      `SetEnv PSOSessionFileLoader_Path ${sessions}`,
      'SetEnv PSOSessionExpire "15*60"',
    ]);
    htaccess(recipes, [
      // Each sample names its own cookie; sessions last until the browser closes.
      'UnsetEnv PSOServiceId',
      'UnsetEnv PSOSessionExpire',
      'SetEnv TZ UTC',
      'SetEnv PSOCookieSession_Path /recipes/',
      'SetEnv PSOCookieSession_SameSite Strict',
      'SetEnv psocookiesession_httponly off',
      'SetEnv PSOSessionUrl on',
    ]);
    htaccess(attrs, [
      // Apache passes this to the CGI as PSOCookieSession_Max_Age.
      'SetEnv PSOCookieSession_Max-Age 1800',
      'SetEnv pSOcookiesession_PRIORITY low',
    ]);
    apache = await startApache({ docroot });
  });

  after(async function () {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('expire.cgi: the .htaccess cookie policy, ids in links until the cookie comes back, expire(0) clears it', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/recipes/expire.cgi'));
    const body = await first.text();
    assert.equal(first.status, 200, body);
    assert.equal(reloads(body), 1);
    const { value: id, attrs } = cookieOf(first, 'expire');
    assert.match(id, ID);
    assertPolicy(attrs);
    assert.ok(!attrs.has('max-age') && !attrs.has('expires'), 'the root\'s PSOSessionExpire is unset here');
    // PSOSessionUrl on: no cookie came in, so the links carry the id, and the Referer must not.
    assert.equal(hrefOf(body, 'now'), `/recipes/expire.cgi?how=now&expire=${id}`);
    assert.equal(first.headers.get('referrer-policy'), 'no-referrer');

    const second = await jar.fetch(url('/recipes/expire.cgi'));
    const secondBody = await second.text();
    assert.equal(reloads(secondBody), 2);
    assert.equal(hrefOf(secondBody, 'now'), '/recipes/expire.cgi?how=now');
    assert.equal(second.headers.get('referrer-policy'), null);

    const now = await jar.fetch(url('/recipes/expire.cgi?how=now'));
    assert.equal(reloads(await now.text()), 3);
    const cleared = cookieOf(now, 'expire');
    assert.equal(cleared.value, '');
    assert.equal(cleared.attrs.get('max-age'), '0');
    assert.equal(cleared.attrs.get('path'), '/recipes/', 'cleared under the path it was set with');
    assert.ok(!existsSync(sessionFile('expire', id)), 'the session file is deleted');
    const again = await jar.fetch(url('/recipes/expire.cgi'));
    assert.equal(reloads(await again.text()), 1);
    assert.notEqual(cookieOf(again, 'expire').value, id);

    const min = await jar.fetch(url('/recipes/expire.cgi?how=15min'));
    assert.equal(reloads(await min.text()), 2);
    assert.equal(cookieOf(min, 'expire').attrs.get('max-age'), '900');
    const date = await jar.fetch(url('/recipes/expire.cgi?how=date'));
    await date.text();
    assert.equal(cookieOf(date, 'expire').attrs.get('expires'), 'Mon, 15 Apr 2030 19:00:00 GMT');
  });

  it('revert.cgi: undo keeps the count, save keeps one increment', async () => {
    const jar = new CookieJar();
    const get = async (q = '') => {
      const res = await jar.fetch(url(`/recipes/revert.cgi${q}`));
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return text;
    };
    assert.equal(await get(), 'visits: 1\n');
    assert.equal(await get('?undo=1'), 'visits: 1\n');
    assert.equal(await get('?save=1'), 'visits: 2\n');
    assert.equal(await get(), 'visits: 3\n');
  });

  it('nocookie.cgi: a client without cookies follows the links and keeps its session; planted ids are refused', async () => {
    let res = await fetch(url('/recipes/nocookie.cgi'));
    let body = await res.text();
    assert.equal(res.status, 200, body);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const { value: id, attrs } = cookieOf(res, 'nocookie');
    assertPolicy(attrs);
    for (const n of [2, 3]) {
      const href = hrefOf(body, 'next');
      assert.equal(href, `/recipes/nocookie.cgi?nocookie=${id}`);
      res = await fetch(url(href));
      body = await res.text();
      assert.equal(number(body, /Visits: (\d+)/), n);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    }
    const planted = 'P'.repeat(27);
    const refused = await fetch(url(`/recipes/nocookie.cgi?nocookie=${planted}`));
    assert.equal(number(await refused.text(), /Visits: (\d+)/), 1);
    assert.notEqual(cookieOf(refused, 'nocookie').value, planted);
    assert.ok(!existsSync(sessionFile('nocookie', planted)));
  });

  it('attrs/cookieattrs.cgi: .htaccess directives override the sample\'s defaults (Max-Age with a hyphen, names in any case)', async () => {
    const res = await fetch(url('/recipes/attrs/cookieattrs.cgi'));
    assert.equal(await res.text(), 'visits: 1\n');
    const { attrs } = cookieOf(res, 'cookieattrs');
    assertPolicy(attrs);
    assert.equal(attrs.get('max-age'), '1800', 'the sample says 3600');
    assert.equal(attrs.get('priority'), 'Low', 'the sample says High');
  });

  it('login.cgi: 401 on a wrong password, a new session id on login, the old one dead, logout deletes the session', async () => {
    const jar = new CookieJar();
    const page = await jar.fetch(url('/recipes/login.cgi'));
    const pageBody = await page.text();
    assert.equal(page.status, 200, pageBody);
    // A page that stores nothing sends no cookie; its links carry an id while no cookie has come back (PSOSessionUrl on).
    assert.equal(jar.cookies.get('login'), undefined);
    assert.match(pageBody, /<form method="post" action="\/recipes\/login\.cgi\/login\?login=[A-Za-z0-9_-]{27}">/);

    const post = (path: string, fields: Record<string, string>) => jar.fetch(url(path), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
    });
    // A failed login stores its count: the session that must not survive the login.
    const first = await post('/recipes/login.cgi/login', { user: 'ada', password: 'babbage' });
    assert.equal(first.status, 401);
    await first.text();
    assertPolicy(cookieOf(first, 'login').attrs);
    const before = jar.cookies.get('login')!;
    assert.match(before, ID);
    const wrong = await post('/recipes/login.cgi/login', { user: 'ada', password: 'babbage' });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /<p id="error">wrong user or password<\/p>/);
    assert.equal(jar.cookies.get('login'), before);

    const right = await post('/recipes/login.cgi/login', { user: 'ada', password: 'lovelace' });
    await right.text();
    assert.equal(right.status, 302);
    const after = cookieOf(right, 'login').value;
    assert.match(after, ID);
    assert.notEqual(after, before, 'a new session id on login');
    assert.ok(!existsSync(sessionFile('login', before)), 'the pre-login session is deleted');
    assert.ok(existsSync(sessionFile('login', after)));

    const home = new URL(right.headers.get('location')!, url('/recipes/login.cgi/login')).href;
    assert.equal(home, url('/recipes/login.cgi/'));
    const me = await jar.fetch(home);
    const meBody = await me.text();
    assert.match(meBody, /Logged in as ada/);
    const stale = await fetch(url('/recipes/login.cgi/'), { headers: { cookie: `login=${before}` } });
    assert.doesNotMatch(await stale.text(), /Logged in/);

    const out = await post('/recipes/login.cgi/logout', {});
    await out.text();
    assert.equal(out.status, 302);
    const cleared = cookieOf(out, 'login');
    assert.equal(cleared.value, '');
    assert.equal(cleared.attrs.get('max-age'), '0');
    assert.equal(cleared.attrs.get('path'), '/recipes/');
    assert.ok(!existsSync(sessionFile('login', after)), 'the session file is deleted on logout');
  });
});
