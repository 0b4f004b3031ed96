// session.reload() (read the stored session again) and session.touch()
// (move its expiry without writing its data where the store can).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CookieStoreImpl, MemoryStore, ServiceHandler, SessionReadOnlyError, TOKENS, createContainer, parseRecord, serializeRecord,
  type Handler, type HandlerOptions, type SessionRecord,
} from '../../src/index.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { sessionFileName, sessionKey } from '../support/sessionFiles.js';
import { storedRecord } from '../support/storedFile.js';

const HOUR = 3600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idOf = (r: FakeRequest) => /^spec=([^;]*)/.exec(r.setCookies()[0] ?? '')?.[1];

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('session.reload() and session.touch()', function () {
  this.timeout(20_000);
  let dir: string;
  let cleanup: () => void;
  let handler: ServiceHandler;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    handler = new ServiceHandler(createContainer());
  });
  afterEach(() => cleanup());

  const fileOf = (id: string) => join(dir, sessionFileName('spec', id));
  const stored = (id: string) => storedRecord(fileOf(id));
  const plant = (id: string, record: SessionRecord) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(fileOf(id), serializeRecord(record), { mode: 0o600 });
  };
  const errors = (r: FakeRequest) => r.logLines.filter((l) => l.level === 'error').map((l) => l.message).join('\n');

  async function handle(fn: Handler, init: FakeRequestInit & { cookie?: string; options?: HandlerOptions } = {}, core = handler): Promise<FakeRequest> {
    const r = new FakeRequest({
      persistent: true, ...init,
      env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', PSOSessionLockTimeout: '1', ...init.env },
      headers: { ...(init.cookie ? { cookie: `spec=${init.cookie}` } : {}), ...init.headers },
    });
    await core.handle(r, fn, init.options);
    return r;
  }

  describe('reload()', () => {
    it('reads what a parallel request saved after this one released the session', async () => {
      const id = idOf(await handle((r) => { r.session.set('n', 1); }))!;
      const released = gate();
      const saved = gate();
      const first = handle(async (r) => {
        await r.session.release();
        released.open();
        await saved.wait;
        const found = await r.session.reload();
        r.write(`${found} ${String(r.session.get('n'))}`);
      }, { cookie: id });
      await released.wait;
      await handle((r) => { r.session.increment('n'); }, { cookie: id });
      saved.open();
      assert.equal((await first).sentBody, 'true 2');
    });

    it('drops the changes not saved yet', async () => {
      const id = idOf(await handle((r) => { r.session.set('n', 1); }))!;
      const r = await handle(async (req) => {
        req.session.set('draft', 'x').increment('n');
        const found = await req.session.reload();
        req.write(`${found} ${JSON.stringify(req.session.toJSON())} ${req.session.isModified}`);
      }, { cookie: id });
      assert.equal(r.sentBody, 'true {"n":1} false');
      assert.deepEqual({ ...stored(id).data }, { n: 1 });
    });

    it('when the stored session is gone, resolves false and leaves a new, empty session with a fresh id; the old id stays unused', async () => {
      const id = idOf(await handle((r) => { r.session.set('user', 'ada'); }))!;
      const r = await handle(async (req) => {
        rmSync(fileOf(id));
        const found = await req.session.reload();
        req.write(`${found} ${req.session.isNew} ${req.session.id === id} ${JSON.stringify(req.session.toJSON())}`);
        req.session.set('fresh', 1);
      }, { cookie: id });
      assert.equal(r.sentBody, 'false true false {}', errors(r));
      const fresh = idOf(r)!;
      assert.notEqual(fresh, id);
      assert.deepEqual({ ...stored(fresh).data }, { fresh: 1 });
      assert.equal(existsSync(fileOf(id)), false);
    });

    it('when a read-only session is gone, empties it and tells the client to forget its id', async () => {
      const id = idOf(await handle((r) => { r.session.set('user', 'ada'); }))!;
      const r = await handle(async (req) => {
        rmSync(fileOf(id));
        req.write(`${await req.session.reload()} ${JSON.stringify(req.session.toJSON())}`);
      }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(r.sentBody, 'false {}');
      assert.match(r.setCookies()[0] ?? '', /^spec=; .*Max-Age=0/);
    });

    it('when the session is gone and the response has started, empties it and refuses changes, which could not reach the client', async () => {
      const id = idOf(await handle((r) => { r.session.set('user', 'ada'); }))!;
      let thrown: unknown;
      await handle(async (req) => {
        req.write('streaming');
        await req.flush();
        rmSync(fileOf(id));
        assert.equal(await req.session.reload(), false);
        try {
          req.session.set('user', 'eve');
        } catch (e) {
          thrown = e;
        }
      }, { cookie: id });
      assert.ok(thrown instanceof SessionReadOnlyError && thrown.reason === 'gone', String(thrown));
      assert.equal(existsSync(fileOf(id)), false, 'the gone session was not written back');
    });

    it('of a session not stored yet resolves false and changes nothing; after an unsaved regenerate() it says to save first', async () => {
      const r = await handle(async (req) => {
        req.session.set('a', 1);
        req.write(`${await req.session.reload()} ${String(req.session.get('a'))}`);
      });
      assert.equal(r.sentBody, 'false 1');
      const id = idOf(r)!;
      const regen = await handle(async (req) => {
        req.session.regenerate();
        await req.session.reload();
      }, { cookie: id });
      assert.equal(regen.head!.status, 500);
      assert.match(errors(regen), /session\.reload\(\) cannot follow regenerate\(\) or destroy\(\) before the session is saved: await session\.save\(\) first/);
    });
  });

  describe('touch()', () => {
    /** A stored session that ends in 10 minutes, with a one-hour expiry in seconds. */
    function plantShortLived(id: string): number {
      const expires = Date.now() + 600_000;
      plant(id, { data: { n: 1 }, created: Date.now() - HOUR, expires, expiry: { kind: 'after', seconds: 3600 } });
      return expires;
    }

    it('moves the stored expiry to a full lifetime from now and sends the cookie again; the data stays', async () => {
      const id = 'T'.repeat(27);
      const before = plantShortLived(id);
      const r = await handle(async (req) => { req.write(String(await req.session.touch())); }, { cookie: id });
      assert.equal(r.sentBody, 'true', errors(r));
      const after = stored(id);
      assert.ok(after.expires > before + 2_900_000, `${after.expires - Date.now()} ms left`);
      assert.deepEqual({ ...after.data }, { n: 1 });
      const cookie = r.setCookies()[0] ?? '';
      assert.match(cookie, new RegExp(`^spec=${id}; Max-Age=(35\\d\\d|3600);`));
    });

    it('moves it in a read-only session too (the lock taken for the moment), writing nothing else', async () => {
      const id = 'U'.repeat(27);
      const before = plantShortLived(id);
      const r = await handle(async (req) => { req.write(`${await req.session.touch()} ${String(req.session.get('n'))}`); }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(r.sentBody, 'true 1', errors(r));
      assert.ok(stored(id).expires > before + 2_900_000);
      assert.match(r.setCookies()[0] ?? '', new RegExp(`^spec=${id}; Max-Age=(35\\d\\d|3600);`));
    });

    it('of a browser-lifetime session moves the stored expiry and needs no cookie', async () => {
      const id = 'V'.repeat(27);
      const before = Date.now() + 60_000;
      plant(id, { data: { n: 1 }, created: Date.now(), expires: before });
      const r = await handle(async (req) => { req.write(String(await req.session.touch())); }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(r.sentBody, 'true');
      assert.ok(stored(id).expires > before + 20 * HOUR, 'PSOSessionIdleTimeout (a day) from now');
      assert.deepEqual(r.setCookies(), []);
    });

    it('leaves a session busy in another request to that request: false and a log line, the request goes on', async () => {
      const id = 'W'.repeat(27);
      const before = plantShortLived(id);
      const inside = gate();
      const done = gate();
      const holder = handle(async (r) => { inside.open(); await done.wait; r.write('held'); }, { cookie: id });
      await inside.wait;
      const r = await handle(async (req) => { req.write(String(await req.session.touch())); }, { cookie: id, options: { readOnlySession: true } });
      done.open();
      await holder;
      assert.equal(r.head!.status, 200);
      assert.equal(r.sentBody, 'false');
      assert.ok(r.logLines.some((l) => /session\.touch\(\): the session is busy in another request/.test(l.message)), JSON.stringify(r.logLines));
      assert.ok(stored(id).expires >= before);
    });

    it('of a session not stored resolves false', async () => {
      const r = await handle(async (req) => { req.write(String(await req.session.touch())); });
      assert.equal(r.sentBody, 'false');
      assert.deepEqual(r.setCookies(), []);
    });

    describe('on a store', () => {
      /** A memory store that counts its writes and, when asked, has a touch of its own. */
      class CountingStore extends MemoryStore {
        sets = 0;
        touches = 0;
        override async set(key: string, record: SessionRecord): Promise<void> {
          this.sets++;
          await super.set(key, record);
        }
      }
      class TouchingStore extends CountingStore {
        async touch(key: string, record: SessionRecord): Promise<void> {
          this.touches++;
          await super.set(key, record);
          this.sets--;
        }
      }
      function coreWith(store: MemoryStore): ServiceHandler {
        const container = createContainer();
        container.bind(TOKENS.SessionStore).toConstantValue(store);
        container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
        return new ServiceHandler(container);
      }

      it('uses the store\'s touch, never a write of the data, where the store has one; a full write where it has not', async () => {
        const id = 'X'.repeat(27);
        for (const [store, touches, sets] of [[new TouchingStore({ sweepIntervalMs: 0 }), 2, 0], [new CountingStore({ sweepIntervalMs: 0 }), 0, 2]] as const) {
          await MemoryStore.prototype.set.call(store, sessionKey('spec', id), { data: { n: 1 }, created: Date.now(), expires: Date.now() + 600_000, expiry: { kind: 'after', seconds: 3600 } });
          const core = coreWith(store);
          for (const options of [{}, { readOnlySession: true }]) {
            // Some time into the request: the save at its end must not move the touched expiry back.
            const r = await handle(async (req) => { await sleep(20); req.write(String(await req.session.touch())); }, { cookie: id, options }, core);
            assert.equal(r.sentBody, 'true', errors(r));
          }
          assert.equal(store.touches, touches, store.constructor.name);
          assert.equal(store.sets, sets, store.constructor.name);
          assert.ok((await store.get(sessionKey('spec', id)))!.expires > Date.now() + 3_500_000);
        }
      });
    });
  });
});
