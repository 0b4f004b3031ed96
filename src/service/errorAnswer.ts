import { ConfigurationError } from '../config/ConfigurationError.js';
import { SessionError } from '../session/SessionError.js';
import { HttpError } from './errors.js';

/** How a failed request is answered and logged. */
export interface ErrorAnswer {
  status: number;
  /** Whether the message is shown to the client (it always goes to the log). */
  expose: boolean;
  headers: Readonly<Record<string, string>>;
  /** `info` for the client's mistakes (4xx), `error` for the rest. */
  level: 'info' | 'error';
  /** Whether the log line carries the stack (an unexpected failure). */
  stack: boolean;
}

/**
 * The one place where a failure becomes an HTTP answer: an {@link HttpError}
 * says its own status; a session error's kind maps to one (a busy session or
 * an unreachable store is a 503 with `Retry-After`, a storage failure a 500);
 * a configuration error, or anything else, is a 500.
 *
 * @example
 * ```ts
 * answerFor(new SessionBusyError('x', 10_000)); // { status: 503, headers: { 'Retry-After': '1' }, ... }
 * ```
 */
export function answerFor(error: unknown): ErrorAnswer {
  if (error instanceof HttpError) {
    return { status: error.status, expose: error.expose, headers: error.headers, level: error.status < 500 ? 'info' : 'error', stack: false };
  }
  if (error instanceof SessionError) {
    switch (error.kind) {
      case 'busy':
        return { status: 503, expose: false, headers: { 'Retry-After': '1' }, level: 'error', stack: false };
      case 'unavailable':
        return { status: 503, expose: false, headers: { 'Retry-After': '5' }, level: 'error', stack: false };
      default:
        return { status: 500, expose: false, headers: {}, level: 'error', stack: false };
    }
  }
  return { status: 500, expose: false, headers: {}, level: 'error', stack: !(error instanceof ConfigurationError) };
}
