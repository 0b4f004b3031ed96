import { readProbability, readSeconds } from '../config/directives.js';
import type { SessionRequest } from './SessionRequest.js';

/** A server collects expired sessions at most this often, unless `PSOSessionGCInterval` says otherwise. */
const GC_INTERVAL_SECONDS = 60;

/**
 * When a request also collects expired sessions: with the chance
 * `PSOSessionGCProbability` (default 0.01), one sweep at a time, and in a
 * server at most once every `PSOSessionGCInterval` seconds (default 60)
 * however busy it is.
 *
 * @example
 * ```ts
 * await schedule.maybeRun(request, () => impl.collectGarbage(request));
 * ```
 */
export class GcSchedule {
  #running = false;
  #last = 0;

  /** A sweep, now and then; `undefined` when this request makes none (most do not). */
  maybeRun(request: SessionRequest, collect: () => Promise<number>): Promise<void> | undefined {
    if (this.#running) return undefined;
    let probability: number;
    let intervalMs: number;
    try {
      probability = readProbability(request, 'PSOSessionGCProbability', 0.01);
      intervalMs = readSeconds(request, 'PSOSessionGCInterval', GC_INTERVAL_SECONDS) * 1000;
    } catch (e) {
      request.logWith('error', (e as Error).message);
      return undefined;
    }
    if (Math.random() >= probability) return undefined;
    if (request.persistent && Date.now() - this.#last < intervalMs) return undefined;
    this.#last = Date.now();
    this.#running = true;
    return this.#sweep(request, collect);
  }

  async #sweep(request: SessionRequest, collect: () => Promise<number>): Promise<void> {
    try {
      const n = await collect();
      if (n > 0) request.logWith('info', `collected ${n} expired session(s)`);
    } catch (e) {
      request.logWith('warn', `collecting expired sessions failed: ${(e as Error).message}`);
    } finally {
      this.#running = false;
    }
  }
}
