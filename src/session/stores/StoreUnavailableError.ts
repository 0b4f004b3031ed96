import { SessionError } from '../SessionError.js';

/**
 * The session store failed or did not answer in time (a dead database, a
 * network error): the request gets 503 and the log names the store. Nothing
 * is lost: the previous state stays stored.
 *
 * @example
 * ```ts
 * throw new StoreUnavailableError('redis://127.0.0.1:6379/0', 'get failed: ECONNREFUSED');
 * ```
 */
export class StoreUnavailableError extends SessionError {
  override name = 'StoreUnavailableError';
  constructor(readonly store: string, message: string, options?: { cause?: unknown }) {
    super('unavailable', `session store ${store} unavailable: ${message}`, options);
  }
}
