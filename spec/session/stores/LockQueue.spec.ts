import assert from 'node:assert/strict';
import { LockQueue, type LockQueuePool } from '../../../src/session/stores/sqlStoreSupport.js';

/** A pool of numbered connections with `size` places, and what was done with them. */
class FakePool implements LockQueuePool<number> {
  idle: number[] = [];
  open = 0;
  /** Callers waiting in the pool itself. */
  ownWaiters = 0;
  released: number[] = [];
  destroyed: number[] = [];
  /** The next connect() fails with this. */
  failNext: Error | undefined;
  #serial = 0;
  constructor(readonly size: number) {}
  available() {
    return this.idle.length + Math.max(0, this.size - this.open);
  }
  waiting() {
    return this.ownWaiters;
  }
  async connect() {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    if (this.idle.length) return this.idle.pop()!;
    this.open++;
    return ++this.#serial;
  }
  /** As pg-pool and mysql2 do, a connection given back goes to a caller waiting in the pool first. */
  release(conn: number) {
    this.released.push(conn);
    if (this.ownWaiters > 0) this.ownWaiters--;
    else this.idle.push(conn);
  }
  destroy(conn: number) {
    this.destroyed.push(conn);
    this.open--;
  }
}

const busy = () => new Error('busy');
const tick = () => new Promise((r) => setTimeout(r, 0));

/** Whether `p` is still pending once pending callbacks have run. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await tick();
  return !settled;
}

describe('LockQueue (the SQL stores\' queue of lock requests)', () => {
  it('serves from the pool while it has room, then hands a finishing holder\'s connection to the first waiter', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const first = await queue.acquire('a', 1000, busy);
    assert.deepEqual(first, { conn: 1 });
    const second = queue.acquire('b', 1000, busy, 'lock name of b');
    const third = queue.acquire('c', 1000, busy);
    assert.equal(await pending(second), true, 'no room in the pool: it waits');
    const taken = queue.nextOther('a')!;
    assert.equal(taken.key, 'b');
    assert.equal(taken.name, 'lock name of b', 'the holder\'s batch uses the name the waiter worked out');
    queue.giveBack(first.conn, false, { waiter: taken, pre: 'b locked and read' });
    assert.deepEqual(await second, { conn: 1, pre: 'b locked and read' });
    // No handover batch: the connection goes on plainly; then back to the pool once nobody waits.
    queue.giveBack(1, false);
    assert.deepEqual(await third, { conn: 1 });
    queue.giveBack(1, false);
    assert.deepEqual(pool.released, [1]);
    assert.equal(pool.open, 1);
  });

  it('leaves a waiter for the session just written first in line, for the server to queue', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const held = await queue.acquire('a', 1000, busy);
    const same = queue.acquire('a', 1000, busy);
    void queue.acquire('b', 1000, busy);
    assert.equal(queue.nextOther('a'), undefined);
    queue.giveBack(held.conn, false);
    assert.deepEqual(await same, { conn: 1 }, 'served plainly, with nothing taken for it');
  });

  it('gives the connection back to the pool while the pool has callers of its own', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const held = await queue.acquire('a', 1000, busy);
    const waiting = queue.acquire('b', 1000, busy);
    pool.ownWaiters = 1;
    assert.equal(queue.nextOther('a'), undefined);
    queue.giveBack(held.conn, false);
    assert.deepEqual(pool.released, [1]);
    assert.equal(pool.ownWaiters, 0, 'the pool\'s own caller has the connection');
    assert.equal(await pending(waiting), true);
    // That caller gives it back to the pool; the store pumps its queue when the pool frees one.
    pool.release(1);
    queue.pump();
    assert.deepEqual(await waiting, { conn: 1 });
  });

  it('times out a waiter at its deadline; a connection freed later goes to the next one', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const held = await queue.acquire('a', 1000, busy);
    const late = queue.acquire('b', 30, busy);
    const patient = queue.acquire('c', 1000, busy);
    await assert.rejects(late, /busy/);
    queue.giveBack(held.conn, false);
    assert.deepEqual(await patient, { conn: 1 });
  });

  it('does not time out a waiter a holder has taken; put back after its deadline, it fails then', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const held = await queue.acquire('a', 1000, busy);
    const waiting = queue.acquire('b', 30, busy);
    const taken = queue.nextOther('a')!;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await pending(waiting), true, 'its holder still decides');
    // The holder's batch failed: the connection is closed and the waiter put back, too late.
    queue.giveBack(held.conn, true, { waiter: taken, pre: 'unused' });
    await assert.rejects(waiting, /busy/);
    assert.deepEqual(pool.destroyed, [1]);
  });

  it('puts a taken waiter back first when its holder\'s connection is closed, and the pool serves it', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    const held = await queue.acquire('a', 1000, busy);
    const waiting = queue.acquire('b', 1000, busy);
    const other = queue.acquire('c', 1000, busy);
    const taken = queue.nextOther('a')!;
    queue.giveBack(held.conn, true, { waiter: taken, pre: 'unused' });
    assert.deepEqual(await waiting, { conn: 2 }, 'a new connection, without what the failed batch took');
    assert.equal(await pending(other), true);
    queue.giveBack(2, false);
    assert.deepEqual(await other, { conn: 2 });
  });

  it('fails a waiter when the pool cannot connect, and every waiter when the store closes', async () => {
    const pool = new FakePool(1);
    const queue = new LockQueue<number, string>(pool);
    pool.failNext = new Error('ECONNREFUSED');
    await assert.rejects(queue.acquire('a', 1000, busy), /ECONNREFUSED/);
    const held = await queue.acquire('a', 1000, busy);
    const waiting = queue.acquire('b', 1000, busy);
    queue.failAll(new Error('the store is closed'));
    await assert.rejects(waiting, /the store is closed/);
    queue.giveBack(held.conn, false);
    assert.deepEqual(pool.released, [1], 'nobody left to hand it to');
  });
});
