import assert from 'node:assert/strict';
import sinon from 'sinon';
import { answerFor } from '../../../src/service/errorAnswer.js';
import { KeyedMutex } from '../../../src/session/locks/KeyedMutex.js';
import { SessionBusyError } from '../../../src/session/locks/SessionBusyError.js';

/** Whether a promise has settled, after letting pending callbacks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe('KeyedMutex', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  describe('acquire', () => {
    it('when the key is free, resolves at once and holds it', async () => {
      const m = new KeyedMutex();
      const release = await m.acquire('k', 1000);
      assert.equal(m.size, 1);
      await release();
      assert.equal(m.size, 0);
    });

    it('when the key is held, waits until it is released', async () => {
      const m = new KeyedMutex();
      const r1 = await m.acquire('k', 1000);
      const p2 = m.acquire('k', 1000);
      assert.equal(await settled(p2), false);
      await r1();
      const r2 = await p2;
      assert.equal(m.size, 1);
      await r2();
      assert.equal(m.size, 0);
    });

    it('when several wait, grants the key first come first served', async () => {
      const m = new KeyedMutex();
      const order: number[] = [];
      const r0 = await m.acquire('k', 1000);
      const waiters = [1, 2, 3, 4].map((n) =>
        m.acquire('k', 1000).then(async (release) => {
          order.push(n);
          await Promise.resolve();
          await release();
        }),
      );
      await r0();
      await Promise.all(waiters);
      assert.deepEqual(order, [1, 2, 3, 4]);
      assert.equal(m.size, 0);
    });

    it('when keys differ, they do not wait for each other', async () => {
      const m = new KeyedMutex();
      await m.acquire('a', 1000);
      const pb = m.acquire('b', 1000);
      assert.equal(await settled(pb), true);
      assert.equal(m.size, 2);
    });

    it('when the wait exceeds the timeout, rejects with SessionBusyError (503, Retry-After)', async () => {
      const m = new KeyedMutex();
      await m.acquire('svc\0id', 1000);
      const p = m.acquire('svc\0id', 250);
      const check = assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof SessionBusyError);
        assert.equal(e.kind, 'busy');
        const answer = answerFor(e);
        assert.equal(answer.status, 503);
        assert.equal(answer.expose, false);
        assert.deepEqual(answer.headers, { 'Retry-After': '1' });
        assert.match(e.message, /still locked after 250 ms/);
        return true;
      });
      await clock.tickAsync(249);
      assert.equal(await settled(p), false);
      await clock.tickAsync(1);
      await check;
    });

    it('when a waiter gave up, it does not block those behind it', async () => {
      const m = new KeyedMutex();
      const r1 = await m.acquire('k', 1000);
      const quitter = m.acquire('k', 100);
      quitter.catch(() => {});
      const patient = m.acquire('k', 10_000);
      await clock.tickAsync(150);
      await assert.rejects(quitter, SessionBusyError);
      assert.equal(await settled(patient), false);
      await r1();
      const r3 = await patient;
      await r3();
      assert.equal(m.size, 0);
    });

    it('when every waiter gave up, the release frees the key', async () => {
      const m = new KeyedMutex();
      const r1 = await m.acquire('k', 1000);
      const quitter = m.acquire('k', 10);
      quitter.catch(() => {});
      await clock.tickAsync(20);
      await r1();
      assert.equal(m.size, 0);
      assert.equal(await settled(m.acquire('k', 10)), true);
    });

    it('when granted in time, its timer no longer fires', async () => {
      const m = new KeyedMutex();
      const r1 = await m.acquire('k', 1000);
      const p2 = m.acquire('k', 100);
      await r1();
      const r2 = await p2;
      await clock.tickAsync(1000);
      // Still held by the second caller: a third must wait.
      assert.equal(await settled(m.acquire('k', 5000)), false);
      await r2();
    });
  });

  describe('release', () => {
    it('when called twice, the second call does nothing', async () => {
      const m = new KeyedMutex();
      const r1 = await m.acquire('k', 1000);
      const p2 = m.acquire('k', 1000);
      await r1();
      const r2 = await p2;
      await r1();
      // r1's second call must not have released r2's hold.
      const p3 = m.acquire('k', 1000);
      assert.equal(await settled(p3), false);
      await r2();
      await r2();
      const r3 = await p3;
      await r3();
      assert.equal(m.size, 0);
    });
  });
});
