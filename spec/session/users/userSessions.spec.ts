// Sessions of a user on every store, through real HTTP: login binds, the
// list shows each live session, revocation ends them (also those held by
// requests in flight, and across processes), expiry and gc keep the index
// clean.
import assert from 'node:assert/strict';
import { serve, type PsoServer, type SessionStore, type UserSessionInfo } from '../../../src/index.js';
import { CookieJar, ROOT } from '../../support/http.js';
import { handler } from '../../support/accountHandler.js';
import { psoServe, type PsoServe } from '../../support/psoServe.js';
import { STORE_KITS } from '../../support/storeKits.js';

const SERVICE = 'acct';
const HANDLER_MODULE = `${ROOT}dist/spec/support/accountHandler.js`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  text: string;
  cookies: string[];
}

for (const kit of STORE_KITS) {
  describe(`users' sessions on ${kit.label} (real HTTP)`, function () {
    this.timeout(60_000);
    let directives: Record<string, string>;
    let server: PsoServer | undefined;
    let store: SessionStore;
    let base: string;
    let users = 0;
    const userName = (what: string) => `${what}-${++users}@example.org`;

    before(async function () {
      const why = kit.skip();
      if (why) {
        process.stderr.write(`users' sessions on ${kit.label} skipped: ${why}\n`);
        this.skip();
      }
      directives = { ...(await kit.setUp()), PSOSessionGCProbability: '0' };
      server = await serve(handler, { port: 0, moduleName: SERVICE, directives });
      base = server.url.replace(/\/$/, '');
      store = await kit.open(directives);
    });
    after(async () => {
      await server?.close();
      await kit.tearDown();
    });

    async function get(jar: CookieJar, path: string, headers: Record<string, string> = {}, at = base): Promise<Answer> {
      const r = await jar.fetch(`${at}${path}`, { headers });
      return { status: r.status, text: await r.text(), cookies: r.headers.getSetCookie() };
    }
    async function login(user: string, agent = 'spec-agent', at = base): Promise<CookieJar> {
      const jar = new CookieJar();
      const r = await get(jar, `/login?user=${encodeURIComponent(user)}`, { 'user-agent': agent }, at);
      assert.equal(r.status, 200, r.text);
      return jar;
    }
    const whoAmI = async (jar: CookieJar, at = base) => {
      const r = await get(jar, '/me', {}, at);
      assert.equal(r.status, 200, r.text);
      return r.text.split('\n')[0];
    };
    const list = async (jar: CookieJar, user?: string): Promise<UserSessionInfo[]> => {
      const r = await get(jar, `/list${user ? `?user=${encodeURIComponent(user)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      return JSON.parse(r.text) as UserSessionInfo[];
    };
    const cookieId = (jar: CookieJar) => jar.cookies.get(SERVICE)!;
    const entries = async (user: string) => (await store.users!.entries(`${SERVICE}:${user}`)).map((e) => e.key);

    it('login binds the session: the list shows each live session of the user, with its times and User-Agent, this one marked, and no id', async () => {
      const ada = userName('ada');
      const before = Date.now();
      const firefox = await login(ada, 'Firefox/140');
      const curl = await login(ada, 'curl/8');
      const bob = await login(userName('bob'));
      const mine = await list(firefox);
      assert.equal(mine.length, 2);
      assert.deepEqual(mine.map((s) => [s.userAgent, s.current]).sort(), [['Firefox/140', true], ['curl/8', false]]);
      for (const s of mine) {
        assert.ok(s.created >= before && s.created <= s.loggedIn && s.loggedIn <= s.lastSeen! && s.lastSeen! <= Date.now(), JSON.stringify(s));
        assert.ok(s.expires > Date.now());
        assert.match(s.handle, /^[A-Za-z0-9_-]{43}$/);
        assert.ok(![cookieId(firefox), cookieId(curl)].includes(s.handle), 'a handle is not a session id');
      }
      assert.equal((await list(bob)).length, 1, 'another user is apart');
      const seenByBob = await list(bob, ada);
      assert.deepEqual(seenByBob.map((s) => s.current), [false, false], 'an admin sees them, none current');
      assert.equal(await whoAmI(curl), `user: ${ada}`);
    });

    it('revoking all but this session ends the others at once; this one stays', async () => {
      const ada = userName('ada');
      const [a, b, c] = [await login(ada), await login(ada), await login(ada)];
      assert.equal((await get(a, '/revoke?keep=1')).text, '2');
      assert.equal(await whoAmI(a), `user: ${ada}`);
      assert.equal(await whoAmI(b), 'user: -');
      assert.equal(await whoAmI(c), 'user: -');
      const left = await list(a);
      assert.deepEqual(left.map((s) => s.current), [true]);
      assert.deepEqual(await entries(ada), [`${SERVICE}:~${left[0]!.handle}`], 'the index holds only the kept session');
    });

    it('revoking all ends this session too: its cookie is cleared', async () => {
      const ada = userName('ada');
      const [a, b] = [await login(ada), await login(ada)];
      const r = await get(a, '/revoke');
      assert.equal(r.text, '2');
      assert.ok(r.cookies.some((c) => c.startsWith(`${SERVICE}=;`) && /Max-Age=0/.test(c)), JSON.stringify(r.cookies));
      assert.equal(await whoAmI(a), 'user: -');
      assert.equal(await whoAmI(b), 'user: -');
      assert.deepEqual(await entries(ada), []);
    });

    it('one session per user: a login that revokes the others', async () => {
      const ada = userName('ada');
      const first = await login(ada);
      const second = new CookieJar();
      assert.equal((await get(second, `/login?user=${encodeURIComponent(ada)}&only=1`)).status, 200);
      assert.equal(await whoAmI(first), 'user: -');
      assert.equal(await whoAmI(second), `user: ${ada}`);
      assert.equal((await list(second)).length, 1);
    });

    it('a logout leaves the list; a regenerated session is listed under its new handle only', async () => {
      const ada = userName('ada');
      const [a, b] = [await login(ada), await login(ada)];
      assert.equal((await get(b, '/logout')).status, 200);
      const before = await list(a);
      assert.equal(before.length, 1);
      await get(a, '/regenerate');
      const after = await list(a);
      assert.equal(after.length, 1);
      assert.notEqual(after[0]!.handle, before[0]!.handle);
      assert.equal(after[0]!.current, true);
      assert.deepEqual(await entries(ada), [`${SERVICE}:~${after[0]!.handle}`]);
    });

    it('an expired session is never listed, and gc takes its entry out of the index', async () => {
      const ada = userName('ada');
      const brief = new CookieJar();
      assert.equal((await get(brief, `/login?user=${encodeURIComponent(ada)}&ttl=1`)).status, 200);
      const lasting = await login(ada);
      assert.equal((await list(lasting)).length, 2);
      await sleep(1_100);
      assert.equal((await list(lasting)).length, 1, 'the expired one is not listed, before any gc');
      // (The memory store drops the entry with the expired record, as soon as it finds it expired.)
      if (kit.label !== 'memory:') assert.equal((await entries(ada)).length, 2, 'its entry is still there');
      await store.gc?.();
      if (kit.label === 'Redis') {
        // Redis expires the session itself, and drops the entry when its time (an hour later) comes.
        assert.equal((await entries(ada)).length, 2);
      } else {
        assert.equal((await entries(ada)).length, 1, 'gc removed the entry of the expired session');
      }
      assert.equal((await list(lasting)).length, 1);
      assert.equal(await whoAmI(brief), 'user: -');
    });

    it('a revocation ends sessions that requests in flight hold: no request fails, and none of them survives', async () => {
      const ada = userName('ada');
      const jars = await Promise.all(Array.from({ length: 4 }, () => login(ada)));
      const admin = await login(ada);
      const inFlight = Array.from({ length: 16 }, (_, i) => get(jars[i % jars.length]!, `/me?ms=${100 + (i % 5) * 40}`));
      await sleep(50);
      const revoked = await get(admin, '/revoke?keep=1');
      assert.equal(revoked.status, 200);
      const answers = await Promise.all(inFlight);
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200], answers.map((a) => a.text).join('|'));
      for (const jar of jars) assert.equal(await whoAmI(jar), 'user: -');
      assert.deepEqual((await list(admin)).map((s) => s.current), [true]);
    });

    it('several processes: logins of one user from both are all listed, and a revocation from one ends them in both', async function () {
      if (!kit.shared) this.skip();
      const defs = Object.entries({ ...directives, PSOServiceId: SERVICE }).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
      const procs: PsoServe[] = await Promise.all([0, 1].map(() => psoServe([HANDLER_MODULE, '--port', '0', ...defs])));
      try {
        const at = procs.map((p) => p.address.replace(/\/$/, ''));
        const ada = userName('ada');
        const jars = await Promise.all(Array.from({ length: 10 }, (_, i) => login(ada, `agent-${i}`, at[i % 2])));
        const listed = await list(jars[0]!);
        assert.equal(listed.length, 10);
        assert.deepEqual(listed.map((s) => s.userAgent).sort(), Array.from({ length: 10 }, (_, i) => `agent-${i}`).sort());
        // Requests keep coming on both processes while one of them revokes.
        const traffic = jars.slice(1).map((jar, i) => get(jar, '/me?ms=60', {}, at[i % 2]));
        const revoked = await get(jars[0]!, '/revoke?keep=1', {}, at[1]);
        assert.equal(revoked.text, '9');
        assert.deepEqual([...new Set((await Promise.all(traffic)).map((a) => a.status))], [200]);
        for (const [i, jar] of jars.entries()) assert.equal(await whoAmI(jar, at[i % 2]), i === 0 ? `user: ${ada}` : 'user: -');
        assert.equal((await list(jars[0]!)).length, 1);
      } finally {
        await Promise.all(procs.map((p) => p.stop()));
      }
    });
  });
}
