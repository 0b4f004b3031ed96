import type { Release } from './KeyedMutex.js';
import { SessionBusyError } from './SessionBusyError.js';

/** How {@link takeLease} takes, keeps and frees a lock kept in a shared store. */
export interface LeaseSteps {
  /** Names the lock in a SessionBusyError. */
  what: string;
  timeoutMs: number;
  /** How long the lock lasts unless renewed; it is renewed every third of it. */
  ttlMs: number;
  /** Tries once to take the lock for this holder. */
  tryTake(): Promise<boolean> | boolean;
  /** Moves the lock's expiry forward, if this holder still owns it. */
  renew(): Promise<unknown> | unknown;
  /** Deletes the lock, if this holder still owns it. */
  free(): Promise<unknown> | unknown;
  /** The store's renewal timers, so that closing the store stops them. */
  renewals: Set<NodeJS.Timeout>;
  /**
   * Waits at most `ms` for the holder to free the lock, instead of a backoff
   * sleep between tries (a store that can be told of the release). It may
   * come back early, even when the lock is still held: the next try tells.
   */
  wait?(ms: number): Promise<void>;
}

/**
 * A lock kept in a shared store with an expiry (a Redis key, a SQLite row):
 * tried until `timeoutMs` (between tries, `wait` or a backoff sleep), renewed
 * while held (so a slow handler keeps it and a dead holder's lapses), freed
 * only by its owner.
 *
 * @throws SessionBusyError after `timeoutMs`.
 */
export async function takeLease(steps: LeaseSteps): Promise<Release> {
  const started = Date.now();
  let delay = 1;
  for (;;) {
    if (await steps.tryTake()) {
      // Taken after the caller's wait ran out: it has given up, so nobody would release it.
      if (Date.now() - started > steps.timeoutMs) {
        await steps.free();
        throw new SessionBusyError(steps.what, Date.now() - started);
      }
      return held(steps);
    }
    const waited = Date.now() - started;
    if (waited >= steps.timeoutMs) throw new SessionBusyError(steps.what, waited);
    if (steps.wait) {
      await steps.wait(steps.timeoutMs - waited);
    } else {
      await new Promise((r) => setTimeout(r, Math.min(delay, steps.timeoutMs - waited)));
      delay = Math.min(delay * 2, 25);
    }
  }
}

/** The first wait before freeing a lock again after a failure, doubled each time up to {@link FREE_RETRY_MAX_MS}. */
const FREE_RETRY_MS = 100;
const FREE_RETRY_MAX_MS = 2_000;

function held(steps: LeaseSteps): Release {
  // The lease lasts ttlMs from when it was taken or last renewed.
  let lapses = Date.now() + steps.ttlMs;
  const renew = setInterval(() => {
    // A failed renewal is tried again next time; the lock lasts ttlMs meanwhile.
    const at = Date.now();
    Promise.resolve().then(() => steps.renew()).then(() => { lapses = at + steps.ttlMs; }, () => {});
  }, Math.floor(steps.ttlMs / 3));
  renew.unref();
  steps.renewals.add(renew);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    clearInterval(renew);
    steps.renewals.delete(renew);
    try {
      await steps.free();
    } catch (e) {
      freeLater(steps, lapses);
      throw e;
    }
  };
}

/**
 * Frees a lock whose release failed (the store was away), again and again
 * until it works or the lease lapses by itself. Without it, a store that
 * comes back with the lock still in it (Redis from its append-only file)
 * would keep that session busy for the rest of the lease, long after the
 * store's return. Freeing is safe to repeat: it deletes the lock only while
 * it is still this holder's.
 */
function freeLater(steps: LeaseSteps, lapses: number): void {
  let wait = FREE_RETRY_MS;
  const attempt = () => {
    steps.renewals.delete(timer);
    if (Date.now() >= lapses) return;
    Promise.resolve().then(() => steps.free()).catch(() => {
      wait = Math.min(wait * 2, FREE_RETRY_MAX_MS);
      timer = setTimeout(attempt, wait);
      timer.unref();
      // Closing the store stops the retries with its renewals.
      steps.renewals.add(timer);
    });
  };
  let timer = setTimeout(attempt, wait);
  timer.unref();
  steps.renewals.add(timer);
}
