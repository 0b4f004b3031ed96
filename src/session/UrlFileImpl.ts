import { injectable, injectFromBase } from 'inversify';
import type { SessionRequest } from './SessionRequest.js';
import { CookieFileImpl } from './CookieFileImpl.js';
import type { UrlSessionMode } from './CookieSession.js';

/**
 * File sessions that also work without cookies: the id travels in a cookie
 * and, while the browser has not sent that cookie back, in the URLs made
 * with `request.mkurl()` (the How-To: "probably the best is to use both
 * approaches"). `PSOSessionUrl only` drops the cookie altogether.
 *
 * URL ids leak (bookmarks, logs, shared links): pso refuses unknown ids,
 * sends `Referrer-Policy: no-referrer` while a URL carries one, and you
 * should `regenerate()` the session on login.
 *
 * @example
 * ```ts
 * new ServiceHandler().run(handler, { sessionImpl: UrlFileImpl });
 * ```
 */
@injectable()
@injectFromBase({ extendConstructorArguments: true, extendProperties: true })
export class UrlFileImpl extends CookieFileImpl {
  /** `on` unless `PSOSessionUrl` says otherwise (`only`, or `off` to switch URLs off again). */
  override urlSessionMode(request: SessionRequest): UrlSessionMode {
    const raw = request.getEnviron('PSOSessionUrl');
    return raw === undefined || raw.trim() === '' ? 'on' : super.urlSessionMode(request);
  }
}
