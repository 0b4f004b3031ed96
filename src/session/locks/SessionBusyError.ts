import { HttpError } from '../../service/errors.js';

/**
 * Another request held the session for longer than the lock timeout
 * (`PSOSessionLockTimeout`). The client gets 503 with `Retry-After`.
 */
export class SessionBusyError extends HttpError {
  override name = 'SessionBusyError';
  constructor(what: string, waitedMs: number) {
    super(503, `session busy: ${what} still locked after ${waitedMs} ms`, false, { 'Retry-After': '1' });
  }
}
