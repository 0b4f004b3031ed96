import assert from 'node:assert/strict';
import sinon from 'sinon';
import {
  CookieStoreImpl, ConfigurationError, ConnectStore, HeadersSentError, MemoryStore, ServiceHandler, TOKENS, createContainer, parseRecord, serializeRecord,
  type ConnectSession, type Session, type SessionRecord,
} from '../../../src/index.js';
import { checkUserId, keptAgent, parseStoredUser } from '../../../src/session/users/userBinding.js';
import { FakeRequest } from '../../support/fakeRequest.js';

describe('userBinding', () => {
  describe('checkUserId', () => {
    it('takes a string of 1 to 200 characters, or a safe integer made a string', () => {
      assert.equal(checkUserId('ada@example.org'), 'ada@example.org');
      assert.equal(checkUserId(42), '42');
      assert.equal(checkUserId('x'.repeat(200)), 'x'.repeat(200));
    });

    it('when empty, too long, with control characters, or of another type, is a TypeError saying what it takes', () => {
      for (const bad of ['', 'x'.repeat(201), 'a\nb', 'a\u0000', 1.5, NaN, null, undefined, {}, ['a']]) {
        assert.throws(() => checkUserId(bad), (e: unknown) => e instanceof TypeError && /1 to 200 characters/.test((e as Error).message), String(bad));
      }
    });
  });

  describe('keptAgent', () => {
    it('keeps a printable User-Agent of at most 256 characters, nothing for an empty one', () => {
      assert.equal(keptAgent('Firefox/140'), 'Firefox/140');
      assert.equal(keptAgent('a\r\nb'), 'a  b');
      assert.equal(keptAgent('x'.repeat(300))!.length, 256);
      assert.equal(keptAgent('  '), undefined);
      assert.equal(keptAgent(undefined), undefined);
    });
  });

  describe('parseStoredUser and the record', () => {
    it('round-trips a binding, an id time and a forward through serializeRecord and parseRecord', () => {
      const record: SessionRecord = {
        data: { n: 1 }, created: 1, expires: 2, born: 3, moved: 'abc_-',
        user: { id: 'ada', gen: 4, at: 5, agent: 'curl', seen: 6, until: 7 },
      };
      const back = parseRecord(serializeRecord(record));
      assert.deepEqual({ ...back, data: { ...back.data } }, record);
    });

    it('refuses a binding of the wrong shape as a corrupt session', () => {
      for (const bad of [{ id: 'ada' }, { id: '', at: 1 }, { id: 'a', at: 1, gen: -1 }, { id: 'a', at: 1, agent: 3 }, { id: 'a', at: 1, seen: 'x' }, 'ada', null]) {
        assert.equal(parseStoredUser(bad), undefined, JSON.stringify(bad));
        assert.throws(() => parseRecord(JSON.stringify({ v: 1, created: 1, expires: 2, user: bad, data: {} })), /invalid user binding/);
      }
      assert.throws(() => parseRecord('{"v":1,"created":1,"expires":2,"moved":"a/b","data":{}}'), /invalid forward/);
      assert.throws(() => parseRecord('{"v":1,"created":1,"expires":2,"born":-1,"data":{}}'), /invalid id time/);
    });
  });
});

describe('Session.login and the binding (through ServiceHandler, a MemoryStore, time frozen)', () => {
  let store: MemoryStore;
  let handler: ServiceHandler;
  let clock: sinon.SinonFakeTimers;
  let T0: number;
  const OWNER = 'spec:ada';

  beforeEach(() => {
    store = new MemoryStore({ sweepIntervalMs: 0 });
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(store);
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    handler = new ServiceHandler(container);
    T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
  });
  afterEach(async () => {
    sinon.restore();
    await store.close();
  });
  const at = (ms: number) => clock.setSystemTime(T0 + ms);

  async function handle(id: string | undefined, fn: (s: Session, r: FakeRequest) => unknown = () => {}, headers: Record<string, string> = {}) {
    const r = new FakeRequest({ env: { PSOSessionGCProbability: '0' }, headers: { ...headers, ...(id ? { cookie: `spec=${id}` } : {}) } });
    let session: Session | undefined;
    await handler.handle(r, async (request) => {
      session = request.session;
      await fn(request.session, request as FakeRequest);
    });
    const cookie = r.setCookies().find((c) => c.startsWith('spec='));
    return { r, session: session!, id: /^spec=([^;]*)/.exec(cookie ?? '')?.[1] ?? id };
  }
  const storedUser = async (id: string) => (await store.get(`spec:~${(await import('../../../src/util/sha256.js')).sha256(id)}`))?.user;

  it('request.login() binds with a new id, the User-Agent, the login time, and lists the session under its user', async () => {
    const anon = (await handle(undefined, (s) => s.set('cart', 2))).id!;
    const { id, session } = await handle(anon, (_s, r) => r.login('ada'), { 'user-agent': 'Firefox/140' });
    assert.notEqual(id, anon);
    assert.equal(session.userId, 'ada');
    assert.equal(session.get('cart'), 2, 'data kept');
    assert.deepEqual(await storedUser(id!), { id: 'ada', at: T0, agent: 'Firefox/140', gen: 0, seen: T0, until: T0 + 86_400_000 + 3_600_000 });
    assert.deepEqual((await store.users.entries(OWNER)).map((e) => e.until), [T0 + 86_400_000 + 3_600_000]);
    assert.equal(await store.get(`spec:~${(await import('../../../src/util/sha256.js')).sha256(anon)}`), undefined, 'the anonymous id is gone');
  });

  it('session.login() without details keeps no User-Agent; a bad user id throws before anything changes', async () => {
    const { id } = await handle(undefined, (s) => s.login(7));
    assert.deepEqual(Object.keys((await storedUser(id!))!).sort(), ['at', 'gen', 'id', 'seen', 'until']);
    let error: unknown;
    const again = await handle(id, (s) => {
      try { s.login(''); } catch (e) { error = e; }
    });
    assert.ok(error instanceof TypeError);
    assert.equal(again.session.id, id);
    assert.equal(again.session.userId, '7');
  });

  it('after the head went out, login() throws HeadersSentError', async () => {
    let error: unknown;
    await handle(undefined, async (s, r) => {
      r.write('x');
      await r.flush();
      try { s.login('ada'); } catch (e) { error = e; }
    });
    assert.ok(error instanceof HeadersSentError);
  });

  it('a session unchanged is written whole at least every five minutes while used ("last seen"), not on every request', async () => {
    // A fixed end: no touch ever moves it, so only "last seen" asks for a write.
    const { id } = await handle(undefined, (s) => s.login('ada').expire({ date: T0 / 1000 + 86_400 }));
    const seen = async () => (await storedUser(id!))!.seen;
    assert.equal(await seen(), T0);
    at(4 * 60_000);
    await handle(id);
    assert.equal(await seen(), T0, 'not written within five minutes');
    at(5 * 60_000);
    await handle(id);
    assert.equal(await seen(), T0 + 5 * 60_000);
  });

  it('the index entry outlives its session: moved on only once the session\'s expiry passes it', async () => {
    const { id } = await handle(undefined, (s) => s.login('ada'));
    const until = async () => (await store.users.entries(OWNER))[0]!.until;
    const first = await until();
    at(30 * 60_000);
    await handle(id);
    assert.equal(await until(), first, 'within the hour of slack: not rewritten');
    at(61 * 60_000);
    await handle(id);
    assert.equal(await until(), T0 + 61 * 60_000 + 86_400_000 + 3_600_000);
  });

  it('logging in as another user moves the session from one list to the other', async () => {
    const { id } = await handle(undefined, (s) => s.login('ada'));
    const other = (await handle(id, (s) => s.login('bob'))).id!;
    assert.deepEqual(await store.users.entries(OWNER), []);
    assert.equal((await store.users.entries('spec:bob')).length, 1);
    assert.equal((await storedUser(other))!.id, 'bob');
  });

  it('revert() undoes a login\'s binding, not its new id', async () => {
    const anon = (await handle(undefined, (s) => s.set('a', 1))).id!;
    const { session } = await handle(anon, (s) => s.login('ada').revert());
    assert.equal(session.userId, undefined);
    assert.notEqual(session.id, anon);
  });

  it('with a store that keeps no index, login binds, and listing or revoking says which store to use', async () => {
    const kept = new Map<string, ConnectSession>();
    const connect = new ConnectStore({
      get: (sid, cb) => cb(null, kept.get(sid)),
      set: (sid, session, cb) => { kept.set(sid, session); cb?.(null); },
      destroy: (sid, cb) => { kept.delete(sid); cb?.(null); },
    });
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(connect);
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    handler = new ServiceHandler(container);
    let listed: unknown;
    await handle(undefined, async (s) => {
      s.login('ada');
      listed = await s.userSessions().catch((e: unknown) => e);
    });
    assert.ok(listed instanceof ConfigurationError, String(listed));
    assert.match(listed.message, /PSOSessionStore="connect:Object" is invalid: this store keeps no index of users' sessions.*use files, memory:, sqlite:, redis:, postgres: or mysql:/);
  });

  it('userSessions() of a session bound to nobody asks for a user', async () => {
    let error: unknown;
    await handle(undefined, async (s) => { error = await s.userSessions().catch((e: unknown) => e); });
    assert.ok(error instanceof TypeError);
    assert.match((error as Error).message, /bound to no user: log in first/);
  });
});
