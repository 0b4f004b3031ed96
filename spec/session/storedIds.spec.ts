// Where a session id may and may not show: never in a file name, a store key,
// a lock or a log line; sessions stored before ids were hashed still work.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CookieStoreImpl, MemoryStore, ServiceHandler, TOKENS, createContainer, serializeRecord, type Handler } from '../../src/index.js';
import { FakeRequest, tempDir } from '../support/fakeRequest.js';
import { sessionFileName, sessionKey } from '../support/sessionFiles.js';

const HOUR = 3600_000;
const record = (data: Record<string, number | string>) => ({ data, created: Date.now(), expires: Date.now() + HOUR });
const idOf = (r: FakeRequest) => /^spec=([^;]+)/.exec(r.setCookies()[0] ?? '')?.[1];

describe('stored session ids', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  async function handle(env: Record<string, string>, fn: Handler, cookie?: string, handler = new ServiceHandler(createContainer())): Promise<FakeRequest> {
    const r = new FakeRequest({ env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...env }, headers: cookie ? { cookie: `spec=${cookie}` } : {} });
    await handler.handle(r, fn);
    return r;
  }
  const count: Handler = (r) => { r.write(String(r.session.increment('n'))); };

  it('name no session file after its id: the name holds a SHA-256 of it', async () => {
    const r = await handle({}, count);
    const id = idOf(r)!;
    const names = readdirSync(dir);
    assert.deepEqual(names, [sessionFileName('spec', id)]);
    assert.ok(!names.some((n) => n.includes(id)), names.join(' '));
  });

  it('key no session in a store after its id', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 });
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(store);
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    const r = await handle({}, count, undefined, new ServiceHandler(container));
    const id = idOf(r)!;
    assert.deepEqual(await store.list(), [sessionKey('spec', id)]);
    assert.ok(!(await store.list())[0]!.includes(id));
  });

  it('read a session stored before ids were hashed, and move it under its new name on the next save', async () => {
    const id = 'L'.repeat(27);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `pso_spec_${id}.json`), serializeRecord(record({ n: 41 })), { mode: 0o600 });
    const r = await handle({}, count, id);
    assert.equal(r.sentBody, '42');
    assert.equal(existsSync(join(dir, `pso_spec_${id}.json`)), false, 'the old file is gone');
    assert.ok(existsSync(join(dir, sessionFileName('spec', id))));
    assert.equal((await handle({}, count, id)).sentBody, '43');
  });

  it('read a session an old store kept under "<service>:<id>", and move it', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 });
    const id = 'M'.repeat(27);
    await store.set(`spec:${id}`, record({ n: 9 }));
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(store);
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    const r = await handle({}, count, id, new ServiceHandler(container));
    assert.equal(r.sentBody, '10');
    assert.deepEqual(await store.list(), [sessionKey('spec', id)]);
  });

  it('never show a live id in a log line: a busy session, a corrupt one', async () => {
    const first = await handle({}, count);
    const id = idOf(first)!;
    const handler = new ServiceHandler(createContainer());
    const impl = handler.sessionImplFor();
    // Held by one request, the next one waits out the lock timeout.
    const holding = new FakeRequest({ env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0' }, headers: { cookie: `spec=${id}` }, persistent: true });
    const session = await impl.open(holding);
    const busy = await handle({ PSOSessionLockTimeout: '1' }, count, id, handler);
    await impl.close(session, false);
    assert.equal(busy.head!.status, 503);
    writeFileSync(join(dir, sessionFileName('spec', id)), '{"v":1,"created"');
    const corrupt = await handle({}, count, id);
    const lines = [...busy.logLines, ...corrupt.logLines].map((l) => l.message);
    assert.ok(lines.some((l) => /session busy/.test(l)) && lines.some((l) => /cannot be read/.test(l)), lines.join('\n'));
    for (const line of lines) assert.ok(!line.includes(id), line);
  });

  describe('PSOSessionMaxSize', () => {
    it('refuses to save a session larger than the limit, with a 500 that says so, and keeps the stored one', async () => {
      const first = await handle({}, (r) => { r.session.set('blob', 'x'); });
      const id = idOf(first)!;
      const big = await handle({ PSOSessionMaxSize: '1k' }, (r) => { r.session.set('blob', 'y'.repeat(2000)); }, id);
      assert.equal(big.head!.status, 500);
      assert.ok(big.memoryLogger!.has('error', /the session holds 2\d{3} bytes of data, more than PSOSessionMaxSize \(1024 bytes\): it was not saved/), JSON.stringify(big.logLines));
      const after = await handle({}, (r) => { r.write(String(r.session.get('blob'))); }, id);
      assert.equal(after.sentBody, 'x');
    });

    it('does not read a stored session larger than the limit: a new session and a log line', async () => {
      const first = await handle({}, (r) => { r.session.set('blob', 'z'.repeat(3000)); });
      const id = idOf(first)!;
      const small = await handle({ PSOSessionMaxSize: '2k' }, (r) => { r.write(String(r.session.get('blob', 'none'))); }, id);
      assert.equal(small.sentBody, 'none');
      assert.ok(small.memoryLogger!.has('warn', /stored session \S{6}\.\.\. of spec holds 30\d\d bytes, more than PSOSessionMaxSize; starting a new session/), JSON.stringify(small.logLines));
      // Under the default limit (1 MiB) the same session reads back.
      assert.equal((await handle({}, (r) => { r.write(String(r.session.get('blob')).length.toString()); }, id)).sentBody, '3000');
    });

    it('counts bytes, not characters', async () => {
      const first = await handle({ PSOSessionMaxSize: '3000' }, (r) => { r.session.set('s', '\u00e9'.repeat(1400)); });
      assert.equal(first.head!.status, 200);
      const over = await handle({ PSOSessionMaxSize: '3000' }, (r) => { r.session.set('s', '\u00e9'.repeat(1600)); });
      assert.equal(over.head!.status, 500);
    });
  });
});
