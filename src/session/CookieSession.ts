import { serialize, type SerializeOptions } from 'cookie';
import { injectable, injectFromBase } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { cookiePrefixOf, isLoopbackHost, prefixRules } from '../util/cookiePrefix.js';
import { CookiePolicies, type CookiePolicy } from './identity/cookiePolicy.js';
import { readSecrets, signId, verifyId } from './identity/idSignature.js';
import { idInHeader, sessionHeaderOf } from './identity/sessionHeader.js';
import type { Session } from './Session.js';
import { SessionImpl } from './SessionImpl.js';
import type { SessionRequest } from './SessionRequest.js';

/** How a session id may travel: `off` cookie only, `on` cookie and URL, `only` URL only. */
export type UrlSessionMode = 'off' | 'on' | 'only';

/**
 * A {@link SessionImpl} that carries the session id in a cookie named by the
 * service id, and, when `PSOSessionUrl` asks for it, in URLs made with
 * `request.mkurl()` (the How-To's "Doing things without cookies"). This is
 * identification only; storage is the store {@link storeFor} gives, or your
 * own `load`/`save`/`remove`, as in the How-To's database recipe.
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
  readonly #policies = new CookiePolicies();

  /**
   * How session ids travel: the `PSOSessionUrl` directive (`off`, `on`,
   * `only`). Override it to fix the mode in code, as {@link UrlFileImpl} does.
   */
  urlSessionMode(request: SessionRequest): UrlSessionMode {
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
   * of the same name. The cookie wins when both arrive. With
   * `PSOSessionHeader`, an id in that request header comes first.
   */
  override getSessionId(request: SessionRequest): string | undefined | Promise<string | undefined> {
    const name = this.getServiceId(request);
    const mode = this.urlSessionMode(request);
    const state = this.openStateOf(request);
    const header = sessionHeaderOf(request);
    const inHeader = header && idInHeader(request, header);
    if (inHeader !== undefined) {
      if (state) state.viaHeader = true;
      return this.#presented(request, inHeader);
    }
    // The page address holds an id (maybe someone's live session): keep it out of Referer headers.
    const inQuery = mode !== 'off' ? new URLSearchParams(request.queryString).get(name) : null;
    if (inQuery !== null && state) state.viaUrl = true;
    if (mode !== 'only') {
      const fromCookie = request.getCookie(name);
      if (fromCookie !== undefined) return this.#presented(request, fromCookie);
    }
    if (mode === 'off') return undefined;
    const fromUrl = (value: string | undefined) => {
      if (value === undefined) return undefined;
      if (state) state.viaUrl = true;
      return this.#presented(request, value);
    };
    // Answered without a promise unless a form body must be read for it.
    return inQuery !== null ? fromUrl(inQuery) : formField(request, name).then(fromUrl);
  }

  /** What the client sent, decoded; an empty string (never a valid id) when it is unusable, so it is still answered. */
  #presented(request: SessionRequest, value: string): string {
    return this.decodeId(request, value) ?? '';
  }

  /** Checks the cookie directives before anything is stored, so a bad one fails every request alike. */
  override checkConfiguration(request: SessionRequest): void {
    super.checkConfiguration(request);
    this.urlSessionMode(request);
    sessionHeaderOf(request);
    readSecrets(request);
    this.#baseOptions(request);
  }

  /**
   * Sends the session cookie (or a cookie that clears it). With
   * `PSOSessionHeader`, a client that sent its id in the header gets it back
   * in the response header instead (empty: forget it), and one that sent no
   * id gets both.
   */
  override sendSessionId(request: SessionRequest, session: Session<object>, expires: number | undefined, clear: boolean): void {
    const idHeader = sessionHeaderOf(request);
    if (idHeader) {
      const state = this.openStateOf(request);
      if (state?.viaHeader || !state?.fromClient) request.setHeader(idHeader.response, clear ? '' : this.encodeId(request, session.id));
      if (state?.viaHeader) return;
    }
    if (this.urlSessionMode(request) === 'only') return;
    const name = this.getServiceId(request);
    const policy = this.#policies.of(request);
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
  override decorateUrl(request: SessionRequest, session: Session<object>, params: URLSearchParams): void {
    if (!this.#mayDecorate(request)) return;
    params.set(this.getServiceId(request), this.encodeId(request, session.id));
    const state = this.openStateOf(request);
    if (state) state.viaUrl = true;
  }

  override beforeHead(session: Session<object>): void {
    super.beforeHead(session);
    const state = this.openStateOfSession(session);
    if (!state) return;
    // An id in a URL must not leak to other sites through the Referer header; links made
    // after the head went out may still carry one, so the header goes whenever mkurl() would add it.
    if (state.viaUrl || this.#mayDecorate(state.request)) state.request.setHeader('Referrer-Policy', 'no-referrer');
  }

  #mayDecorate(request: SessionRequest): boolean {
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
  cookieOptions(request: SessionRequest, _session: Session<object>, expires: number | undefined): SerializeOptions {
    const options = this.#baseOptions(request);
    if (expires !== undefined) {
      options.expires = new Date(expires);
      options.maxAge = Math.max(0, Math.round((expires - Date.now()) / 1000));
    }
    return options;
  }

  /** The directives' attributes for this request, checked for consistency. */
  #baseOptions(request: SessionRequest): SerializeOptions {
    const policy = this.#policies.of(request);
    let options: SerializeOptions = { ...policy.options };
    if (policy.secure === true || (policy.secure === 'auto' && request.isSecure())) options.secure = true;
    const name = this.getServiceId(request);
    if (cookiePrefixOf(name)) options = prefixed(request, name, policy, options);
    if (options.sameSite === 'none' && !options.secure) {
      throw new ConfigurationError('PSOCookieSession_SameSite', 'None', 'SameSite=None needs a Secure cookie (HTTPS, or PSOCookieSession_Secure on)');
    }
    if (options.partitioned && !options.secure) {
      throw new ConfigurationError('PSOCookieSession_Partitioned', 'on', 'a Partitioned cookie must be Secure (HTTPS, or PSOCookieSession_Secure on)');
    }
    return options;
  }

  /** What the cookie or URL carries for `id`: the id, signed when secrets are configured. */
  encodeId(request: SessionRequest, id: string): string {
    return signId(this.getServiceId(request), id, readSecrets(request));
  }

  /**
   * The id inside what the client sent, or `undefined` when a signature is
   * required and missing or wrong (every configured secret is tried).
   */
  decodeId(request: SessionRequest, value: string): string | undefined {
    const verified = verifyId(this.getServiceId(request), value, readSecrets(request));
    if (verified?.resign) {
      const state = this.openStateOf(request);
      if (state) state.resign = true;
    }
    return verified?.id;
  }
}

/** A session id in a POST form field (`PSOSessionUrl`); an unreadable body carries none (the handler reports it). */
async function formField(request: SessionRequest, name: string): Promise<string | undefined> {
  if (request.method !== 'POST') return undefined;
  try {
    return (await request.form()).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The attributes of a session cookie named `__Secure-…` or `__Host-…`: what
 * browsers require of such a name, or a ConfigurationError naming the
 * directive that contradicts it. A browser drops such a cookie silently, and
 * every request would start a new session.
 */
function prefixed(request: SessionRequest, name: string, policy: CookiePolicy, options: SerializeOptions): SerializeOptions {
  const ruled = prefixRules(name, { ...options, secure: policy.secure !== false });
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
