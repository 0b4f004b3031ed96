import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CookieFileImpl, CookieStoreImpl, MemoryStore, type SessionRequest, ServiceHandler, TOKENS, closeStores, createContainer, serve, type LockedRecord, type PsoServer, type SessionRecord, type SessionStore,
} from '../../src/index.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { sessionKey } from '../support/sessionFiles.js';

/** A store that can be made to fail or hang, to play a database going down and coming back. */
class FlakyStore implements SessionStore {
  readonly name = 'flaky://test';
  readonly inner = new MemoryStore({ sweepIntervalMs: 0 });
  mode: 'up' | 'fail' | 'hang' = 'up';
  async #gate(): Promise<void> {
    if (this.mode === 'fail') throw new Error('connection refused');
    if (this.mode === 'hang') await new Promise(() => {});
  }
  async get(key: string) { await this.#gate(); return this.inner.get(key); }
  async set(key: string, r: SessionRecord) { await this.#gate(); return this.inner.set(key, r); }
  async destroy(key: string) { await this.#gate(); return this.inner.destroy(key); }
}

/** A store that reads with its lock and writes with its unlock, counting what pso asks of it. */
class LockingStore implements SessionStore {
  readonly name = 'locking://test';
  readonly inner = new MemoryStore({ sweepIntervalMs: 0 });
  readonly calls: string[] = [];
  locked = false;
  /** Whether setAndRelease is offered. */
  combinedWrite = true;
  async get(key: string) { this.calls.push('get'); return this.inner.get(key); }
  async set(key: string, r: SessionRecord) { this.calls.push('set'); return this.inner.set(key, r); }
  async destroy(key: string) { this.calls.push('destroy'); return this.inner.destroy(key); }
  async lockAndGet(key: string): Promise<LockedRecord> {
    this.calls.push('lockAndGet');
    if (this.locked) throw new Error('locked twice');
    this.locked = true;
    const record = await this.inner.get(key);
    const release = async () => {
      if (this.locked) this.calls.push('release');
      this.locked = false;
    };
    const setAndRelease = async (r: SessionRecord) => {
      this.calls.push('setAndRelease');
      await this.inner.set(key, r);
      this.locked = false;
    };
    return { record: () => record, release, ...(this.combinedWrite ? { setAndRelease } : {}) };
  }
}

describe('CookieStoreImpl', () => {
  let server: PsoServer | undefined;
  let logger: MemoryLogger;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await closeStores();
  });

  async function start(store: SessionStore | undefined, directives: Record<string, string> = {}, impl: 'store' | 'default' = 'store') {
    const container = createContainer();
    logger = new MemoryLogger();
    container.rebind(TOKENS.Logger).toConstantValue(logger);
    if (store) container.bind(TOKENS.SessionStore).toConstantValue(store);
    if (impl === 'store') container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    server = await serve((r) => r.write(String(r.session.increment('n'))), { port: 0, moduleName: 'st', serviceHandler: new ServiceHandler(container), directives });
    return server.url;
  }

  it('keeps sessions in the bound store under "<service id>:<session id>"', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 });
    const url = await start(store);
    const jar = new CookieJar();
    for (const n of [1, 2, 3]) assert.equal(await (await jar.fetch(url)).text(), String(n));
    const [key] = await store.list();
    assert.equal(key, sessionKey('st', jar.cookies.get('st')!));
    await store.close();
  });

  it('with memory:, an anonymous flood stores nothing and cannot push a user\'s session out', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0, maxEntries: 10 });
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(store);
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    // Only a signed-in user's requests put something in the session; anonymous pages only read it.
    server = await serve((r) => r.write(String(r.query.has('user') ? r.session.increment('n') : r.session.get('n', 0))), {
      port: 0, moduleName: 'st', serviceHandler: new ServiceHandler(container),
    });
    const user = new CookieJar();
    assert.equal(await (await user.fetch(`${server.url}?user=1`)).text(), '1');
    for (let i = 0; i < 200; i++) {
      const res = await fetch(server.url);
      assert.equal(await res.text(), '0');
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
    assert.equal(await store.count(), 1);
    assert.equal(await (await user.fetch(`${server.url}?user=1`)).text(), '2');
    await store.close();
  });

  it('without a bound store, uses the one PSOSessionStore names (memory:)', async () => {
    const url = await start(undefined, { PSOSessionStore: 'memory:' });
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(url)).text(), '1');
    assert.equal(await (await jar.fetch(url)).text(), '2');
  });

  it('without any store, answers 500 saying how to configure one', async () => {
    const url = await start(undefined);
    assert.equal((await fetch(url)).status, 500);
    assert.match(logger.text(), /CookieStoreImpl needs a store: bind TOKENS.SessionStore or set PSOSessionStore/);
  });

  it('refuses an unknown scheme, naming the directive (and hiding a password)', async () => {
    const url = await start(undefined, { PSOSessionStore: 'nosuch://user:secret@host/' });
    assert.equal((await fetch(url)).status, 500);
    assert.match(logger.text(), /PSOSessionStore="nosuch:\/\/user:\*\*\*@host\/" is invalid: no store for nosuch: URLs/);
    assert.doesNotMatch(logger.text(), /secret/);
  });

  it('when the store fails, answers 503 naming it and keeps serving; when it is back, sessions go on', async () => {
    const store = new FlakyStore();
    const url = await start(store, { PSOSessionStoreTimeout: '1' });
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(url)).text(), '1');
    store.mode = 'fail';
    const down = await jar.fetch(url);
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '5');
    assert.match(logger.text(), /session store flaky:\/\/test unavailable: get failed: connection refused/);
    store.mode = 'hang';
    const slow = await jar.fetch(url);
    assert.equal(slow.status, 503);
    assert.match(logger.text(), /no answer to get within 1000 ms/);
    store.mode = 'up';
    assert.equal(await (await jar.fetch(url)).text(), '2', 'nothing was lost while the store was down');
  });

  it('reads with the lock and writes with the unlock when the store can (lockAndGet, setAndRelease)', async () => {
    const store = new LockingStore();
    const url = await start(store);
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(url)).text(), '1');
    store.calls.length = 0;
    assert.equal(await (await jar.fetch(url)).text(), '2');
    assert.deepEqual(store.calls, ['lockAndGet', 'setAndRelease']);
    store.combinedWrite = false;
    store.calls.length = 0;
    assert.equal(await (await jar.fetch(url)).text(), '3');
    assert.deepEqual(store.calls, ['lockAndGet', 'set', 'release']);
    assert.equal(store.locked, false);
  });

  it('asks storeFor() once a request, with a store and with files (a request\'s directives do not change while it runs)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pso-storefor-'));
    let asked = 0;
    class CountingImpl extends CookieFileImpl {
      override storeFor(request: SessionRequest) {
        asked++;
        return super.storeFor(request);
      }
    }
    try {
      for (const directives of [{ PSOSessionStore: 'memory:' }, { PSOSessionFileLoader_Path: dir }] as Record<string, string>[]) {
        // No sweep: one that falls on these requests (1 in 100 by default) asks for the store too.
        server = await serve((r) => r.write(String(r.session.increment('n'))), {
          port: 0,
          moduleName: 'sf',
          sessionImpl: CountingImpl,
          directives: { ...directives, PSOSessionGCProbability: '0' },
        });
        const jar = new CookieJar();
        for (const n of [1, 2, 3]) {
          asked = 0;
          assert.equal(await (await jar.fetch(server.url)).text(), String(n));
          assert.equal(asked, 1, `storeFor() calls in request ${n} with ${Object.keys(directives)[0]}`);
        }
        await server.close();
        server = undefined;
      }
      assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets the default policy switch from files to a store by directive alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pso-switch-'));
    try {
      const url = await start(undefined, { PSOSessionStore: 'memory:', PSOSessionFileLoader_Path: dir }, 'default');
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(url)).text(), '1');
      assert.equal(await (await jar.fetch(url)).text(), '2');
      assert.deepEqual(readdirSync(dir), [], 'no session file was written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a file: URL in PSOSessionStore as the session directory of the file policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pso-fileurl-'));
    try {
      const url = await start(undefined, { PSOSessionStore: `file://${dir}/` }, 'default');
      assert.equal(await (await fetch(url)).text(), '1');
      assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds 200 concurrent increments of one session without losing one', async () => {
    const url = await start(new MemoryStore({ sweepIntervalMs: 0 }));
    const jar = new CookieJar();
    await jar.fetch(url);
    await Promise.all(Array.from({ length: 200 }, () => jar.fetch(url).then((r) => r.text())));
    assert.equal(await (await jar.fetch(url)).text(), '202');
  });
});
