import { SessionError } from '../SessionError.js';

/**
 * Another request held the session for longer than the lock timeout
 * (`PSOSessionLockTimeout`). The client gets 503 with `Retry-After`.
 *
 * @example
 * ```ts
 * throw new SessionBusyError('lock of session a1b2c3…', 10_000);
 * ```
 */
export class SessionBusyError extends SessionError {
  override name = 'SessionBusyError';
  constructor(what: string, waitedMs: number) {
    super('busy', `session busy: ${what} still locked after ${waitedMs} ms`);
  }
}
