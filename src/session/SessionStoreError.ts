import { SessionError } from './SessionError.js';

/**
 * A storage failure (an unwritable directory, a full disk, a refused write):
 * the request fails with 500 and nothing is lost.
 *
 * @example
 * ```ts
 * throw new SessionStoreError('cannot write session file in /var/lib/pso: ENOSPC');
 * ```
 */
export class SessionStoreError extends SessionError {
  override name = 'SessionStoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage', message, options);
  }
}
