import type { SerializeOptions } from 'cookie';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { parseFlag } from '../../config/directives.js';
import type { SessionRequest } from '../SessionRequest.js';

/** The cookie attributes pso reads from `PSOCookieSession_*` directives (names case-insensitive). */
const ATTRIBUTES = ['Path', 'Domain', 'Secure', 'HttpOnly', 'SameSite', 'Partitioned', 'Priority', 'Comment', 'Version'] as const;
type Attribute = (typeof ATTRIBUTES)[number];
/** The directive of each attribute, in the order of {@link ATTRIBUTES}. */
const ATTRIBUTE_DIRECTIVES = ATTRIBUTES.map((a) => `PSOCookieSession_${a}`);
/**
 * RFC 6265 §4.1.1 `path-value = <any CHAR except CTLs or ";">`, starting with
 * "/", as the cookie package writes it (which refuses "<" too): a path it would
 * refuse must be refused here, naming the directive, not on every response.
 */
const PATH_VALUE = /^\/[\u0020-\u003A\u003D-\u007E]*$/;
/** RFC 2109 `value = token | quoted-string`, kept to what is safe in a Set-Cookie header. */
const COMMENT = /^[\x20-\x7e]{1,256}$/;

/** A parsed cookie policy; `secure: 'auto'` is decided per request. */
export interface CookiePolicy {
  options: SerializeOptions;
  secure: boolean | 'auto';
  /** RFC 2109 attributes the cookie package does not write. */
  extra: string;
}

/**
 * The session cookie's attributes as `PSOCookieSession_*` directives set them,
 * parsed once per distinct set of values (a server's are the same on every request).
 *
 * @example
 * ```ts
 * const policies = new CookiePolicies();
 * policies.of(request).options; // { path: '/', httpOnly: true, sameSite: 'lax' }
 * ```
 */
export class CookiePolicies {
  #policies = new Map<string, CookiePolicy>();
  #last: { values: (string | undefined)[]; policy: CookiePolicy } | undefined;

  /** @throws ConfigurationError naming a directive with an invalid value. */
  of(request: SessionRequest): CookiePolicy {
    const values = ATTRIBUTE_DIRECTIVES.map((name) => request.getDirective(name));
    const last = this.#last;
    if (last && values.every((v, i) => v === last.values[i])) return last.policy;
    const key = values.map((v) => v ?? '\u0000').join('\u0001');
    let policy = this.#policies.get(key);
    if (!policy) {
      policy = parsePolicy(Object.fromEntries(ATTRIBUTES.map((a, i) => [a, values[i]])) as Record<Attribute, string | undefined>);
      if (this.#policies.size > 32) this.#policies.clear();
      this.#policies.set(key, policy);
    }
    this.#last = { values, policy };
    return policy;
  }
}

function flag(name: Attribute, raw: string): boolean {
  return parseFlag(`PSOCookieSession_${name}`, raw);
}

function parsePolicy(v: Record<Attribute, string | undefined>): CookiePolicy {
  const options: SerializeOptions = { path: '/', httpOnly: true, sameSite: 'lax' };
  let secure: boolean | 'auto' = 'auto';
  let extra = '';
  const set = (a: Attribute) => v[a] !== undefined && v[a]!.trim() !== '';
  if (set('Path')) {
    const p = v.Path!.trim();
    if (!PATH_VALUE.test(p)) {
      throw new ConfigurationError('PSOCookieSession_Path', v.Path, 'a cookie path starts with "/" and holds no ";", "<", control characters or characters beyond ASCII (percent-encode them)');
    }
    options.path = p;
  }
  if (set('Domain')) {
    const d = v.Domain!.trim();
    if (!/^\.?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(d)) {
      throw new ConfigurationError('PSOCookieSession_Domain', v.Domain, 'expected a domain name such as example.org');
    }
    options.domain = d;
  }
  if (set('Secure')) secure = v.Secure!.trim().toLowerCase() === 'auto' ? 'auto' : flag('Secure', v.Secure!);
  if (set('HttpOnly')) options.httpOnly = flag('HttpOnly', v.HttpOnly!);
  if (set('SameSite')) {
    const s = v.SameSite!.trim().toLowerCase();
    if (s !== 'strict' && s !== 'lax' && s !== 'none') throw new ConfigurationError('PSOCookieSession_SameSite', v.SameSite, 'expected Strict, Lax or None');
    options.sameSite = s;
  }
  if (set('Partitioned')) options.partitioned = flag('Partitioned', v.Partitioned!);
  if (set('Priority')) {
    const p = v.Priority!.trim().toLowerCase();
    if (p !== 'low' && p !== 'medium' && p !== 'high') throw new ConfigurationError('PSOCookieSession_Priority', v.Priority, 'expected Low, Medium or High');
    options.priority = p;
  }
  if (set('Comment')) {
    const c = v.Comment!.trim();
    if (!COMMENT.test(c) || c.includes(';') || c.includes('"')) throw new ConfigurationError('PSOCookieSession_Comment', v.Comment, 'up to 256 printable characters without ";" or \'"\'');
    extra += `; Comment="${c}"`;
  }
  if (set('Version')) {
    const n = v.Version!.trim();
    if (!/^\d{1,3}$/.test(n)) throw new ConfigurationError('PSOCookieSession_Version', v.Version, 'expected a number such as 1');
    extra += `; Version=${n}`;
  }
  return { options, secure, extra };
}
