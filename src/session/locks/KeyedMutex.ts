import { injectable } from 'inversify';
import { SessionBusyError } from './SessionBusyError.js';

/** Gives a held lock back. Calling it twice is harmless. */
export type Release = () => Promise<void>;

interface Waiter {
  grant: () => void;
  abandoned: boolean;
}

/**
 * Mutual exclusion per key inside one process, first come first served, with
 * a bounded wait. Requests for one session queue here so that none loses
 * another's writes.
 *
 * @example
 * ```ts
 * const release = await mutex.acquire('svc/id', 10_000);
 * try { ... } finally { await release(); }
 * ```
 */
@injectable()
export class KeyedMutex {
  // key -> queue of waiters; the key is present while someone holds it.
  #queues = new Map<string, Waiter[]>();

  /** Number of keys currently held. */
  get size(): number {
    return this.#queues.size;
  }

  /**
   * Waits for `key` and holds it.
   * @throws SessionBusyError after `timeoutMs`.
   */
  acquire(key: string, timeoutMs: number): Promise<Release> {
    const queue = this.#queues.get(key);
    if (!queue) {
      this.#queues.set(key, []);
      return Promise.resolve(this.#releaser(key));
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        abandoned: false,
        grant: () => {
          clearTimeout(timer);
          resolve(this.#releaser(key));
        },
      };
      const timer = setTimeout(() => {
        waiter.abandoned = true;
        reject(new SessionBusyError(key, timeoutMs));
      }, timeoutMs);
      queue.push(waiter);
    });
  }

  #releaser(key: string): Release {
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const queue = this.#queues.get(key);
      if (!queue) return;
      let next: Waiter | undefined;
      while ((next = queue.shift()) && next.abandoned);
      if (next) next.grant();
      else this.#queues.delete(key);
    };
  }
}
