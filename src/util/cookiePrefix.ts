import type { SerializeOptions } from 'cookie';

/** The cookie name prefixes browsers enforce (RFC 6265bis §4.1.3), compared without case as browsers do. */
export type CookiePrefix = '__Secure-' | '__Host-';

/**
 * The prefix a cookie name starts with, if it is one browsers enforce.
 *
 * @example
 * ```ts
 * cookiePrefixOf('__Host-sid'); // '__Host-'
 * ```
 */
export function cookiePrefixOf(name: string): CookiePrefix | undefined {
  const lower = name.slice(0, 9).toLowerCase();
  if (lower.startsWith('__host-')) return '__Host-';
  if (lower === '__secure-') return '__Secure-';
  return undefined;
}

/** What a prefix asks of a cookie's attributes, for {@link prefixRules}. */
export interface PrefixProblem {
  /** The attribute at fault. */
  attribute: 'Secure' | 'Domain' | 'Path';
  /** Why, for the user. */
  reason: string;
}

/**
 * Makes a cookie's attributes what its name's prefix requires: `Secure` for
 * both (added when not set), and for `__Host-` no `Domain` and `Path=/`
 * (added when not set). A browser silently drops a prefixed cookie without
 * them, so that, for a session cookie, every request would start a new session.
 *
 * @returns the attributes to send, or the first attribute that contradicts the prefix.
 * @example
 * ```ts
 * prefixRules('__Host-sid', { path: '/', httpOnly: true }); // { options: { path: '/', httpOnly: true, secure: true } }
 * ```
 */
export function prefixRules(name: string, options: SerializeOptions): { options: SerializeOptions; problem?: undefined } | { problem: PrefixProblem; options?: undefined } {
  const prefix = cookiePrefixOf(name);
  if (!prefix) return { options };
  if (options.secure === false) {
    return { problem: { attribute: 'Secure', reason: `a cookie named ${name} must be Secure: browsers drop a ${prefix} cookie without it` } };
  }
  const out: SerializeOptions = { ...options, secure: true };
  if (prefix === '__Host-') {
    if (out.domain !== undefined) {
      return { problem: { attribute: 'Domain', reason: `a cookie named ${name} may not have a Domain: browsers drop a __Host- cookie with one` } };
    }
    if (out.path === undefined) out.path = '/';
    else if (out.path !== '/') {
      return { problem: { attribute: 'Path', reason: `a cookie named ${name} must have Path=/: browsers drop a __Host- cookie with another path` } };
    }
  }
  return { options: out };
}

/**
 * Whether a request's host is a loopback name or address, where browsers
 * accept `Secure` cookies over plain HTTP (a secure context).
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.trim().toLowerCase().replace(/:\d+$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(name) || name === '[::1]';
}
