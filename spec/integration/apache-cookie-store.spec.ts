// The cookie store for CGI under a real Apache httpd (PSOSessionStore cookie:):
// the quick sample's counter kept in the cookie, where no session directory
// can be made (/proc takes none); the same script on files fails there at once.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { startApache, type ApacheServer } from '../support/apache.js';
import { CookieJar, ROOT } from '../support/http.js';

const SERVICE = 'MyPSOTest';
const KEY = 'k1-a-secret-of-at-least-thirty-two-characters';
const OTHER_KEY = 'k2-another-secret-of-thirty-two-characters-or-more';
/** A directory that cannot be made: mkdir in /proc says ENOENT, though /proc exists. */
const NO_DIRECTORY = '/proc/pso-sessions';

describe('cookie sessions for CGI under a real Apache httpd (PSOSessionStore cookie:)', function () {
  this.timeout(60_000);

  let apache: ApacheServer | undefined;
  let base: string | undefined;

  /** One request, cut off after 20 s (a script that hangs shows as such, with the error log). */
  async function get(jar: CookieJar, path: string): Promise<{ status: number; body: string }> {
    let res: Response;
    try {
      res = await jar.fetch(`${apache!.url}${path}`, { signal: AbortSignal.timeout(20_000) });
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}\n${apache!.errorLog()}`);
    }
    return { status: res.status, body: await res.text() };
  }

  const count = (body: string) => Number(/You reloaded: (\d+) times/.exec(body)?.[1]);

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP;
    if (reason) {
      console.log(`    skipping the Apache cookie store suite: ${reason}`);
      this.skip();
    }
    base = mkdtempSync('/tmp/pso-apache-cookie-');
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    for (const dir of ['', 'cookie', 'other-key', 'files']) mkdirSync(join(docroot, dir), { recursive: true, mode: 0o755 });
    chmodSync(docroot, 0o755);
    await bundleHandler({ entry: join(ROOT, 'samples', 'quick.ts'), outfile: join(docroot, 'cookie', 'quick.cgi') });
    for (const dir of ['other-key', 'files']) {
      copyFileSync(join(docroot, 'cookie', 'quick.cgi'), join(docroot, dir, 'quick.cgi'));
      chmodSync(join(docroot, dir, 'quick.cgi'), 0o755);
    }
    writeFileSync(join(docroot, '.htaccess'), [
      'Options +ExecCGI',
      'AddHandler cgi-script .cgi',
      `SetEnv PSOServiceId ${SERVICE}`,
      `SetEnv PSOSessionFileLoader_Path ${NO_DIRECTORY}`,
      '',
    ].join('\n'), { mode: 0o644 });
    writeFileSync(join(docroot, 'cookie', '.htaccess'), `SetEnv PSOSessionStore cookie:\nSetEnv PSOSessionCookieKeys ${KEY}\n`, { mode: 0o644 });
    writeFileSync(join(docroot, 'other-key', '.htaccess'), `SetEnv PSOSessionStore cookie:\nSetEnv PSOSessionCookieKeys ${OTHER_KEY}\n`, { mode: 0o644 });
    apache = await startApache({ docroot });
  });

  after(async () => {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('counts 1, 2, 3 with the session sealed in the cookie, sealed again on each change', async () => {
    const jar = new CookieJar();
    const seen: string[] = [];
    for (const expected of [1, 2, 3]) {
      const { status, body } = await get(jar, '/cookie/quick.cgi');
      assert.equal(status, 200, `${body}\n${apache!.errorLog()}`);
      assert.equal(count(body), expected, body);
      const value = jar.cookies.get(SERVICE);
      assert.ok(value && value.length > 100, `a sealed session in the cookie, not an id: ${value}`);
      assert.ok(!seen.includes(value), 'sealed again with the new count');
      seen.push(value);
    }
    // Sealed with another key, the cookie opens as nothing: a new session.
    const other = await get(jar, '/other-key/quick.cgi');
    assert.equal(count(other.body), 1, other.body);
  });

  it('a cookie altered by the client opens as nothing: a new session, not an error', async () => {
    const jar = new CookieJar();
    await get(jar, '/cookie/quick.cgi');
    await get(jar, '/cookie/quick.cgi');
    const value = jar.cookies.get(SERVICE)!;
    const flipped = value.slice(0, 40) + (value[40] === 'A' ? 'B' : 'A') + value.slice(41);
    jar.cookies.set(SERVICE, flipped);
    const { status, body } = await get(jar, '/cookie/quick.cgi');
    assert.equal(status, 200, body);
    assert.equal(count(body), 1, body);
  });

  it('the same script on files answers 500 at once: the session directory cannot be made there', async () => {
    const { status, body } = await get(new CookieJar(), '/files/quick.cgi');
    assert.equal(status, 500, body);
    assert.equal(body, '500 Internal Server Error\n');
    let log = apache!.errorLog();
    for (let i = 0; i < 40 && !log.includes('cannot be made'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = apache!.errorLog();
    }
    assert.ok(
      log.includes(`PSOSessionFileLoader_Path="${NO_DIRECTORY}" is invalid: the session directory cannot be made: ` +
        `mkdir says ${NO_DIRECTORY} does not exist, yet /proc does`),
      log,
    );
  });
});
