// The CGI host behind a real nginx and fcgiwrap: bundled handlers, directives
// from fastcgi_param, file sessions written as www-data.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { startNginx, type NginxServer } from '../support/nginx.js';
import { CookieJar, ROOT } from '../support/http.js';
import { reloadCount, setCookieOf } from '../support/responses.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';

const SERVICE = 'MyPSOTest';
const ID = /^[A-Za-z0-9_-]{27}$/;
/** A session file (named by a hash of its id), or the older version kept as the spare its next version is written into. */
const SESSION_FILE = /^pso_MyPSOTest_~[A-Za-z0-9_-]{43}\.(json|spare)$/;

const modeOf = (p: string) => statSync(p).mode & 0o777;

const counter = reloadCount;

/** The one MyPSOTest Set-Cookie of a response, split into id and attributes. */
function sessionCookie(res: Response): { id: string; attrs: Map<string, string> } {
  const { value, attrs } = setCookieOf(res.headers, SERVICE);
  return { id: value, attrs };
}

describe('CGI under a real nginx with fcgiwrap', function () {
  this.timeout(60_000);

  let nginx: NginxServer | undefined;
  let base: string;
  let sessions: string;
  let wwwUid: number;
  const url = (p: string) => `${nginx!.url}${p}`;

  before(async function () {
    const reason = process.env.PSO_NGINX_SKIP;
    if (reason) {
      console.log(`    skipping the nginx suite: ${reason}`);
      this.skip();
    }
    wwwUid = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }).trim());
    const wwwGid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());

    // Under /tmp so that www-data can traverse every parent.
    base = mkdtempSync('/tmp/pso-nginx-spec-');
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    sessions = join(base, 'sessions');
    mkdirSync(docroot, { mode: 0o755 });
    mkdirSync(sessions, { mode: 0o700 });
    chownSync(sessions, wwwUid, wwwGid);

    await Promise.all([
      bundleHandler({ entry: join(ROOT, 'samples/quick.ts'), outfile: join(docroot, 'quick.cgi') }),
      bundleHandler({ entry: join(ROOT, 'spec/support/formHandler.ts'), outfile: join(docroot, 'form.cgi') }),
      bundleHandler({ entry: join(ROOT, 'spec/support/cgiProbe.ts'), outfile: join(docroot, 'probe.cgi') }),
    ]);

    // What Apache's .htaccess says with SetEnv, nginx says with fastcgi_param.
    nginx = await startNginx({
      docroot,
      locations: [{
        params: {
          PSOServiceId: SERVICE,
          PSOSessionFileLoader_Path: sessions,
          PSOSessionExpire: '15*60',
        },
      }],
    });
  });

  after(async function () {
    await nginx?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('quick.cgi counts 1, 2, 3: the fastcgi_param directives name the cookie, give it 15 minutes and put the session files where they say', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/quick.cgi'));
    assert.equal(first.status, 200, await first.clone().text());
    assert.equal(counter(await first.text()), 1);
    const { id, attrs } = sessionCookie(first);
    assert.match(id, ID);
    assert.equal(attrs.get('max-age'), '900');
    assert.equal(attrs.get('path'), '/');
    assert.ok(attrs.has('httponly'));
    const date = Date.parse(first.headers.get('date')!);
    const expires = Date.parse(attrs.get('expires')!);
    assert.ok(Math.abs(expires - (date + 900_000)) <= 3_000, `Expires ${attrs.get('expires')} is not 900 s after Date ${first.headers.get('date')}`);

    for (const expected of [2, 3]) {
      const res = await jar.fetch(url('/quick.cgi'));
      assert.equal(counter(await res.text()), expected);
      assert.equal(jar.cookies.get(SERVICE), id, 'the session id must not change');
    }
    const other = await new CookieJar().fetch(url('/quick.cgi'));
    assert.equal(counter(await other.text()), 1);
    assert.notEqual(sessionCookie(other).id, id);

    const file = join(sessions, `${sessionFileName(SERVICE, id)}`);
    assert.ok(existsSync(file), `${file} is missing; ${sessions} holds ${readdirSync(sessions).join(', ')}`);
    assert.equal(modeOf(file).toString(8), '600');
    assert.equal(statSync(file).uid, wwwUid, 'written by the CGI as www-data');
  });

  it('reads a GET whose CONTENT_LENGTH nginx passes empty as a request without a body', async () => {
    const res = await fetch(url('/probe.cgi/env?a=1&b=%C3%A9'));
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const seen = JSON.parse(text);
    assert.equal(seen.contentLength, '', 'nginx passes $content_length empty on a GET');
    assert.equal(seen.bodyBytes, 0);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/probe.cgi/env', 'SCRIPT_NAME and PATH_INFO split by fastcgi_split_path_info');
    assert.deepEqual(seen.query, [['a', '1'], ['b', 'é']]);
  });

  it('reads a urlencoded POST form from standard input', async () => {
    const body = new URLSearchParams([['name', 'Zoë & co'], ['tag', 'a'], ['tag', 'b']]).toString();
    const res = await fetch(url('/form.cgi?from=query'), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(JSON.parse(text), [['from', 'query'], ['name', 'Zoë & co'], ['tag', 'a'], ['tag', 'b']]);
  });

  it('answers 500 when the handler throws, logs why, and goes on serving', async () => {
    const token = `t${process.pid}x${Date.now()}`;
    const res = await fetch(url(`/probe.cgi/throw?${token}`));
    const body = await res.text();
    assert.equal(res.status, 500, body);
    assert.equal(body, '500 Internal Server Error\n');
    assert.doesNotMatch(body, /probe failure|\bat .+:\d+/, 'no error details in the body');
    // fcgiwrap hands the CGI's standard error to its own as it comes: allow it a moment.
    let log = '';
    for (let i = 0; i < 40 && !log.includes(token); i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      log = nginx!.cgiLog();
    }
    const line = log.split('\n').find((l) => l.includes(token));
    assert.ok(line, `no log line with ${token} in:\n${log}`);
    assert.match(line, /^\[pso\] \S+ error GET \/probe\.cgi\/throw: handler failed: Error: probe failure /);

    const next = await new CookieJar().fetch(url('/quick.cgi'));
    assert.equal(next.status, 200);
    assert.equal(counter(await next.text()), 1);
  });

  it('loses no increment under 50 concurrent requests on one session', async () => {
    const jar = new CookieJar();
    const start = counter(await (await jar.fetch(url('/quick.cgi'))).text());
    const cookie = jar.header();
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(url('/quick.cgi'), { headers: { cookie } })));
    const seen: number[] = [];
    for (const res of responses) {
      const body = await res.text();
      assert.equal(res.status, 200, body);
      seen.push(counter(body));
    }
    seen.sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => start + 1 + i));
    assert.equal(counter(await (await jar.fetch(url('/quick.cgi'))).text()), start + 51);
    // No lock or temporary file is left behind.
    assert.deepEqual(readdirSync(sessions).filter((n) => !SESSION_FILE.test(n)), []);
  });
});
