import { injectable, injectFromBase } from 'inversify';
import { serialize, type SerializeOptions } from 'cookie';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { parseFlag } from '../config/directives.js';
import type { ServiceRequest } from '../service/ServiceRequest.js';
import { lazyCrypto } from '../util/lazyCrypto.js';
import { cookiePrefixOf, isLoopbackHost, prefixRules } from '../util/cookiePrefix.js';
import type { Session } from './Session.js';
import { SessionImpl } from './SessionImpl.js';

/** How a session id may travel: `off` cookie only, `on` cookie and URL, `only` URL only. */
export type UrlSessionMode = 'off' | 'on' | 'only';

/** The cookie attributes pso reads from `PSOCookieSession_*` directives (names case-insensitive). */
const ATTRIBUTES = ['Path', 'Domain', 'Secure', 'HttpOnly', 'SameSite', 'Partitioned', 'Priority', 'Comment', 'Version'] as const;
type Attribute = (typeof ATTRIBUTES)[number];
/** The directive of each attribute, in the order of {@link ATTRIBUTES}. */
const ATTRIBUTE_DIRECTIVES = ATTRIBUTES.map((a) => `PSOCookieSession_${a}`);

/** A parsed cookie policy; `secure: 'auto'` is decided per request. */
interface CookiePolicy {
  options: SerializeOptions;
  secure: boolean | 'auto';
  /** RFC 2109 attributes the cookie package does not write. */
  extra: string;
}

/** RFC 2109 `value = token | quoted-string`, kept to what is safe in a Set-Cookie header. */
const COMMENT = /^[\x20-\x7e]{1,256}$/;
const SIGNATURE_LENGTH = 43;

/**
 * A {@link SessionImpl} that carries the session id in a cookie named by the
 * service id, and, when `PSOSessionUrl` asks for it, in URLs made with
 * `request.mkurl()` (the How-To's "Doing things without cookies"). Storage is
 * left to subclasses ({@link CookieFileImpl}, or your own, as in the How-To's
 * database recipe).
 *
 * The cookie policy comes from `PSOCookieSession_*` directives (Path, Domain,
 * Secure, HttpOnly, SameSite, Partitioned, Priority, Comment, Version; names
 * case-insensitive); override {@link cookieOptions} to change it in code. With
 * `PSOSessionSecret`, ids are signed (HMAC-SHA256): the first secret signs,
 * every listed one verifies, so keys can be rotated.
 *
 * @example
 * ```ts
 * class StrictCookies extends CookieFileImpl {
 *   override cookieOptions(request: ServiceRequest, session: Session, expires: number | undefined) {
 *     return { ...super.cookieOptions(request, session, expires), sameSite: 'strict' as const };
 *   }
 * }
 * ```
 */
@injectable()
@injectFromBase({ extendConstructorArguments: true, extendProperties: true })
export abstract class CookieSession extends SessionImpl {
  #policies = new Map<string, CookiePolicy>();
  #lastPolicy: { values: (string | undefined)[]; policy: CookiePolicy } | undefined;
  /** Requests whose session id travels in URLs (they get `Referrer-Policy: no-referrer`). */
  #urlIds = new WeakSet<ServiceRequest<any>>();
  /** Requests whose id was signed with a secret other than the first: re-signed in the response. */
  #resign = new WeakSet<ServiceRequest<any>>();

  /**
   * How session ids travel: the `PSOSessionUrl` directive (`off`, `on`,
   * `only`). Override it to fix the mode in code, as {@link UrlFileImpl} does.
   */
  urlSessionMode(request: ServiceRequest<any>): UrlSessionMode {
    const raw = request.getEnviron('PSOSessionUrl');
    if (raw === undefined || raw.trim() === '') return 'off';
    const v = raw.trim().toLowerCase();
    if (v === 'off' || v === 'no' || v === 'false' || v === '0') return 'off';
    if (v === 'on' || v === 'yes' || v === 'true' || v === '1' || v === 'mixed') return 'on';
    if (v === 'only') return 'only';
    throw new ConfigurationError('PSOSessionUrl', raw, 'expected off, on or only');
  }

  /**
   * The id the client presented: from the cookie named by the service id,
   * else (when URLs may carry it) from the query string or a POST form field
   * of the same name. The cookie wins when both arrive.
   */
  override async getSessionId(request: ServiceRequest<any>): Promise<string | undefined> {
    const name = this.getServiceId(request);
    const mode = this.urlSessionMode(request);
    // The page address holds an id (maybe someone's live session): keep it out of Referer headers.
    const inQuery = mode !== 'off' ? new URLSearchParams(request.queryString).get(name) : null;
    if (inQuery !== null) this.#urlIds.add(request);
    if (mode !== 'only') {
      const fromCookie = request.getCookie(name);
      if (fromCookie !== undefined) return this.#presented(request, fromCookie);
    }
    if (mode === 'off') return undefined;
    const fromUrl = inQuery ?? (await this.#formField(request, name));
    if (fromUrl === undefined) return undefined;
    this.#urlIds.add(request);
    return this.#presented(request, fromUrl);
  }

  /** What the client sent, decoded; an empty string (never a valid id) when it is unusable, so it is still answered. */
  #presented(request: ServiceRequest<any>, value: string): string {
    return this.decodeId(request, value) ?? '';
  }

  /** Checks the cookie directives before anything is stored, so a bad one fails every request alike. */
  override checkConfiguration(request: ServiceRequest<any>): void {
    super.checkConfiguration(request);
    this.urlSessionMode(request);
    this.#secrets(request);
    this.#baseOptions(request);
  }

  async #formField(request: ServiceRequest<any>, name: string): Promise<string | undefined> {
    if (request.method !== 'POST') return undefined;
    try {
      return (await request.form()).get(name) ?? undefined;
    } catch {
      // An unreadable body is the handler's to report; it just carries no id.
      return undefined;
    }
  }

  /** Sends the session cookie (or a cookie that clears it). */
  override sendSessionId(request: ServiceRequest<any>, session: Session<any>, expires: number | undefined, clear: boolean): void {
    if (this.urlSessionMode(request) === 'only') return;
    const name = this.getServiceId(request);
    const policy = this.#policy(request);
    const attributes = clear
      ? { ...this.cookieOptions(request, session, undefined), expires: new Date(0), maxAge: 0 }
      : this.cookieOptions(request, session, expires);
    const value = clear ? '' : this.encodeId(request, session.id);
    // Also what a cookieOptions() override returns.
    const ruled = prefixRules(name, attributes);
    if (ruled.problem) throw new ConfigurationError(`${this.constructor.name}.cookieOptions()`, ruled.problem.attribute, ruled.problem.reason);
    let header: string;
    try {
      header = serialize(name, value, ruled.options);
    } catch (e) {
      throw new ConfigurationError('PSOCookieSession_*', JSON.stringify(attributes), (e as Error).message);
    }
    request.addHeader('Set-Cookie', header + policy.extra);
  }

  /**
   * Adds the session id to a URL's query when it should travel there: always
   * in `only` mode; in `on` mode while the client has not sent the cookie
   * back (a first visit, or cookies blocked).
   */
  override decorateUrl(request: ServiceRequest<any>, session: Session<any>, params: URLSearchParams): void {
    const mode = this.urlSessionMode(request);
    if (mode === 'off') return;
    const name = this.getServiceId(request);
    if (mode === 'on' && request.getCookie(name) !== undefined) return;
    params.set(name, this.encodeId(request, session.id));
    this.#urlIds.add(request);
  }

  override reissueId(request: ServiceRequest<any>): boolean {
    return this.#resign.has(request);
  }

  override beforeHead(session: Session<any>): void {
    super.beforeHead(session);
    const request = this.requestOf(session);
    // An id in a URL must not leak to other sites through the Referer header; links made
    // after the head went out may still carry one, so the header goes whenever mkurl() would add it.
    if (request && (this.#urlIds.has(request) || this.#mayDecorate(request))) request.setHeader('Referrer-Policy', 'no-referrer');
  }

  #mayDecorate(request: ServiceRequest<any>): boolean {
    const mode = this.urlSessionMode(request);
    return mode === 'only' || (mode === 'on' && request.getCookie(this.getServiceId(request)) === undefined);
  }

  /**
   * The cookie's attributes: `Path=/`, `HttpOnly`, `SameSite=Lax` and
   * `Secure` over HTTPS unless directives say otherwise, plus `Expires` and
   * `Max-Age` unless the session lasts until the browser closes.
   *
   * @throws ConfigurationError naming a directive with an invalid value.
   */
  cookieOptions(request: ServiceRequest<any>, _session: Session<any>, expires: number | undefined): SerializeOptions {
    const options = this.#baseOptions(request);
    if (expires !== undefined) {
      options.expires = new Date(expires);
      options.maxAge = Math.max(0, Math.round((expires - Date.now()) / 1000));
    }
    return options;
  }

  /** The directives' attributes for this request, checked for consistency. */
  #baseOptions(request: ServiceRequest<any>): SerializeOptions {
    const policy = this.#policy(request);
    let options: SerializeOptions = { ...policy.options };
    if (policy.secure === true || (policy.secure === 'auto' && request.isSecure())) options.secure = true;
    const name = this.getServiceId(request);
    if (cookiePrefixOf(name)) options = this.#prefixed(request, name, policy, options);
    if (options.sameSite === 'none' && !options.secure) {
      throw new ConfigurationError('PSOCookieSession_SameSite', 'None', 'SameSite=None needs a Secure cookie (HTTPS, or PSOCookieSession_Secure on)');
    }
    if (options.partitioned && !options.secure) {
      throw new ConfigurationError('PSOCookieSession_Partitioned', 'on', 'a Partitioned cookie must be Secure (HTTPS, or PSOCookieSession_Secure on)');
    }
    return options;
  }

  /**
   * The attributes of a session cookie named `__Secure-…` or `__Host-…`: what
   * browsers require of such a name, or a ConfigurationError naming the
   * directive that contradicts it. A browser drops such a cookie silently, and
   * every request would start a new session.
   */
  #prefixed(request: ServiceRequest<any>, name: string, policy: CookiePolicy, options: SerializeOptions): SerializeOptions {
    const ruled = prefixRules(name, { ...options, secure: policy.secure === false ? false : true });
    if (ruled.problem) {
      const directive = `PSOCookieSession_${ruled.problem.attribute}`;
      throw new ConfigurationError(directive, request.getDirective(directive) ?? 'off', `${ruled.problem.reason} (the name comes from PSOServiceId)`);
    }
    // Over plain HTTP a Secure cookie is dropped too, except on a loopback host (a secure context).
    if (!request.isSecure() && !isLoopbackHost(request.getRequestHeader('host'))) {
      throw new ConfigurationError(
        'PSOServiceId', name,
        `a cookie named ${cookiePrefixOf(name)}… needs HTTPS, and this request came over plain HTTP: browsers drop a Secure cookie set over HTTP, ` +
          'so every request would start a new session. Serve over HTTPS (behind a TLS proxy: PSOTrustProxy on), or choose a service id without the prefix',
      );
    }
    return ruled.options;
  }

  /** What the cookie or URL carries for `id`: the id, signed when secrets are configured. */
  encodeId(request: ServiceRequest<any>, id: string): string {
    const secrets = this.#secrets(request);
    return secrets.length === 0 ? id : `${id}.${this.#sign(secrets[0]!, request, id)}`;
  }

  /**
   * The id inside what the client sent, or `undefined` when a signature is
   * required and missing or wrong (every configured secret is tried).
   */
  decodeId(request: ServiceRequest<any>, value: string): string | undefined {
    const secrets = this.#secrets(request);
    if (secrets.length === 0) return value;
    const dot = value.lastIndexOf('.');
    if (dot < 1 || value.length - dot - 1 !== SIGNATURE_LENGTH) return undefined;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    const { timingSafeEqual } = lazyCrypto();
    for (const [i, secret] of secrets.entries()) {
      const expected = Buffer.from(this.#sign(secret, request, id));
      if (expected.byteLength === given.byteLength && timingSafeEqual(expected, given)) {
        if (i > 0) this.#resign.add(request);
        return id;
      }
    }
    return undefined;
  }

  #sign(secret: string, request: ServiceRequest<any>, id: string): string {
    return lazyCrypto().createHmac('sha256', secret).update(`${this.getServiceId(request)}\0${id}`).digest('base64url');
  }

  #secrets(request: ServiceRequest<any>): string[] {
    const raw = request.getEnviron('PSOSessionSecret');
    if (raw === undefined || raw.trim() === '') return [];
    const secrets = raw.trim().split(/\s+/);
    if (secrets.some((s) => s.length < 16)) {
      throw new ConfigurationError('PSOSessionSecret', '(hidden)', 'each secret must be at least 16 characters long');
    }
    return secrets;
  }

  #policy(request: ServiceRequest<any>): CookiePolicy {
    const values = ATTRIBUTE_DIRECTIVES.map((name) => request.getDirective(name));
    // A server's directives are the same on every request: the last policy, unless a value differs.
    const last = this.#lastPolicy;
    if (last && values.every((v, i) => v === last.values[i])) return last.policy;
    const key = values.map((v) => v ?? '\u0000').join('\u0001');
    let policy = this.#policies.get(key);
    if (!policy) {
      policy = parsePolicy(Object.fromEntries(ATTRIBUTES.map((a, i) => [a, values[i]])) as Record<Attribute, string | undefined>);
      if (this.#policies.size > 32) this.#policies.clear();
      this.#policies.set(key, policy);
    }
    this.#lastPolicy = { values, policy };
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
    if (!p.startsWith('/') || /[\x00-\x1f\x7f;]/.test(p)) throw new ConfigurationError('PSOCookieSession_Path', v.Path, 'a cookie path starts with "/" and holds no ";" or control characters');
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
