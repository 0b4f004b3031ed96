import { ConfigurationError } from '../../config/ConfigurationError.js';
import { SessionError } from '../SessionError.js';
import type { SessionStore } from './SessionStore.js';
import { StoreUnavailableError } from './StoreUnavailableError.js';

/** How often the deadlines of store operations are checked, in ms. */
const DEADLINE_TICK_MS = 50;

/** A store operation waiting for its answer. */
interface Pending {
  deadline: number;
  expire(): void;
}

/**
 * Microtasks an operation may take before its deadline is watched, while no
 * timer runs: the file store's lock and read under CGI take 9, its write 13
 * (64 of them cost about 5 µs, once: then the timer runs).
 */
const SETTLE_LOOKS = 64;

/** Ticks without a new operation after which the timer stops (one second). */
const IDLE_TICKS = 20;

/**
 * Store operations in flight, checked by one timer for the process rather
 * than a timer each (every request makes two or more). The timer keeps the
 * process alive only while an operation waits (unref'd when none does, so a
 * CGI process can exit at once), and stops after a second in which no
 * operation began: a busy server makes neither a timer per operation nor a
 * new one at every tick. (With a fast store every tick found nothing
 * pending, so the timer was stopped and made again twenty times a second;
 * in three runs of six under a memory-store load, old-generation growth
 * then went from about 1 to 7 MB per 1,000 requests, and a request's CPU
 * up by about half: V8 kept whole requests through young collections; the
 * state itself is V8's pretenuring, see `util/servingHeap.ts`.)
 */
const pending = new Set<Pending>();
let ticker: NodeJS.Timeout | undefined;
/** Ticks in a row in which no operation began. */
let idleTicks = 0;
let begun = false;

function watch(entry: Pending): void {
  pending.add(entry);
  begun = true;
  if (ticker === undefined) ticker = setInterval(expireLate, DEADLINE_TICK_MS);
  else ticker.ref();
}

/** An operation answered: with none left, the timer no longer keeps the process alive. */
function unwatch(entry: Pending): void {
  pending.delete(entry);
  if (pending.size === 0) ticker?.unref();
}

function expireLate(): void {
  const now = Date.now();
  for (const entry of pending) {
    if (entry.deadline <= now) {
      pending.delete(entry);
      entry.expire();
    }
  }
  if (pending.size > 0) return;
  ticker?.unref();
  idleTicks = begun ? 0 : idleTicks + 1;
  begun = false;
  if (idleTicks >= IDLE_TICKS) {
    clearInterval(ticker);
    ticker = undefined;
    idleTicks = 0;
  }
}

/** Whether the deadline timer exists (tests: an operation that answered at once made none). */
export function deadlineTimerStarted(): boolean {
  return ticker !== undefined;
}

/**
 * Runs one operation of `store` within `ms` milliseconds. A store that fails
 * or does not answer in time becomes a {@link StoreUnavailableError} naming
 * it (a 503), unless the failure already says what it is (a session error, a
 * configuration error). A store that says it `answersAtOnce` (its work is
 * done in this process) is not watched at all, but for its sweep.
 *
 * While the deadline timer is not running, an operation is watched only if
 * it has not answered within some microtasks: a store in this process
 * (files under CGI, memory, SQLite) answers by then, so a CGI process starts
 * no timer for nothing (half a millisecond: node's timers are set up on
 * first use). An operation that waits for I/O cannot answer before the
 * microtasks run out; its deadline counts from when it began.
 *
 * @example
 * ```ts
 * const record = await storeCall(store, 'get', 5000, () => store.get(key));
 * ```
 */
export function storeCall<T>(store: SessionStore, what: string, ms: number, op: () => Promise<T>): Promise<T> {
  // A store in this process keeps no deadline (none could pass while it runs); a sweep always does.
  if (store.answersAtOnce === true && what !== 'gc') {
    try {
      return op().then(undefined, (e: unknown) => {
        throw failure(store, what, e);
      });
    } catch (e) {
      return Promise.reject(failure(store, what, e));
    }
  }
  return new Promise<T>((resolve, reject) => {
    const deadline = Date.now() + ms;
    let answered = false;
    let entry: Pending | undefined;
    const fail = (e: unknown) => {
      answered = true;
      if (entry) unwatch(entry);
      reject(failure(store, what, e));
    };
    let answer: Promise<T>;
    try {
      answer = op();
    } catch (e) {
      fail(e);
      return;
    }
    answer.then((value) => {
      answered = true;
      if (entry) unwatch(entry);
      resolve(value);
    }, fail);
    const startWatching = () => {
      entry = { deadline, expire: () => reject(new StoreUnavailableError(store.name, `no answer to ${what} within ${ms} ms`)) };
      watch(entry);
    };
    // A busy server has the timer: watched at once, as cheap as it gets.
    if (ticker !== undefined) {
      startWatching();
      return;
    }
    // Otherwise looked at again after each microtask, for a while: an operation of a store in
    // this process answers within them (its awaits of work done at once), one that waits for I/O cannot.
    let looks = 0;
    const look = () => {
      if (answered) return;
      if (++looks < SETTLE_LOOKS) queueMicrotask(look);
      else startWatching();
    };
    queueMicrotask(look);
  });
}

/** What a failed operation becomes: an error that says what it is already, else a {@link StoreUnavailableError} naming the store. */
function failure(store: SessionStore, what: string, e: unknown): unknown {
  return e instanceof SessionError || e instanceof ConfigurationError ? e : new StoreUnavailableError(store.name, `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e });
}
