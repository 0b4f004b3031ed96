import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { storeCall } from '../../../src/session/stores/storeCall.js';
import { StoreUnavailableError } from '../../../src/session/stores/StoreUnavailableError.js';
import type { SessionStore } from '../../../src/session/stores/SessionStore.js';
import { SessionBusyError } from '../../../src/session/locks/SessionBusyError.js';
import { ROOT } from '../../support/http.js';

const store = { name: 'test:' } as SessionStore;
const module = join(ROOT, 'dist/src/session/stores/storeCall.js');

/** Runs `body` in a fresh node with `storeCall` and a store named test: in scope; its output and how long it ran. */
function inChild(body: string): { out: string; ms: number } {
  const script = `import { storeCall } from ${JSON.stringify(module)};
const store = { name: 'test:' };
${body}`;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout + r.stderr, ms: Date.now() - started };
}

describe('storeCall (store operation deadlines)', () => {
  it('gives the answer of an operation that answers in time', async () => {
    assert.equal(await storeCall(store, 'get', 1000, async () => 42), 42);
  });

  it('rejects an operation that does not answer within its time, naming the store and the operation', async () => {
    const started = Date.now();
    await assert.rejects(
      storeCall(store, 'get', 150, () => new Promise(() => undefined)),
      (e: unknown) => e instanceof StoreUnavailableError && /test:/.test(e.message) && /no answer to get within 150 ms/.test(e.message),
    );
    assert.ok(Date.now() - started >= 140, 'not before its time');
  });

  it('many operations in a row, then one that hangs: the hung one still meets its deadline', async () => {
    for (let i = 0; i < 500; i++) await storeCall(store, 'get', 1000, async () => i);
    await new Promise((r) => setTimeout(r, 120)); // ticks with nothing pending
    await assert.rejects(storeCall(store, 'set', 150, () => new Promise(() => undefined)), StoreUnavailableError);
  });

  it('starts no timer for operations that answer at once (a store in this process), and one for an operation that waits', () => {
    const r = inChild(`import { deadlineTimerStarted } from ${JSON.stringify(module)};
      const answers = [];
      answers.push(await storeCall(store, 'get', 5000, async () => 1));
      answers.push(await storeCall(store, 'set', 5000, () => Promise.resolve(2)));
      answers.push(await storeCall(store, 'lock', 5000, async () => 3));
      const before = deadlineTimerStarted();
      answers.push(await storeCall(store, 'get', 5000, () => new Promise((r) => setTimeout(() => r(4), 20))));
      console.log(JSON.stringify({ answers, before, after: deadlineTimerStarted() }));`);
    assert.deepEqual(JSON.parse(r.out), { answers: [1, 2, 3, 4], before: false, after: true }, r.out);
  });

  it('keeps no deadline for a store that answers at once (answersAtOnce), but still for its sweep', () => {
    const r = inChild(`import { deadlineTimerStarted } from ${JSON.stringify(module)};
      const local = { name: 'local:', answersAtOnce: true };
      const answers = [];
      // Slower than the microtasks after which another store's operation is watched: no timer all the same.
      answers.push(await storeCall(local, 'get', 5000, () => new Promise((r) => setTimeout(() => r(1), 20))));
      answers.push(await storeCall(local, 'lock', 5000, () => new Promise((r) => setTimeout(() => r(2), 20))));
      const before = deadlineTimerStarted();
      answers.push(await storeCall(local, 'gc', 5000, () => new Promise((r) => setTimeout(() => r(3), 20))));
      console.log(JSON.stringify({ answers, before, after: deadlineTimerStarted() }));`);
    assert.deepEqual(JSON.parse(r.out), { answers: [1, 2, 3], before: false, after: true }, r.out);
  });

  it('turns the failures of a store that answers at once into StoreUnavailableError too, and passes a session error as it is', async () => {
    const local = { name: 'local:', answersAtOnce: true } as SessionStore;
    await assert.rejects(storeCall(local, 'set', 1000, async () => { throw new Error('disk on fire'); }), (e: unknown) => e instanceof StoreUnavailableError && /local:/.test(e.message) && /set failed: disk on fire/.test(e.message));
    await assert.rejects(storeCall(local, 'get', 1000, () => { throw new Error('thrown, not rejected'); }), (e: unknown) => e instanceof StoreUnavailableError && /thrown, not rejected/.test(e.message));
    const busy = new SessionBusyError('lock x', 10);
    await assert.rejects(storeCall(local, 'lock', 1000, async () => { throw busy; }), (e: unknown) => e === busy);
  });

  it('a failure that comes at once is still turned into a StoreUnavailableError', async () => {
    await assert.rejects(storeCall(store, 'get', 1000, async () => { throw new Error('disk on fire'); }), (e: unknown) => e instanceof StoreUnavailableError && /get failed: disk on fire/.test(e.message));
    await assert.rejects(storeCall(store, 'get', 1000, () => { throw new Error('thrown, not rejected'); }), (e: unknown) => e instanceof StoreUnavailableError && /thrown, not rejected/.test(e.message));
  });

  it('does not keep a process alive once its operations have answered (a CGI exits at once)', function () {
    this.timeout(30_000);
    const bare = inChild(`console.log('answered');`);
    const r = inChild(`await storeCall(store, 'get', 5000, async () => 1); console.log('answered');`);
    assert.match(r.out, /answered/);
    // The timer stops after an idle second; until then it must not hold the process.
    assert.ok(r.ms < bare.ms + 600, `the process exited at once (${r.ms} ms, ${bare.ms} ms without the call), not after the timer's idle second`);
  });

  it('keeps a process alive while an operation waits, until its deadline', function () {
    this.timeout(30_000);
    // Nothing else holds the event loop: only the deadline's timer can make the rejection happen.
    const r = inChild(`storeCall(store, 'get', 300, () => new Promise(() => undefined)).catch((e) => console.log('rejected:', e.message));`);
    assert.match(r.out, /rejected: .*no answer to get within 300 ms/);
  });
});
