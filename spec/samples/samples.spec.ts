import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieJar, cookiePair, runCgi, runScript, sample, startServer, type ParsedResponse } from '../support/http.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';

const ID = /^[A-Za-z0-9_-]{27}$/;
const quickLine = (n: number) => `Hello World!  ~ You reloaded: ${n} times ~ Try Reload !\n`;

/** Each sample, where its sessions go, and what its body says on the n-th visit. */
const SAMPLES: { name: string; dir: (tmp: string) => string; env: (tmp: string) => Record<string, string>; body: (n: number) => string }[] = [
  { name: 'quick', dir: (t) => t, env: (t) => ({ PSOSessionFileLoader_Path: t }), body: quickLine },
  // test.ts never touches its session: with PSOSessionLazy off (the old default) every visitor still gets one.
  { name: 'test', dir: (t) => t, env: (t) => ({ PSOSessionFileLoader_Path: t, PSOSessionLazy: 'off' }), body: () => 'hello world\n' },
  { name: 'path0', dir: () => '/tmp/path0/', env: () => ({}), body: quickLine },
  { name: 'path1', dir: () => '/tmp/path1/', env: () => ({}), body: quickLine },
  { name: 'path2', dir: () => '/tmp/path2/', env: () => ({}), body: quickLine },
];

function sessionIdOf(r: ParsedResponse | Response, name: string): string {
  const sc = r instanceof Response ? r.headers.getSetCookie()[0] : r.header('set-cookie');
  const pair = cookiePair(sc);
  assert.ok(pair, 'a Set-Cookie header');
  const [cookieName, id] = pair.split('=');
  assert.equal(cookieName, name);
  assert.match(id!, ID);
  return id!;
}

describe('samples', () => {
  let tmp: string;
  const created: string[] = [];

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'pso-samples-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });
  before(() => {
    // The samples' fixed directories: one another user made (the Apache suite runs them as www-data) is refused by design.
    for (const dir of ['/tmp/path0', '/tmp/path1', '/tmp/path2']) {
      if (existsSync(dir) && statSync(dir).uid !== process.getuid!()) rmSync(dir, { recursive: true, force: true });
    }
  });
  after(() => {
    for (const f of created) if (existsSync(f)) unlinkSync(f);
  });

  it('test.ts, which never touches its session, stores nothing and sends no cookie by default (PSOSessionLazy)', async () => {
    for (const r of [await runCgi(sample('test'), { PSOSessionFileLoader_Path: tmp }), await runScript(sample('test'), [], { PSOSessionFileLoader_Path: tmp })]) {
      assert.equal(r.status, 200, r.stderr);
      assert.equal(r.body, 'hello world\n');
      assert.equal(r.header('set-cookie'), undefined);
    }
    assert.deepEqual(readdirSync(tmp), []);
  });

  for (const s of SAMPLES) {
    describe(`${s.name}.ts`, () => {
      // A fixed directory that another suite ran as www-data (pso rightly refuses it) is made afresh.
      beforeEach(() => {
        const dir = s.dir(tmp);
        if (existsSync(dir) && statSync(dir).uid !== process.getuid!()) rmSync(dir, { recursive: true, force: true });
      });
      it('as a CGI process: sends a new session cookie, then counts with it', async () => {
        const env = s.env(tmp);
        const first = await runCgi(sample(s.name), env);
        assert.equal(first.status, 200, first.stderr);
        assert.equal(first.body, s.body(1));
        assert.match(first.header('content-type')!, /^text\/html; charset=utf-8$/);
        const id = sessionIdOf(first, s.name);
        const file = join(s.dir(tmp), `${sessionFileName(s.name, id)}`);
        created.push(file);
        assert.ok(existsSync(file), `session file ${file}`);
        assert.equal(statSync(file).mode & 0o777, 0o600);

        const second = await runCgi(sample(s.name), { ...env, HTTP_COOKIE: `${s.name}=${id}` });
        assert.equal(second.status, 200);
        assert.equal(second.body, s.body(2));
        assert.equal(second.header('set-cookie'), undefined, 'a known session is not sent again');
        const third = await runCgi(sample(s.name), { ...env, HTTP_COOKIE: `other=1; ${s.name}=${id}` });
        assert.equal(third.body, s.body(3));
      });

      it('as a script: prints the headers with the Set-Cookie, a blank line, the body', async () => {
        const env = s.env(tmp);
        const first = await runScript(sample(s.name), [], env);
        assert.equal(first.code, 0, first.stderr);
        assert.equal(first.headers.some(([n]) => n.toLowerCase() === 'status'), false, 'no Status line for 200');
        const id = sessionIdOf(first, s.name);
        created.push(join(s.dir(tmp), `${sessionFileName(s.name, id)}`));
        assert.equal(first.body, s.body(1));
        const second = await runScript(sample(s.name), ['--cookie', `${s.name}=${id}`], env);
        assert.equal(second.body, s.body(2));
      });

      it('as a node:http server: the counter goes 1, 2, 3 and a new client starts at 1', async function () {
        const env = s.env(tmp);
        const server = await startServer(sample(s.name), Object.entries(env).flatMap(([k, v]) => ['-D', `${k}=${v}`]));
        try {
          const jar = new CookieJar();
          for (let n = 1; n <= 3; n++) {
            const res = await jar.fetch(server.url);
            assert.equal(res.status, 200);
            assert.equal(await res.text(), s.body(n));
            if (n === 1) created.push(join(s.dir(tmp), `${sessionFileName(s.name, sessionIdOf(res, s.name))}`));
          }
          const other = new CookieJar();
          const res = await other.fetch(server.url);
          assert.equal(await res.text(), s.body(1));
          created.push(join(s.dir(tmp), `${sessionFileName(s.name, sessionIdOf(res, s.name))}`));
          assert.notEqual(other.header(), jar.header());
        } finally {
          await server.stop();
        }
      });
    });
  }

  it('quick.ts under CGI honours PSOServiceId and PSOSessionExpire "15*60"', async () => {
    const r = await runCgi(sample('quick'), { PSOSessionFileLoader_Path: tmp, PSOServiceId: 'MyPSOTest', PSOSessionExpire: '15*60' });
    const sc = r.header('set-cookie')!;
    assert.match(sc, /^MyPSOTest=[A-Za-z0-9_-]{27};/);
    assert.match(sc, /Max-Age=900/);
    const expires = Date.parse(/Expires=([^;]+)/.exec(sc)![1]!);
    assert.ok(Math.abs(expires - (Date.now() + 900_000)) < 5_000, `expires ${new Date(expires).toISOString()}`);
    assert.equal(readdirSync(tmp).filter((f) => f.startsWith('pso_MyPSOTest_')).length, 1);
  });
});
