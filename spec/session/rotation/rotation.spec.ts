// Safe id rotation: after regenerate() (of a session bound to a user) or
// PSOSessionRotate, the old id leads to the new session for a grace period,
// in a forward that holds no live id; login() and destroy() leave none.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import { ServiceHandler, createContainer, parseRecord, serve, type PsoServer, type Session } from '../../../src/index.js';
import { handler as accountHandler } from '../../support/accountHandler.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../../support/fakeRequest.js';
import { CookieJar, ROOT } from '../../support/http.js';
import { psoServe, type PsoServe } from '../../support/psoServe.js';
import { sessionFileName } from '../../support/sessionFiles.js';
import { STORE_KITS } from '../../support/storeKits.js';
import { storedRecord, storedText } from '../../support/storedFile.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('id rotation through ServiceHandler (files, time frozen)', () => {
  let dir: string;
  let cleanup: () => void;
  let handler: ServiceHandler;
  let clock: sinon.SinonFakeTimers;
  let T0: number;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    handler = new ServiceHandler(createContainer());
    T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
  });
  afterEach(() => {
    sinon.restore();
    cleanup();
  });
  const at = (ms: number) => clock.setSystemTime(T0 + ms);

  function req(id: string | undefined, env: Record<string, string> = {}, init: FakeRequestInit = {}): FakeRequest {
    return new FakeRequest({
      ...init,
      env: { PSOSessionFileLoader_Path: join(dir, 'sessions'), PSOSessionGCProbability: '0', ...env },
      headers: id ? { cookie: `spec=${id}` } : {},
    });
  }
  async function handle(r: FakeRequest, fn: (s: Session) => unknown = () => {}): Promise<{ r: FakeRequest; session: Session }> {
    let session: Session | undefined;
    await handler.handle(r, (request) => {
      session = request.session;
      return fn(request.session);
    });
    assert.ok(r.ended);
    return { r, session: session! };
  }
  const cookieId = (r: FakeRequest) => /^spec=([^;]*)/.exec(r.setCookies().find((c) => c.startsWith('spec=')) ?? '')?.[1];
  const file = (id: string) => join(dir, 'sessions', sessionFileName('spec', id));
  /** A session of ada, stored: its id. */
  async function loggedIn(env: Record<string, string> = {}): Promise<string> {
    const { r } = await handle(req(undefined, env), (s) => s.login('ada').set('cart', 3));
    return cookieId(r)!;
  }

  it('regenerate() of a bound session leaves under the old id a forward to the new one, for 5 seconds, holding no live id', async () => {
    const old = await loggedIn();
    const { r } = await handle(req(old), (s) => s.regenerate());
    const id = cookieId(r)!;
    assert.notEqual(id, old);
    const text = storedText(file(old));
    const forward = parseRecord(text);
    assert.ok(forward.moved);
    assert.deepEqual({ ...forward.data }, {});
    assert.equal(forward.expires, T0 + 5_000);
    assert.ok(!readFileSync(file(old), 'utf8').includes(id), 'the forward holds no live id, in either version its file keeps');
    assert.equal(storedRecord(file(id)).data.cart, 3);
  });

  it('a request with the old id within the grace is led to the new session, and sent its id; after the grace, it gets a fresh one', async () => {
    const old = await loggedIn();
    const id = cookieId((await handle(req(old), (s) => s.regenerate())).r)!;
    at(4_999);
    const led = await handle(req(old), (s) => s.increment('cart'));
    assert.equal(led.session.id, id);
    assert.equal(led.session.userId, 'ada');
    assert.equal(cookieId(led.r), id, 'the client learns the new id');
    assert.equal(storedRecord(file(id)).data.cart, 4);
    at(5_000);
    const late = await handle(req(old));
    assert.notEqual(late.session.id, id);
    assert.equal(late.session.isNew, true);
    assert.equal(late.session.userId, undefined);
  });

  it('follows a chain of forwards (an id replaced twice within the grace)', async () => {
    const first = await loggedIn();
    const second = cookieId((await handle(req(first), (s) => s.regenerate())).r)!;
    at(1_000);
    const third = cookieId((await handle(req(second), (s) => s.regenerate())).r)!;
    at(2_000);
    const led = await handle(req(first));
    assert.equal(led.session.id, third);
    assert.equal(led.session.get('cart'), 3);
  });

  it('with PSOSessionRotateGrace 0, the old id ends with the request', async () => {
    const old = await loggedIn();
    await handle(req(old, { PSOSessionRotateGrace: '0' }), (s) => s.regenerate());
    assert.equal(existsSync(file(old)), false);
    assert.equal((await handle(req(old))).session.isNew, true);
  });

  it('login() leaves no forward: an id planted before a login is worth nothing after it', async () => {
    const planted = cookieId((await handle(req(undefined), (s) => s.set('x', 1))).r)!;
    const id = cookieId((await handle(req(planted), (s) => s.login('ada'))).r)!;
    assert.equal(existsSync(file(planted)), false);
    const attacker = await handle(req(planted));
    assert.equal(attacker.session.isNew, true);
    assert.notEqual(attacker.session.id, id);
    assert.equal(attacker.session.userId, undefined);
  });

  it('regenerate() of a session bound to no user leaves no forward either (a login done with regenerate() stays safe)', async () => {
    const planted = cookieId((await handle(req(undefined), (s) => s.set('x', 1))).r)!;
    await handle(req(planted), (s) => s.regenerate().set('user', 'ada'));
    assert.equal(existsSync(file(planted)), false);
    assert.equal((await handle(req(planted))).session.isNew, true);
  });

  it('destroy() leaves no forward', async () => {
    const old = await loggedIn();
    await handle(req(old), (s) => s.destroy());
    assert.equal(existsSync(file(old)), false);
    assert.equal((await handle(req(old))).session.isNew, true);
  });

  it('a forward does not lead to a session whose user was logged out everywhere since', async () => {
    const old = await loggedIn();
    const id = cookieId((await handle(req(old), (s) => s.regenerate())).r)!;
    await handle(req(id), (s) => s.revokeUserSessions());
    const led = await handle(req(old));
    assert.equal(led.session.isNew, true);
    assert.equal(led.session.userId, undefined);
  });

  describe('PSOSessionRotate', () => {
    it('replaces an id older than its seconds on the next request, sends the new one, and the old one leads to it for the grace', async () => {
      const env = { PSOSessionRotate: '600' };
      const old = await loggedIn(env);
      at(599_000);
      const young = await handle(req(old, env));
      assert.equal(young.session.id, old);
      assert.equal(cookieId(young.r), undefined);
      at(600_000);
      const rotated = await handle(req(old, env));
      const id = cookieId(rotated.r)!;
      assert.notEqual(id, old);
      assert.equal(rotated.session.get('cart'), 3);
      assert.equal(storedRecord(file(id)).born, T0 + 600_000);
      at(601_000);
      assert.equal((await handle(req(old, env))).session.id, id);
      at(1_199_000);
      assert.equal(cookieId((await handle(req(id, env))).r), undefined, 'counted from when the new id was issued');
    });

    it('is not done by a read-only request, which writes nothing: reload() and touch() work on the id the client has; the next writer rotates', async () => {
      const env = { PSOSessionRotate: '600' };
      const old = await loggedIn(env);
      at(600_000);
      let seen: { id?: string; reloaded?: boolean; touched?: boolean } = {};
      const ro = await handle(req(old, { ...env, PSOSessionReadOnly: 'on' }), async (s) => {
        seen = { id: s.id, reloaded: await s.reload(), touched: await s.touch() };
      });
      assert.deepEqual(seen, { id: old, reloaded: true, touched: true });
      assert.equal(ro.r.head!.status, 200);
      assert.equal(cookieId(ro.r), undefined, 'the client keeps its id');
      const stored = storedRecord(file(old));
      assert.equal(stored.moved, undefined, 'still the session, not a forward');
      assert.equal(stored.data.cart, 3);
      const id = cookieId((await handle(req(old, env))).r)!;
      assert.ok(id && id !== old);
    });

    it('rotates sessions bound to no user too, with a forward', async () => {
      const env = { PSOSessionRotate: '60' };
      const old = cookieId((await handle(req(undefined, env), (s) => s.set('n', 1))).r)!;
      at(60_000);
      const id = cookieId((await handle(req(old, env))).r)!;
      assert.notEqual(id, old);
      assert.equal((await handle(req(old, env))).session.id, id);
    });
  });
});

for (const kit of STORE_KITS) {
  describe(`id rotation on ${kit.label} (real HTTP)`, function () {
    this.timeout(30_000);
    let server: PsoServer | undefined;
    let base: string;
    let directives: Record<string, string>;

    before(async function () {
      const why = kit.skip();
      if (why) this.skip();
      // The default grace (5 s): requests on one session wait for each other, and a loaded machine is slow.
      directives = { ...(await kit.setUp()), PSOSessionGCProbability: '0' };
      server = await serve(accountHandler, { port: 0, moduleName: 'rot', directives });
      base = server.url.replace(/\/$/, '');
    });
    after(async () => {
      await server?.close();
      await shortGrace?.close();
      await kit.tearDown();
    });
    let shortGrace: PsoServer | undefined;

    const get = async (jar: CookieJar, path: string, at = base) => {
      const r = await jar.fetch(`${at}${path}`);
      return { status: r.status, text: await r.text(), id: /^rot=([^;]+)/.exec(r.headers.getSetCookie().find((c) => c.startsWith('rot=')) ?? '')?.[1] };
    };
    async function login(at = base): Promise<CookieJar> {
      const jar = new CookieJar();
      assert.equal((await get(jar, '/login?user=ada', at)).status, 200);
      return jar;
    }
    const copy = (jar: CookieJar) => {
      const other = new CookieJar();
      for (const [k, v] of jar.cookies) other.cookies.set(k, v);
      return other;
    };

    it('requests in flight with the old id while the session is regenerated all stay logged in, and learn the new id', async () => {
      const jar = await login();
      const racing = Array.from({ length: 12 }, (_, i) => get(copy(jar), `/me?ms=${20 * (i % 6)}`));
      const regenerated = await get(jar, '/regenerate');
      const answers = await Promise.all(racing);
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      assert.deepEqual([...new Set(answers.map((a) => a.text.split('\n')[0]))], ['user: ada']);
      // Those served after the regeneration followed the forward, and were sent the new id.
      assert.ok(regenerated.id);
      for (const a of answers) if (a.id !== undefined) assert.equal(a.id, regenerated.id);
      const counted = Number(/n: (\d+)/.exec((await get(jar, '/me')).text)![1]);
      assert.equal(counted, 13, 'every increment counted, on one session');
    });

    it('a lost response: the old id, retried within the grace, gets the session and the new id; after it, a fresh session', async () => {
      shortGrace = await serve(accountHandler, { port: 0, moduleName: 'rot', directives: { ...directives, PSOSessionRotateGrace: '1' } });
      const at = shortGrace.url.replace(/\/$/, '');
      const jar = await login(at);
      const lost = copy(jar);
      const regenerated = await get(jar, '/regenerate', at);
      const retry = await get(copy(lost), '/me', at);
      assert.equal(retry.text.split('\n')[0], 'user: ada');
      assert.equal(retry.id, regenerated.id);
      await sleep(1_100);
      assert.equal((await get(lost, '/me', at)).text.split('\n')[0], 'user: -');
      assert.equal((await get(jar, '/me', at)).text.split('\n')[0], 'user: ada');
    });

    it('two processes: requests with the old id that the other process serves, while one regenerates, stay logged in', async function () {
      if (!kit.shared) this.skip();
      const defs = Object.entries({ ...directives, PSOServiceId: 'rot', PSOSessionRotateGrace: '20' }).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
      const procs: PsoServe[] = await Promise.all([0, 1].map(() => psoServe([`${ROOT}dist/spec/support/accountHandler.js`, '--port', '0', ...defs])));
      try {
        const [a, b] = procs.map((p) => p.address.replace(/\/$/, '')) as [string, string];
        const jar = await login(a);
        const racing = Array.from({ length: 10 }, (_, i) => get(copy(jar), `/me?ms=${10 * (i % 5)}`, i % 2 ? a : b));
        const regenerated = await get(jar, '/regenerate', a);
        const answers = await Promise.all(racing);
        assert.deepEqual([...new Set(answers.map((x) => `${x.status} ${x.text.split('\n')[0]}`))], ['200 user: ada']);
        for (const x of answers) if (x.id !== undefined) assert.equal(x.id, regenerated.id);
        assert.equal(Number(/n: (\d+)/.exec((await get(jar, '/me', b)).text)![1]), 11, 'every increment counted, on one session');
      } finally {
        await Promise.all(procs.map((p) => p.stop()));
      }
    });
  });
}
