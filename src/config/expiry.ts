import { evaluateArithmetic } from './arithmetic.js';
import { ConfigurationError } from './ConfigurationError.js';
import { parseHttpDate } from './httpDate.js';

/**
 * When a session ends.
 * - `browser`: when the browser closes (a cookie without Expires); the server
 *   keeps it for the idle timeout.
 * - `after`: `seconds` after the last request (sliding; the cookie is renewed).
 * - `at`: at a fixed time (`time`, milliseconds since the epoch).
 */
export type Expiry =
  | { readonly kind: 'browser' }
  | { readonly kind: 'after'; readonly seconds: number }
  | { readonly kind: 'at'; readonly time: number };

/** The longest lifetime pso accepts: ten years. */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

const ARITHMETIC = /^[\d\s+\-*/()]+$/;

/**
 * Parses the value of `PSOSessionExpire` (or `PSOSessionExpires`): seconds, an
 * integer expression such as `"15*60"`, or an HTTP date in any RFC 2616 form.
 * An empty value means "when the browser closes".
 *
 * @throws ConfigurationError naming the directive and the value.
 * @example
 * ```ts
 * parseExpiry('15*60');                         // { kind: 'after', seconds: 900 }
 * parseExpiry('Mon, 15 Apr 2001 19:00:00 GMT'); // { kind: 'at', time: 987361200000 }
 * ```
 */
export function parseExpiry(value: string, directive = 'PSOSessionExpire'): Expiry {
  const text = value.trim().replace(/^(["'])(.*)\1$/, '$2').trim();
  if (text === '') return { kind: 'browser' };
  if (ARITHMETIC.test(text)) {
    return { kind: 'after', seconds: parseSeconds(text, directive) };
  }
  const time = parseHttpDate(text);
  if (time !== undefined) return { kind: 'at', time };
  throw new ConfigurationError(
    directive,
    value,
    'expected seconds, an integer expression such as "15*60", or an HTTP date such as "Mon, 15 Apr 2001 19:00:00 GMT"',
  );
}

/**
 * Parses a duration directive (seconds or an integer expression) and checks it
 * lies in 0..{@link MAX_LIFETIME_SECONDS}.
 *
 * @example
 * ```ts
 * parseSeconds('60*60*24', 'PSOSessionIdleTimeout'); // 86400
 * ```
 */
export function parseSeconds(value: string, directive: string): number {
  const text = value.trim().replace(/^(["'])(.*)\1$/, '$2');
  if (!ARITHMETIC.test(text)) {
    throw new ConfigurationError(directive, value, 'expected seconds or an integer expression such as "15*60"');
  }
  let seconds: number;
  try {
    seconds = evaluateArithmetic(text);
  } catch (e) {
    throw new ConfigurationError(directive, value, (e as Error).message);
  }
  if (seconds < 0) throw new ConfigurationError(directive, value, 'a lifetime cannot be negative');
  if (seconds > MAX_LIFETIME_SECONDS) {
    throw new ConfigurationError(directive, value, `more than ten years (${MAX_LIFETIME_SECONDS} seconds)`);
  }
  return seconds;
}
