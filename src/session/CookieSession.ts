import { injectable, injectFromBase } from 'inversify';
import type { SerializeOptions } from 'cookie';
import type { ServiceRequest } from '../service/ServiceRequest.js';
import type { Session } from './Session.js';
import { SessionImpl } from './SessionImpl.js';

/**
 * A {@link SessionImpl} that carries the session id in a cookie named by the
 * service id. Storage is left to subclasses ({@link CookieFileImpl}, or your
 * own, as in the How-To's database recipe). Override {@link cookieOptions} to
 * change the cookie policy.
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
  /** The id from the cookie named by the service id. */
  override getSessionId(request: ServiceRequest<any>): string | undefined {
    return request.getCookie(this.getServiceId(request));
  }

  /** Sends the session cookie (or a cookie that clears it). */
  override sendSessionId(request: ServiceRequest<any>, session: Session<any>, expires: number | undefined, clear: boolean): void {
    const name = this.getServiceId(request);
    if (clear) {
      request.setCookie(name, '', { ...this.cookieOptions(request, session, undefined), expires: new Date(0), maxAge: 0 });
    } else {
      request.setCookie(name, session.id, this.cookieOptions(request, session, expires));
    }
  }

  /**
   * The cookie's attributes. Defaults: `Path=/`, `HttpOnly`, `SameSite=Lax`,
   * `Secure` on HTTPS, and `Expires` with `Max-Age` unless the session lasts
   * until the browser closes.
   */
  cookieOptions(request: ServiceRequest<any>, _session: Session<any>, expires: number | undefined): SerializeOptions {
    const options: SerializeOptions = { path: '/', httpOnly: true, sameSite: 'lax' };
    if (request.isSecure()) options.secure = true;
    if (expires !== undefined) {
      options.expires = new Date(expires);
      options.maxAge = Math.max(0, Math.round((expires - Date.now()) / 1000));
    }
    return options;
  }
}
