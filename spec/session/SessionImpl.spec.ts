import assert from 'node:assert/strict';
import { lstatSync } from 'node:fs';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import {
  ConfigurationError, CookieFileImpl, HeadersSentError, ServiceHandler, SessionBusyError, SessionDataError, TOKENS, createContainer,
  parseRecord, serializeRecord, type Session, type SessionRecord,
} from '../../src/index.js';
import { answerFor } from '../../src/service/errorAnswer.js';
import { KEEP_IDLE_MS } from '../../src/session/stores/keptLocks.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';
import { storedJson, storedRecord } from '../support/storedFile.js';

const ID = /^[A-Za-z0-9_-]{27}$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SessionImpl', () => {
  let dir: string;
  let cleanup: () => void;
  let sessions: string;
  let impl: CookieFileImpl;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    sessions = join(dir, 'sessions');
    impl = createContainer().get<CookieFileImpl>(TOKENS.SessionImpl);
  });
  afterEach(() => {
    sinon.restore();
    cleanup();
  });

  function req(init: FakeRequestInit = {}): FakeRequest {
    return new FakeRequest({ ...init, env: { PSOSessionFileLoader_Path: sessions, PSOSessionGCProbability: '0', ...init.env } });
  }
  const withCookie = (id: string, init: FakeRequestInit = {}): FakeRequest => req({ ...init, headers: { cookie: `spec=${id}`, ...init.headers } });
  const fileOf = (id: string, service = 'spec') => join(sessions, `${sessionFileName(service, id)}`);
  const stored = (id: string): SessionRecord => storedRecord(fileOf(id));

  /** Stores a session through the impl and returns its id. */
  async function seed(data: Record<string, number | string>, init: FakeRequestInit = {}): Promise<string> {
    const s = await impl.open(req(init));
    for (const [k, v] of Object.entries(data)) s.set(k, v);
    await impl.close(s, true);
    return s.id;
  }

  /** Writes a record file directly. */
  function plant(id: string, record: SessionRecord): void {
    mkdirSync(sessions, { recursive: true, mode: 0o700 });
    writeFileSync(fileOf(id), serializeRecord(record), { mode: 0o600 });
  }

  describe('getServiceId', () => {
    it('when no PSOServiceId is set, is the module name', () => {
      assert.equal(impl.getServiceId(req()), 'spec');
    });

    it('when the module name has characters a cookie name cannot hold, replaces them with "_"', () => {
      assert.equal(impl.getServiceId(req({ moduleName: 'my page(1)' })), 'my_page_1_');
      assert.equal(impl.getServiceId(req({ moduleName: '' })), 'PSO_SESSION');
    });

    it('when PSOServiceId is set (quoted or not), uses it', () => {
      assert.equal(impl.getServiceId(req({ env: { PSOServiceId: 'shop' } })), 'shop');
      assert.equal(impl.getServiceId(req({ env: { PSOServiceId: '"shop2"' } })), 'shop2');
    });

    it('when PSOServiceId names a CGI variable a client could set, is refused', () => {
      for (const bad of ['HTTP_X', 'http_cookie', 'REQUEST_METHOD', 'Path', 'QUERY_STRING']) {
        assert.throws(() => impl.getServiceId(req({ env: { PSOServiceId: bad } })), (e: unknown) =>
          e instanceof ConfigurationError && e.directive === 'PSOServiceId' && e.value === bad && /CGI variable/.test(e.reason), bad);
      }
    });

    it('when PSOServiceId is no cookie name or too long, is refused', () => {
      for (const bad of ['my service', 'a;b', 'x=y', 'a'.repeat(65), '"']) {
        assert.throws(() => impl.getServiceId(req({ env: { PSOServiceId: bad } })), ConfigurationError, bad);
      }
      assert.equal(impl.getServiceId(req({ env: { PSOServiceId: 'a'.repeat(64) } })), 'a'.repeat(64));
    });

    it('when PSOServiceId is invalid, open() fails with ConfigurationError', async () => {
      await assert.rejects(impl.open(req({ env: { PSOServiceId: 'HTTP_X' } })), ConfigurationError);
      await assert.rejects(impl.open(req({ env: { PSOServiceId: 'REQUEST_METHOD' } })), ConfigurationError);
    });
  });

  describe('open', () => {
    it('refuses a bad directive with a rejected promise, never a throw (callers chain on it)', async () => {
      let opened: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        opened = impl.open(req({ env: { PSOSessionExpire: 'soon' } }));
      });
      await assert.rejects(opened!, /PSOSessionExpire/);
    });

    it('when the client has no cookie, makes a new session with a 27-character id', async () => {
      const s = await impl.open(req());
      assert.match(s.id, ID);
      assert.equal(s.isNew, true);
      assert.deepEqual(s.keys(), []);
      const other = await impl.open(req());
      assert.notEqual(other.id, s.id);
      // Nothing is stored before close.
      assert.equal(existsSync(fileOf(s.id)), false);
    });

    it('when the session was saved, loads it by the id in the cookie', async () => {
      const first = await impl.open(req());
      first.set('user', 'ada').increment('reloads');
      await impl.close(first, true);

      const again = await impl.open(withCookie(first.id));
      assert.equal(again.id, first.id);
      assert.equal(again.isNew, false);
      assert.equal(again.created, first.created);
      assert.deepEqual(again.toJSON(), { user: 'ada', reloads: 1 });
      await impl.close(again, false);
    });

    it('when the service id differs, does not see the session (the cookie is per service)', async () => {
      const id = await seed({ a: 1 });
      const s = await impl.open(req({ env: { PSOServiceId: 'other' }, headers: { cookie: `spec=${id}` } }));
      assert.notEqual(s.id, id);
      assert.equal(s.isNew, true);
    });

    it('when the id is well formed but unknown, issues a new, different id', async () => {
      const unknown = 'A'.repeat(27);
      const s = await impl.open(withCookie(unknown));
      assert.notEqual(s.id, unknown);
      assert.match(s.id, ID);
      assert.equal(s.isNew, true);
      s.set('n', 1);
      await impl.close(s, true);
      assert.equal(existsSync(fileOf(unknown)), false);
      assert.ok(existsSync(fileOf(s.id)));
    });

    it('when the id is malformed, ignores it without touching storage', async () => {
      const load = sinon.spy(impl, 'load');
      const lock = sinon.spy(impl, 'lock');
      const remove = sinon.spy(impl, 'remove');
      const bad = ['../x', '..%2F..%2Fetc%2Fpasswd', 'a'.repeat(10 * 1024), 'abc/def', 'a%00b', `${'A'.repeat(26)}.`, 'A'.repeat(28), ''];
      for (const id of bad) {
        const s = await impl.open(req({ headers: { cookie: `spec=${id}` } }));
        assert.match(s.id, ID);
        assert.equal(s.isNew, true);
      }
      sinon.assert.notCalled(load);
      sinon.assert.notCalled(lock);
      sinon.assert.notCalled(remove);
      assert.equal(existsSync(sessions), false);
      assert.deepEqual(readdirSync(dir), []);
    });

    it('when the stored session has expired, refuses it, deletes its file and issues a new id', async () => {
      const old = 'B'.repeat(27);
      plant(old, { data: { secret: 1 }, created: Date.now() - 10_000, expires: Date.now() - 1 });
      const s = await impl.open(withCookie(old));
      assert.notEqual(s.id, old);
      assert.equal(s.isNew, true);
      assert.equal(s.has('secret'), false);
      assert.equal(existsSync(fileOf(old)), false);
    });

    it('when the stored session is garbage, starts a new session and logs a warning', async () => {
      const id = 'C'.repeat(27);
      plant(id, { data: {}, created: 1, expires: Date.now() + 60_000 });
      writeFileSync(fileOf(id), '{"v":1,"created":1,"exp');
      const r = withCookie(id);
      const s = await impl.open(r);
      assert.notEqual(s.id, id);
      assert.equal(s.isNew, true);
      assert.ok(r.memoryLogger!.has('warn', /stored session CCCCCC\.\.\. of spec cannot be read \(.*not valid JSON/), JSON.stringify(r.logLines));
      await impl.close(s, true);
    });

    // Found by spec/fuzz/records.spec.ts: such a session loaded, then every request of it failed (500).
    for (const [what, text] of [
      ['an expiry no Date can hold', `{"v":1,"created":1,"expires":${Date.now() + 60_000},"expiry":{"kind":"at","time":8640000000000001},"data":{"a":1}}`],
      ['data nested deeper than a session is saved with', `{"v":1,"created":1,"expires":${Date.now() + 60_000},"data":{"a":${'['.repeat(70)}${']'.repeat(70)}}}`],
    ] as const) {
      it(`when the stored session holds ${what}, starts a new session that saves`, async () => {
        const id = 'E'.repeat(27);
        plant(id, { data: {}, created: 1, expires: Date.now() + 60_000 });
        writeFileSync(fileOf(id), text);
        const r = withCookie(id);
        const s = await impl.open(r);
        assert.notEqual(s.id, id);
        assert.ok(r.memoryLogger!.has('warn', /stored session EEEEEE\.\.\. of spec cannot be read/), JSON.stringify(r.logLines));
        s.set('b', 2);
        impl.beforeHead(s);
        await impl.close(s, true);
        assert.deepEqual({ ...stored(s.id).data }, { b: 2 });
      });
    }

    it('when the stored session cannot be read (a directory in its place), starts a new session and logs', async () => {
      const id = 'D'.repeat(27);
      mkdirSync(fileOf(id), { recursive: true });
      const r = withCookie(id);
      const s = await impl.open(r);
      assert.notEqual(s.id, id);
      assert.ok(r.memoryLogger!.has('warn', /cannot be read/), JSON.stringify(r.logLines));
      await impl.close(s, true);
    });

    describe('forced ids', () => {
      it('when a directive named by the service id is set, uses it even if unknown', async () => {
        const r = req({ env: { spec: 'forced-id_1' } });
        const s = await impl.open(r);
        assert.equal(s.id, 'forced-id_1');
        assert.equal(s.isNew, true);
        s.set('n', 1);
        await impl.close(s, true);
        assert.deepEqual({ ...stored('forced-id_1').data }, { n: 1 });

        const again = await impl.open(req({ env: { spec: 'forced-id_1' }, headers: { cookie: `spec=${'E'.repeat(27)}` } }));
        assert.equal(again.id, 'forced-id_1');
        assert.equal(again.isNew, false);
        assert.equal(again.get('n'), 1);
        await impl.close(again, false);
      });

      it('when the forced session has expired, keeps the id but starts empty', async () => {
        plant('fixed', { data: { old: 1 }, created: 1, expires: Date.now() - 1 });
        const s = await impl.open(req({ env: { spec: 'fixed' } }));
        assert.equal(s.id, 'fixed');
        assert.equal(s.isNew, true);
        assert.equal(s.has('old'), false);
        await impl.close(s, false);
      });

      it('when the forced id has characters outside [A-Za-z0-9_-] or is too long, is refused', async () => {
        for (const bad of ['../etc', 'a b', 'a/b', 'a.b', 'x\0y', 'a'.repeat(129)]) {
          await assert.rejects(impl.open(req({ env: { spec: bad } })), (e: unknown) =>
            e instanceof ConfigurationError && e.directive === 'spec' && e.value === bad, JSON.stringify(bad));
        }
        assert.equal(existsSync(sessions), false);
      });

      it('when the service id is a CGI variable name, no forced id is taken from it', () => {
        assert.equal(impl.getForcedSessionId(req({ moduleName: 'PATH', env: { PATH: '/usr/bin' } })), undefined);
      });
    });
  });

  describe('close', () => {
    it('when not committing, stores nothing', async () => {
      const s = await impl.open(req());
      s.set('a', 1);
      await impl.close(s, false);
      assert.equal(existsSync(fileOf(s.id)), false);
    });

    it('when called twice, the second call does nothing', async () => {
      const save = sinon.spy(impl, 'save');
      const s = await impl.open(req());
      s.set('a', 1);
      await impl.close(s, true);
      s.set('a', 2);
      await impl.close(s, true);
      sinon.assert.calledOnce(save);
      assert.equal(stored(s.id).data.a, 1);
    });

    it('when the session was set to expire now, deletes it', async () => {
      const id = await seed({ a: 1 });
      const s = await impl.open(withCookie(id));
      s.expire(0);
      await impl.close(s, true);
      assert.equal(existsSync(fileOf(id)), false);
    });

    it('when the data cannot be stored as JSON, rejects with SessionDataError and releases the lock', async () => {
      const id = await seed({ a: 1 });
      const s = await impl.open(withCookie(id));
      s.data.bad = new Map() as never;
      await assert.rejects(impl.close(s, true), SessionDataError);
      assert.equal(stored(id).data.a, 1);
      const next = await impl.open(withCookie(id, { env: { PSOSessionLockTimeout: '1' } }));
      assert.equal(next.id, id);
      await impl.close(next, false);
    });

    it('when a directive value is invalid, open() already rejects with ConfigurationError, before anything is stored', async () => {
      await assert.rejects(impl.open(req({ env: { PSOSessionExpire: '15*' } })), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionExpire');
    });
  });

  describe('saveSession', () => {
    it('when called through session.save(), stores now and close does not store again', async () => {
      const save = sinon.spy(impl, 'save');
      const s = await impl.open(req());
      s.set('step', 2);
      await s.save();
      assert.equal(stored(s.id).data.step, 2);
      assert.equal(s.isModified, false);
      await impl.close(s, true);
      sinon.assert.calledOnce(save);
    });

    it('when the session is closed, throws', async () => {
      const s = await impl.open(req());
      await impl.close(s, true);
      await assert.rejects(s.save(), /session is closed/);
    });
  });

  describe('expiry', () => {
    it('when the browser decides, stores it for PSOSessionIdleTimeout', async () => {
      const before = Date.now();
      const id = await seed({ a: 1 }, { env: { PSOSessionIdleTimeout: '600' } });
      const { expires, expiry } = stored(id);
      assert.ok(expires >= before + 600_000 && expires <= Date.now() + 600_000);
      assert.equal(expiry, undefined);
    });

    it('when PSOSessionExpire is "15*60", stores 15 minutes', async () => {
      const before = Date.now();
      const id = await seed({ a: 1 }, { env: { PSOSessionExpire: '15*60' } });
      const { expires } = stored(id);
      assert.ok(expires >= before + 900_000 && expires <= Date.now() + 900_000);
    });

    it('when set in code, stores the expiry with the session and keeps it on later requests', async () => {
      const s = await impl.open(req());
      s.expire(120);
      await impl.close(s, true);
      assert.deepEqual(stored(s.id).expiry, { kind: 'after', seconds: 120 });
      const again = await impl.open(withCookie(s.id));
      assert.deepEqual(again.expiry, { kind: 'after', seconds: 120 });
      await impl.close(again, true);
    });
  });

  describe('lock', () => {
    it('when two requests open one session (process lock), the second waits for the first to close', async () => {
      const id = await seed({ n: 0 });
      const first = await impl.open(withCookie(id, { persistent: true }));
      let second: Session | undefined;
      const pending = impl.open(withCookie(id, { persistent: true })).then((s) => (second = s));
      await sleep(50);
      assert.equal(second, undefined);
      first.increment('n');
      await impl.close(first, true);
      await pending;
      assert.equal(second!.get('n'), 1);
      second!.increment('n');
      await impl.close(second!, true);
      assert.equal(stored(id).data.n, 2);
    });

    it('when the session stays busy past PSOSessionLockTimeout, the second gets SessionBusyError', async () => {
      const id = await seed({ n: 0 });
      const first = await impl.open(withCookie(id, { persistent: true }));
      const started = Date.now();
      await assert.rejects(impl.open(withCookie(id, { persistent: true, env: { PSOSessionLockTimeout: '1' } })), (e: unknown) =>
        e instanceof SessionBusyError && answerFor(e).status === 503);
      assert.ok(Date.now() - started >= 990);
      await impl.close(first, true);
      // The request that gave up does not hold the session.
      const third = await impl.open(withCookie(id, { persistent: true, env: { PSOSessionLockTimeout: '1' } }));
      await impl.close(third, true);
    });

    it('holds a lock beside the session while open, in a server too (other processes may share the directory)', async () => {
      const id = await seed({ n: 0 });
      const lockFile = join(sessions, `${sessionStem('spec', id)}.lock`);
      const locked = () => lstatSync(lockFile, { throwIfNoEntry: false }) !== undefined;
      for (const init of [{ persistent: true, env: { PSOSessionLock: 'file' } }, { persistent: false }]) {
        const s = await impl.open(withCookie(id, init));
        assert.ok(locked(), JSON.stringify(init));
        await impl.close(s, true);
        assert.equal(locked(), false, JSON.stringify(init));
      }
      // PSOSessionLock process: the process's lock only, for a directory no other process uses.
      const t = await impl.open(withCookie(id, { persistent: true, env: { PSOSessionLock: 'process' } }));
      assert.equal(locked(), false);
      await impl.close(t, true);
    });

    it('in a server (PSOSessionLock auto), keeps the lock for the next request, and gives it up once idle', async () => {
      const id = await seed({ n: 0 });
      const lockFile = join(sessions, `${sessionStem('spec', id)}.lock`);
      const locked = () => lstatSync(lockFile, { throwIfNoEntry: false }) !== undefined;
      for (let n = 1; n <= 3; n++) {
        const s = await impl.open(withCookie(id, { persistent: true }));
        assert.ok(locked());
        assert.equal(s.get('n'), n - 1);
        s.set('n', n);
        await impl.close(s, true);
        assert.ok(locked(), 'kept after the request');
        assert.equal(storedRecord(join(sessions, sessionFileName('spec', id))).data.n, n, 'written through at once');
      }
      const started = Date.now();
      while (locked() && Date.now() - started < KEEP_IDLE_MS + 1000) await sleep(10);
      assert.equal(locked(), false, 'given up once idle');
      assert.ok(Date.now() - started >= KEEP_IDLE_MS - 50, `given up after ${Date.now() - started} ms`);
    });

    it('when two impls (as two processes) open one session with file locks, the second waits', async () => {
      const id = await seed({ n: 0 });
      const otherProcess = createContainer().get<CookieFileImpl>(TOKENS.SessionImpl);
      const first = await impl.open(withCookie(id));
      let second: Session | undefined;
      const pending = otherProcess.open(withCookie(id)).then((s) => (second = s));
      await sleep(100);
      assert.equal(second, undefined);
      first.increment('n');
      await impl.close(first, true);
      await pending;
      assert.equal(second!.get('n'), 1);
      await otherProcess.close(second!, true);
    });
  });

  describe('garbage collection on close', () => {
    it('when PSOSessionGCProbability is 1, a CGI request collects expired sessions before close returns', async () => {
      plant('F'.repeat(27), { data: {}, created: 1, expires: Date.now() - 1 });
      const r = req({ env: { PSOSessionGCProbability: '1' } });
      const s = await impl.open(r);
      s.set('n', 1);
      await impl.close(s, true);
      assert.equal(existsSync(fileOf('F'.repeat(27))), false);
      assert.ok(existsSync(fileOf(s.id)));
      assert.ok(r.memoryLogger!.has('info', /collected 1 expired session/));
    });

    it('when a server (persistent host) closes many sessions, collects at most once a minute', async () => {
      const gc = sinon.spy(impl, 'collectGarbage');
      for (let i = 0; i < 3; i++) {
        const s = await impl.open(req({ persistent: true, env: { PSOSessionGCProbability: '1' } }));
        await impl.close(s, true);
      }
      await new Promise((r) => setImmediate(r));
      assert.equal(gc.callCount, 1);
    });

    it('when PSOSessionGCProbability is invalid, logs an error but still saves', async () => {
      const r = req({ env: { PSOSessionGCProbability: '2' } });
      const s = await impl.open(r);
      s.set('n', 1);
      await impl.close(s, true);
      assert.ok(existsSync(fileOf(s.id)));
      assert.ok(r.memoryLogger!.has('error', /PSOSessionGCProbability/));
    });
  });

  describe('cookies (through ServiceHandler.handle)', () => {
    let handler: ServiceHandler;
    beforeEach(() => {
      const container = createContainer();
      handler = new ServiceHandler(container);
      impl = handler.sessionImplFor() as CookieFileImpl;
    });

    async function handle(r: FakeRequest, fn: (r: FakeRequest) => unknown = () => {}): Promise<FakeRequest> {
      await handler.handle(r, (request) => fn(request as FakeRequest));
      assert.ok(r.ended);
      return r;
    }
    const cookieOf = (r: FakeRequest) => {
      const all = r.setCookies().filter((c) => c.startsWith('spec='));
      assert.ok(all.length <= 1, JSON.stringify(all));
      return all[0];
    };

    it('when the session is new, sends its id with Path, HttpOnly and SameSite=Lax, lasting until the browser closes', async () => {
      const r = await handle(req(), (x) => x.session.set('a', 1));
      assert.equal(r.head!.status, 200);
      const c = cookieOf(r)!;
      assert.match(c, /^spec=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax$/);
    });

    it('when the request is secure, adds Secure', async () => {
      const r = await handle(req({ secure: true }), (x) => x.session.set('a', 1));
      assert.match(cookieOf(r)!, /; Secure/);
    });

    it('when a returning browser session is unchanged, sends no cookie', async () => {
      const first = await handle(req(), (x) => x.session.set('a', 1));
      const id = /^spec=([^;]+)/.exec(cookieOf(first)!)![1]!;
      const second = await handle(withCookie(id), (x) => x.write(String(x.session.get('a'))));
      assert.equal(second.sentBody, '1');
      assert.equal(cookieOf(second), undefined);
    });

    it('when PSOSessionExpire is set, the cookie carries Max-Age and Expires', async () => {
      const r = await handle(req({ env: { PSOSessionExpire: '15*60' } }), (x) => x.session.set('a', 1));
      const c = cookieOf(r)!;
      assert.match(c, /; Max-Age=900;/);
      assert.match(c, /; Expires=\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT/);
    });

    it('when the handler sets an expiry on a returning session, the cookie is sent with it', async () => {
      const id = await seed({ a: 1 });
      const r = await handle(withCookie(id), (x) => x.session.expire(900));
      const c = cookieOf(r);
      assert.ok(c, 'a cookie telling the browser the new lifetime');
      assert.match(c!, new RegExp(`^spec=${id}; Max-Age=900;`));
    });

    it('when a sliding session is more than a minute old, the cookie is renewed with the stored expiry', async () => {
      const id = 'G'.repeat(27);
      plant(id, { data: { a: 1 }, created: Date.now() - 120_000, expires: Date.now() + 780_000 });
      const r = await handle(withCookie(id, { env: { PSOSessionExpire: '900' } }));
      const c = cookieOf(r);
      assert.ok(c, 'a renewed cookie');
      assert.match(c!, /; Max-Age=900;/);
      const expires = /Expires=([^;]+)/.exec(c!)![1]!;
      assert.equal(Math.floor(stored(id).expires / 1000), Date.parse(expires) / 1000);
    });

    it('when a sliding session was stored less than a minute ago, neither the file nor the cookie changes', async () => {
      const first = await handle(req({ env: { PSOSessionExpire: '900' } }), (x) => x.session.set('a', 1));
      const id = /^spec=([^;]+)/.exec(cookieOf(first)!)![1]!;
      const save = sinon.spy(impl, 'save');
      const second = await handle(withCookie(id, { env: { PSOSessionExpire: '900' } }));
      sinon.assert.notCalled(save);
      assert.equal(cookieOf(second), undefined);
    });

    it('when a returning session is expired in code, clears the cookie and deletes the file', async () => {
      const id = await seed({ a: 1 });
      const r = await handle(withCookie(id), (x) => x.session.expire(0));
      assert.match(cookieOf(r)!, /^spec=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
      assert.equal(existsSync(fileOf(id)), false);
    });

    it('when the session store fails, answers 500 and logs the directory', async () => {
      writeFileSync(join(dir, 'afile'), 'x');
      const r = req({ env: { PSOSessionFileLoader_Path: join(dir, 'afile', 'sessions') } });
      await handle(r, (x) => x.session.set('a', 1));
      assert.equal(r.head!.status, 500);
      assert.ok(r.memoryLogger!.has('error', /cannot create session directory .*afile\/sessions/), JSON.stringify(r.logLines));
    });
  });
  describe('session control (through ServiceHandler.handle, time frozen)', () => {
    let handler: ServiceHandler;
    let clock: sinon.SinonFakeTimers;
    let T0: number;
    beforeEach(() => {
      handler = new ServiceHandler(createContainer());
      impl = handler.sessionImplFor() as CookieFileImpl;
      // A whole second, so that Expires (second precision) can equal the stored expiry exactly.
      T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
      clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    });
    const at = (ms: number) => clock.setSystemTime(T0 + ms);

    async function handle(r: FakeRequest, fn: (r: FakeRequest) => unknown = () => {}): Promise<FakeRequest> {
      await handler.handle(r, (request) => fn(request as FakeRequest));
      assert.ok(r.ended);
      return r;
    }
    const cookieOf = (r: FakeRequest): string | undefined => {
      const all = r.setCookies().filter((c) => c.startsWith('spec='));
      assert.ok(all.length <= 1, JSON.stringify(all));
      return all[0];
    };
    const idOf = (c: string | undefined): string => /^spec=([^;]*)/.exec(c ?? '')![1]!;
    const attr = (c: string, name: string): string | undefined => new RegExp(`; ${name}=([^;]+)`, 'i').exec(c)?.[1];
    /** The expires written in the session file, read as raw JSON. */
    const fileExpires = (id: string): number => storedJson(fileOf(id)).expires;
    /** Cookie Expires and Max-Age say exactly what the store says. */
    function assertCookieMatchesStore(c: string | undefined, id: string, seconds: number): void {
      assert.ok(c, 'a session cookie');
      assert.equal(idOf(c), id);
      const expires = fileExpires(id);
      assert.equal(expires, Date.now() + seconds * 1000);
      assert.equal(attr(c!, 'Expires'), new Date(expires).toUTCString());
      assert.equal(Date.parse(attr(c!, 'Expires')!), expires);
      assert.equal(attr(c!, 'Max-Age'), String(seconds));
    }
    const sessionFiles = () => (existsSync(sessions) ? readdirSync(sessions).filter((n) => n.endsWith('.json')) : []);

    describe('expire()', () => {
      it('expire(0) deletes the stored session, sends a clearing cookie, and the next request gets a new id', async () => {
        const id = await seed({ a: 1 });
        const r = await handle(withCookie(id), (x) => { x.session.expire(0); });
        assert.equal(cookieOf(r), 'spec=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax');
        assert.equal(existsSync(fileOf(id)), false);
        let seen: Session | undefined;
        const next = await handle(withCookie(id), (x) => { seen = x.session; });
        assert.notEqual(seen!.id, id);
        assert.equal(seen!.isNew, true);
        assert.deepEqual(seen!.keys(), []);
        // The new session holds nothing, so nothing is stored: the client is told to forget the dead id.
        assert.equal(idOf(cookieOf(next)), '');
        assert.deepEqual(sessionFiles(), []);
      });

      it('expire(0) on a brand-new session stores nothing and sends no cookie', async () => {
        const r = await handle(req(), (x) => { x.session.set('a', 1).expire(0); });
        assert.equal(cookieOf(r), undefined);
        assert.deepEqual(sessionFiles(), []);
      });

      it('expire(seconds): the cookie Max-Age and Expires equal the stored expires exactly, and the expiry is stored', async () => {
        const r = await handle(req(), (x) => { x.session.set('a', 1).expire(600); });
        const id = idOf(cookieOf(r));
        assertCookieMatchesStore(cookieOf(r), id, 600);
        assert.deepEqual(storedJson(fileOf(id)).expiry, { kind: 'after', seconds: 600 });
      });

      it('expire() with no argument lasts until the browser closes: no Expires, kept PSOSessionIdleTimeout on the server', async () => {
        const id = await seed({ a: 1 }, { env: { PSOSessionExpire: '600' } });
        const r = await handle(withCookie(id, { env: { PSOSessionExpire: '600', PSOSessionIdleTimeout: '120' } }), (x) => { x.session.expire(); });
        assert.equal(cookieOf(r), `spec=${id}; Path=/; HttpOnly; SameSite=Lax`);
        assert.equal(fileExpires(id), T0 + 120_000);
        assert.deepEqual(stored(id).expiry, { kind: 'browser' });
      });

      it('every date form sets the same fixed end, in the store and in the cookie', async () => {
        const end = T0 + 2 * 86400_000;
        const forms: [string, (s: Session) => unknown][] = [
          ['{ date }', (s) => s.expire({ date: end / 1000 })],
          ['Date', (s) => s.expire(new Date(end))],
          ['strptime', (s) => s.expire(new Date(end).toUTCString(), '%a, %d %b %Y %H:%M:%S %Z')],
          ['HTTP date', (s) => s.expire(new Date(end).toUTCString())],
        ];
        for (const [name, set] of forms) {
          const r = await handle(req(), (x) => { x.session.set('a', 1); set(x.session); });
          const id = idOf(cookieOf(r));
          assertCookieMatchesStore(cookieOf(r), id, 2 * 86400);
          assert.deepEqual(stored(id).expiry, { kind: 'at', time: end }, name);
        }
      });

      it('a date in the past ends the session at once: deleted, cookie cleared', async () => {
        const id = await seed({ a: 1 });
        const r = await handle(withCookie(id), (x) => { x.session.expire(new Date(T0 - 1000)); });
        assert.match(cookieOf(r)!, /^spec=; Max-Age=0;/);
        assert.equal(existsSync(fileOf(id)), false);
      });

      it('an expiry set in code is kept by later requests that do not mention it', async () => {
        const first = await handle(req(), (x) => { x.session.set('a', 1).expire(600); });
        const id = idOf(cookieOf(first));
        at(120_000);
        const second = await handle(withCookie(id), (x) => x.write(JSON.stringify(x.session.expiry)));
        assert.equal(second.sentBody, '{"kind":"after","seconds":600}');
        assert.deepEqual(stored(id).expiry, { kind: 'after', seconds: 600 });
        // Sliding: renewed from this request, and the browser is told.
        assertCookieMatchesStore(cookieOf(second), id, 600);
      });

      it('an invalid expiry from the handler answers 500 and logs what was wrong', async () => {
        const id = await seed({ a: 1 });
        const r = await handle(withCookie(id), (x) => { x.session.set('a', 2).expire('15*60; rm -rf /'); });
        assert.equal(r.head!.status, 500);
        assert.ok(r.memoryLogger!.has('error', /^GET \/: 500: session\.expire\(\)="15\*60; rm -rf \/" is invalid: expected seconds/), JSON.stringify(r.logLines));
        assert.equal(cookieOf(r), undefined);
        assert.equal(stored(id).data.a, 1);
      });
    });

    describe('timeouts', () => {
      it('PSOSessionIdleTimeout caps a longer expiry; cookie and store agree', async () => {
        const r = await handle(req({ env: { PSOSessionExpire: '3600', PSOSessionIdleTimeout: '600' } }), (x) => { x.session.set('a', 1); });
        assertCookieMatchesStore(cookieOf(r), idOf(cookieOf(r)), 600);
      });

      it('PSOSessionAbsoluteTimeout caps the expiry from creation; cookie and store agree', async () => {
        const env = { PSOSessionExpire: '3600', PSOSessionAbsoluteTimeout: '900' };
        const first = await handle(req({ env }), (x) => { x.session.set('a', 1); });
        const id = idOf(cookieOf(first));
        assertCookieMatchesStore(cookieOf(first), id, 900);
        at(600_000);
        const second = await handle(withCookie(id, { env }), (x) => { x.session.set('a', 2); });
        // 300 s left of the 900 from creation, less than the 3600 of PSOSessionExpire.
        assert.equal(fileExpires(id), T0 + 900_000);
        assert.equal(cookieOf(second), undefined, 'the cookie already says T0 + 900 s');
      });

      it('the stored expires is the minimum of expiry, idle and absolute limits', async () => {
        const cases: [Record<string, string>, number][] = [
          [{ PSOSessionExpire: '3600', PSOSessionIdleTimeout: '1200', PSOSessionAbsoluteTimeout: '600' }, 600],
          [{ PSOSessionExpire: '3600', PSOSessionIdleTimeout: '300', PSOSessionAbsoluteTimeout: '600' }, 300],
          [{ PSOSessionExpire: '200', PSOSessionIdleTimeout: '300', PSOSessionAbsoluteTimeout: '600' }, 200],
          [{ PSOSessionIdleTimeout: '300', PSOSessionAbsoluteTimeout: '600' }, 300],
          [{ PSOSessionIdleTimeout: '900', PSOSessionAbsoluteTimeout: '600' }, 600],
        ];
        for (const [env, seconds] of cases) {
          const id = await seed({ a: 1 }, { env });
          assert.equal(fileExpires(id), T0 + seconds * 1000, JSON.stringify(env));
        }
      });

      it('session.setTimeouts() overrides the directives, is stored and kept by later requests', async () => {
        const env = { PSOSessionExpire: '3600', PSOSessionIdleTimeout: '1800' };
        const first = await handle(req({ env }), (x) => { x.session.set('a', 1).setTimeouts({ idle: 120 }); });
        const id = idOf(cookieOf(first));
        assertCookieMatchesStore(cookieOf(first), id, 120);
        assert.deepEqual(stored(id).timeouts, { idle: 120 });
        at(100_000);
        const second = await handle(withCookie(id, { env }), (x) => x.write(JSON.stringify(x.session.timeouts)));
        assert.equal(second.sentBody, '{"idle":120}');
        assertCookieMatchesStore(cookieOf(second), id, 120);
        // Past the idle limit set in code, the session is gone.
        at(100_000 + 120_000);
        let next: Session | undefined;
        await handle(withCookie(id, { env }), (x) => { next = x.session; });
        assert.notEqual(next!.id, id);
        assert.equal(existsSync(fileOf(id)), false);
      });

      it('session.setTimeouts({ idle }) also limits a browser-lifetime session on the server', async () => {
        const r = await handle(req(), (x) => { x.session.set('a', 1).setTimeouts({ idle: 120 }); });
        const id = idOf(cookieOf(r));
        assert.equal(cookieOf(r), `spec=${id}; Path=/; HttpOnly; SameSite=Lax`);
        assert.equal(fileExpires(id), T0 + 120_000);
        // And a longer idle limit in code wins over the one-day default.
        const longer = await handle(req(), (x) => { x.session.set('a', 1).setTimeouts({ idle: 7 * 86400 }); });
        assert.equal(fileExpires(idOf(cookieOf(longer))), T0 + 7 * 86400_000);
      });

      it('an absolute timeout ends a session that stays active', async () => {
        const env = { PSOSessionAbsoluteTimeout: '600' };
        const first = await handle(req({ env }), (x) => { x.session.set('n', 1); });
        const id = idOf(cookieOf(first));
        for (const t of [200_000, 400_000, 599_000]) {
          at(t);
          const r = await handle(withCookie(id, { env }), (x) => { x.write(String(x.session.increment('n'))); });
          assert.equal(r.sentBody !== '', true);
          assert.equal(fileExpires(id), T0 + 600_000, `at +${t} ms`);
        }
        at(600_000);
        let last: Session | undefined;
        const r = await handle(withCookie(id, { env }), (x) => { last = x.session; });
        assert.notEqual(last!.id, id);
        assert.equal(last!.has('n'), false);
        assert.equal(existsSync(fileOf(id)), false);
        assert.notEqual(idOf(cookieOf(r)), id);
      });

      it('an absolute timeout set in code ends the session without any directive', async () => {
        const first = await handle(req(), (x) => { x.session.set('n', 1).setTimeouts({ absolute: 300 }); });
        const id = idOf(cookieOf(first));
        at(299_000);
        let s: Session | undefined;
        await handle(withCookie(id), (x) => { s = x.session; });
        assert.equal(s!.id, id);
        at(300_000);
        await handle(withCookie(id), (x) => { s = x.session; });
        assert.notEqual(s!.id, id);
        assert.equal(s!.has('n'), false);
      });

      it('a session created longer ago than PSOSessionAbsoluteTimeout is not adopted, even with a later stored expiry', async () => {
        const id = 'H'.repeat(27);
        plant(id, { data: { user: 'ada' }, created: T0 - 7200_000, expires: T0 + 3600_000 });
        let s: Session | undefined;
        const r = await handle(withCookie(id, { env: { PSOSessionAbsoluteTimeout: '3600' } }), (x) => { s = x.session; });
        assert.notEqual(s!.id, id);
        assert.equal(s!.has('user'), false, 'the handler never sees the old data');
        assert.equal(existsSync(fileOf(id)), false);
        assert.notEqual(idOf(cookieOf(r)), id);
      });

      it('a stored session past its idle timeout is refused, one just inside is kept', async () => {
        const env = { PSOSessionExpire: '3600', PSOSessionIdleTimeout: '600' };
        const id = await seed({ a: 1 }, { env });
        at(599_000);
        let s: Session | undefined;
        await handle(withCookie(id, { env }), (x) => { s = x.session; });
        assert.equal(s!.id, id);
        assert.equal(fileExpires(id), T0 + 599_000 + 600_000);
        at(599_000 + 600_000);
        await handle(withCookie(id, { env }), (x) => { s = x.session; });
        assert.notEqual(s!.id, id);
      });
    });

    describe('regenerate()', () => {
      it('gives a new id, keeps the data, deletes the old file and sends the new id', async () => {
        const old = await seed({ user: 'ada' });
        let seen = '';
        const r = await handle(withCookie(old), (x) => {
          x.session.regenerate();
          seen = JSON.stringify(x.session.toJSON());
          x.session.set('n', 1);
        });
        const id = idOf(cookieOf(r));
        assert.notEqual(id, old);
        assert.match(id, ID);
        assert.equal(cookieOf(r), `spec=${id}; Path=/; HttpOnly; SameSite=Lax`);
        assert.equal(seen, '{"user":"ada"}');
        assert.equal(existsSync(fileOf(old)), false);
        assert.deepEqual({ ...stored(id).data }, { user: 'ada', n: 1 });
        assert.deepEqual(sessionFiles(), [`${sessionFileName('spec', id)}`]);
      });

      it('a request with the old id gets a fresh empty session; the new id still works', async () => {
        const old = await seed({ user: 'ada' });
        const r = await handle(withCookie(old), (x) => { x.session.regenerate(); });
        const id = idOf(cookieOf(r));
        let s: Session | undefined;
        await handle(withCookie(old), (x) => { s = x.session; });
        assert.notEqual(s!.id, old);
        assert.notEqual(s!.id, id);
        assert.equal(s!.isNew, true);
        assert.deepEqual(s!.keys(), []);
        await handle(withCookie(id), (x) => { s = x.session; });
        assert.equal(s!.id, id);
        assert.equal(s!.get('user'), 'ada');
      });

      it('keeps an expiry set in code: the new cookie carries it', async () => {
        const old = await seed({ a: 1 });
        const r = await handle(withCookie(old), (x) => { x.session.expire(600).regenerate(); });
        const id = idOf(cookieOf(r));
        assertCookieMatchesStore(cookieOf(r), id, 600);
      });

      it('after the headers were flushed, throws HeadersSentError and keeps the id', async () => {
        const old = await seed({ a: 1 });
        let error: unknown;
        let id = '';
        const r = await handle(withCookie(old), async (x) => {
          x.write('started');
          await x.flush();
          try { x.session.regenerate(); } catch (e) { error = e; }
          id = x.session.id;
        });
        assert.ok(error instanceof HeadersSentError, String(error));
        assert.equal((error as Error).message, 'cannot change the session id: the response headers have already been sent');
        assert.equal(id, old);
        assert.ok(existsSync(fileOf(old)));
        assert.equal(r.sentBody, 'started');
      });
    });

    describe('destroy()', () => {
      it('deletes the file, clears the cookie and empties the data', async () => {
        const old = await seed({ user: 'ada' });
        let keys: string[] = [];
        const r = await handle(withCookie(old), (x) => { x.session.destroy(); keys = x.session.keys(); });
        assert.deepEqual(keys, []);
        assert.equal(cookieOf(r), 'spec=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax');
        assert.deepEqual(sessionFiles(), []);
        let s: Session | undefined;
        await handle(withCookie(old), (x) => { s = x.session; });
        assert.notEqual(s!.id, old);
        assert.equal(s!.has('user'), false);
      });

      it('setting data afterwards starts a new session under a new id', async () => {
        const old = await seed({ user: 'ada' });
        let during = '';
        const r = await handle(withCookie(old), (x) => { x.session.destroy().set('guest', true as never); during = x.session.id; });
        const id = idOf(cookieOf(r));
        assert.equal(id, during);
        assert.notEqual(id, old);
        assert.equal(cookieOf(r), `spec=${id}; Path=/; HttpOnly; SameSite=Lax`);
        assert.equal(existsSync(fileOf(old)), false);
        assert.deepEqual({ ...stored(id).data }, { guest: true });
        assert.ok(stored(id).created >= T0);
      });

      it('on a new session sends no cookie and stores nothing', async () => {
        const r = await handle(req(), (x) => { x.session.set('a', 1).destroy(); });
        assert.equal(cookieOf(r), undefined);
        assert.deepEqual(sessionFiles(), []);
      });
    });

    describe('revert() and save()', () => {
      it('after save(), revert() goes back to the saved state, which is what stays stored', async () => {
        const id = await seed({ a: 1 });
        const save = sinon.spy(impl, 'save');
        const r = await handle(withCookie(id), async (x) => {
          x.session.set('a', 2);
          await x.session.save();
          assert.equal(stored(id).data.a, 2);
          x.session.set('a', 3).set('b', 4);
          x.session.revert();
          x.write(JSON.stringify(x.session.toJSON()));
        });
        assert.equal(r.sentBody, '{"a":2}');
        assert.deepEqual({ ...stored(id).data }, { a: 2 });
        sinon.assert.calledOnce(save);
      });

      it('without save(), revert() restores the loaded state and nothing is written', async () => {
        const id = await seed({ a: 1 });
        const save = sinon.spy(impl, 'save');
        const touch = sinon.spy(impl, 'touch');
        await handle(withCookie(id), (x) => { x.session.set('a', 9).expire(60).revert(); });
        sinon.assert.notCalled(save);
        sinon.assert.notCalled(touch);
        assert.equal(stored(id).data.a, 1);
        assert.equal(stored(id).expiry, undefined);
      });
    });

    describe('PSOSessionLazy', () => {
      it('by default, a new session without data is neither stored nor sent a cookie: 200 anonymous requests store nothing', async () => {
        for (let i = 0; i < 200; i++) {
          const r = await handle(req(), (x) => x.write(x.session.id));
          assert.match(r.sentBody, ID);
          assert.deepEqual(r.setCookies(), []);
        }
        assert.deepEqual(sessionFiles(), []);
      });

      it('when on, the same', async () => {
        const r = await handle(req({ env: { PSOSessionLazy: 'on' } }), (x) => x.write(x.session.id));
        assert.deepEqual(r.setCookies(), []);
        assert.deepEqual(sessionFiles(), []);
      });

      it('a session that gets data is stored and sent a cookie', async () => {
        const r = await handle(req(), (x) => { x.session.set('cart', 1); });
        const id = idOf(cookieOf(r));
        assert.deepEqual({ ...stored(id).data }, { cart: 1 });
      });

      for (const [what, fn] of [
        ['save()', (x: FakeRequest) => x.session.save()],
        ['regenerate()', (x: FakeRequest) => { x.session.regenerate(); }],
        ['expire(seconds)', (x: FakeRequest) => { x.session.expire(600); }],
        ['expire()', (x: FakeRequest) => { x.session.expire(); }],
      ] as const) {
        it(`an empty new session that the handler asks for with ${what} is stored and sent a cookie`, async () => {
          const r = await handle(req(), fn);
          assert.equal(r.head!.status, 200, r.sentBody);
          const id = idOf(cookieOf(r));
          assert.match(id, ID);
          assert.deepEqual({ ...stored(id).data }, {});
        });
      }

      it('when off (the old behaviour), an empty new session is stored and sent a cookie', async () => {
        const r = await handle(req({ env: { PSOSessionLazy: 'off' } }));
        assert.ok(existsSync(fileOf(idOf(cookieOf(r)))));
      });

      it('a returning session that is emptied stays stored', async () => {
        const id = await seed({ a: 1 });
        const r = await handle(withCookie(id), (x) => { x.session.clear(); });
        assert.equal(r.head!.status, 200);
        assert.deepEqual({ ...stored(id).data }, {});
      });

      it('when invalid, answers 500 naming the directive', async () => {
        const r = await handle(req({ env: { PSOSessionLazy: 'sometimes' } }));
        assert.equal(r.head!.status, 500);
        assert.ok(r.memoryLogger!.has('error', /PSOSessionLazy="sometimes" is invalid: expected on or off/), JSON.stringify(r.logLines));
      });
    });

    describe('lazy writes', () => {
      it('when only the expiry moves, touch() is called instead of save(), with the new expires', async () => {
        const id = 'J'.repeat(27);
        plant(id, { data: { a: 1 }, created: T0 - 600_000, expires: T0 + 300_000 });
        const touch = sinon.stub(impl, 'touch').resolves();
        const save = sinon.spy(impl, 'save');
        const r = await handle(withCookie(id, { env: { PSOSessionExpire: '900' } }));
        sinon.assert.notCalled(save);
        sinon.assert.calledOnce(touch);
        const [request, touchedId, record, hints] = touch.firstCall.args;
        assert.equal(request, r);
        assert.equal(touchedId, id);
        assert.deepEqual({ ...record, data: { ...record.data } }, { data: { a: 1 }, expires: T0 + 900_000, created: T0 - 600_000 });
        assert.deepEqual(hints, { final: true });
        assert.equal(attr(cookieOf(r)!, 'Max-Age'), '900');
      });

      it('when the data changed too, save() is called and not touch()', async () => {
        const id = 'K'.repeat(27);
        plant(id, { data: { a: 1 }, created: T0 - 600_000, expires: T0 + 300_000 });
        const touch = sinon.spy(impl, 'touch');
        const save = sinon.spy(impl, 'save');
        await handle(withCookie(id, { env: { PSOSessionExpire: '900' } }), (x) => { x.session.set('a', 2); });
        sinon.assert.notCalled(touch);
        sinon.assert.calledOnce(save);
        assert.equal(fileExpires(id), T0 + 900_000);
      });

      it('when the handler sets the same timeouts and expiry on every request, nothing is rewritten within a minute', async () => {
        const set = (x: FakeRequest) => { x.session.setTimeouts({ idle: 600, absolute: 7200 }).expire(900); };
        const first = await handle(req(), (x) => { x.session.set('a', 1); set(x); });
        const id = idOf(cookieOf(first));
        at(30_000);
        const touch = sinon.spy(impl, 'touch');
        const save = sinon.spy(impl, 'save');
        const r = await handle(withCookie(id), set);
        sinon.assert.notCalled(touch);
        sinon.assert.notCalled(save);
        assert.equal(cookieOf(r), undefined);
        assert.equal(fileExpires(id), T0 + 600_000);
      });

      it('when unchanged and stored less than a minute ago, neither is called and no cookie is sent', async () => {
        const id = await seed({ a: 1 }, { env: { PSOSessionExpire: '900' } });
        at(59_000);
        const touch = sinon.spy(impl, 'touch');
        const save = sinon.spy(impl, 'save');
        const r = await handle(withCookie(id, { env: { PSOSessionExpire: '900' } }));
        sinon.assert.notCalled(touch);
        sinon.assert.notCalled(save);
        assert.equal(cookieOf(r), undefined);
        assert.equal(fileExpires(id), T0 + 900_000);
      });
    });
  });
});
