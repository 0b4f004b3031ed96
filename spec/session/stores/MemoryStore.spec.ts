import assert from 'node:assert/strict';
import sinon from 'sinon';
import { MemoryStore, type SessionRecord } from '../../../src/index.js';

const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000, ...patch });

describe('MemoryStore', () => {
  let store: MemoryStore;
  afterEach(async () => {
    sinon.restore();
    await store?.close();
  });

  it('keeps copies: changing what was stored or read does not change the store', async () => {
    store = new MemoryStore({ sweepIntervalMs: 0 });
    const r = record({ data: { list: [1] } });
    await store.set('s:a', r);
    (r.data.list as number[]).push(2);
    const read = (await store.get('s:a'))!;
    assert.deepEqual({ ...read.data }, { list: [1] });
    (read.data.list as number[]).push(3);
    assert.deepEqual({ ...(await store.get('s:a'))!.data }, { list: [1] });
  });

  it('forgets expired records on access and on sweep', async () => {
    const clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date', 'setInterval', 'clearInterval'] });
    store = new MemoryStore({ sweepIntervalMs: 1000 });
    await store.set('s:a', record({ expires: Date.now() + 500 }));
    await store.set('s:b', record({ expires: Date.now() + 5000 }));
    clock.tick(600);
    assert.equal(await store.get('s:a'), undefined);
    clock.tick(5000);
    await Promise.resolve();
    assert.equal(await store.count(), 0);
  });

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    store = new MemoryStore({ maxEntries: 2, sweepIntervalMs: 0 });
    await store.set('s:a', record());
    await store.set('s:b', record());
    await store.get('s:a');
    await store.set('s:c', record());
    assert.deepEqual((await store.list()).sort(), ['s:a', 's:c']);
  });

  it('destroys, counts and lists', async () => {
    store = new MemoryStore({ sweepIntervalMs: 0 });
    await store.set('s:a', record());
    await store.set('s:b', record());
    await store.destroy('s:a');
    await store.destroy('s:missing');
    assert.equal(await store.count(), 1);
    assert.deepEqual(await store.list(), ['s:b']);
  });

  it('refuses a bad maxEntries', () => {
    assert.throws(() => new MemoryStore({ maxEntries: 0 }), RangeError);
  });

  it('refuses, when it is written, data JSON cannot hold', async () => {
    store = new MemoryStore({ sweepIntervalMs: 0 });
    await assert.rejects(store.set('s:b', record({ data: { m: new Map() as never } })), /sessions store JSON values only/);
    assert.deepEqual(await store.list(), []);
  });
});
