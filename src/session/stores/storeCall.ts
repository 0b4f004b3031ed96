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

/**
 * Runs one operation of `store` within `ms` milliseconds. A store that fails
 * or does not answer in time becomes a {@link StoreUnavailableError} naming
 * it (a 503), unless the failure already says what it is (a session error, a
 * configuration error).
 *
 * @example
 * ```ts
 * const record = await storeCall(store, 'get', 5000, () => store.get(key));
 * ```
 */
export function storeCall<T>(store: SessionStore, what: string, ms: number, op: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: Pending = {
      deadline: Date.now() + ms,
      expire: () => reject(new StoreUnavailableError(store.name, `no answer to ${what} within ${ms} ms`)),
    };
    watch(entry);
    const fail = (e: unknown) => {
      unwatch(entry);
      reject(e instanceof SessionError || e instanceof ConfigurationError ? e : new StoreUnavailableError(store.name, `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e }));
    };
    let answer: Promise<T>;
    try {
      answer = op();
    } catch (e) {
      fail(e);
      return;
    }
    answer.then((value) => {
      unwatch(entry);
      resolve(value);
    }, fail);
  });
}
