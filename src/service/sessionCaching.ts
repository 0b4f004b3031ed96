import { ConfigurationError } from '../config/ConfigurationError.js';
import type { DirectiveSource } from '../config/directives.js';

/** What a response that sets or shows a session says to caches unless told otherwise. */
export const SESSION_CACHE_CONTROL = 'private, no-store';

/** A response's headers, as far as the cache policy needs them. */
export interface CacheHeaders {
  getHeader(name: string): string | number | readonly string[] | undefined;
  /** Adds a header the response does not have yet. */
  addHeader(name: string, value: string): void;
}

/**
 * The `Cache-Control` of responses that set or show a session: the
 * `PSOSessionCacheControl` directive (default `private, no-store`), or
 * `undefined` when it is `off`.
 *
 * @throws ConfigurationError for a value a header cannot carry.
 * @example
 * ```ts
 * sessionCacheControl(request); // 'private, no-store'
 * ```
 */
export function sessionCacheControl(source: DirectiveSource): string | undefined {
  const raw = source.getEnviron('PSOSessionCacheControl');
  if (raw === undefined) return SESSION_CACHE_CONTROL;
  let value = parsed.get(raw);
  if (value === undefined) {
    value = parse(raw);
    if (parsed.size > 64) parsed.clear();
    parsed.set(raw, value);
  }
  return value === OFF ? undefined : value;
}

const OFF = '';
/** Values as read, by directive text: a server reads the same one on every request. */
const parsed = new Map<string, string>();

function parse(raw: string): string {
  const value = raw.trim();
  if (value === '' || /^(on|yes|true|1)$/i.test(value)) return SESSION_CACHE_CONTROL;
  if (/^(off|no|false|0|none)$/i.test(value)) return OFF;
  if (/[^\t\x20-\x7e]/.test(value)) throw new ConfigurationError('PSOSessionCacheControl', raw, 'expected a Cache-Control value such as "private, no-store", or off');
  return value;
}

/**
 * Keeps shared caches from serving one visitor's page to another: a
 * response that sets the session (its cookie, its id header, a clearing
 * cookie) or that shows a stored one (`exposed`) gets
 * {@link sessionCacheControl}, unless the handler set a `Cache-Control` of its own.
 *
 * @example
 * ```ts
 * guardSessionCaching(response, request, true); // Cache-Control: private, no-store
 * ```
 */
export function guardSessionCaching(headers: CacheHeaders, source: DirectiveSource, exposed: boolean): void {
  if (!exposed || headers.getHeader('Cache-Control') !== undefined) return;
  const value = sessionCacheControl(source);
  if (value !== undefined) headers.addHeader('Cache-Control', value);
}
