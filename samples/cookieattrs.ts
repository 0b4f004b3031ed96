// How-To "I want to set the session cookie's path and domain": directives, as
// in .htaccess (names are case-insensitive):
//
//   SetEnv PSOCookieSession_Path /shop/
//   SetEnv PSOCookieSession_Domain example.org
//   SetEnv PSOCookieSession_Secure auto        # on, off, auto (on over HTTPS)
//   SetEnv PSOCookieSession_SameSite Strict    # Strict, Lax (default), None
//   SetEnv PSOCookieSession_HttpOnly on        # default on
//   SetEnv PSOCookieSession_Max-Age 3600       # the session's lifetime too
//
// The defaults below are used when the environment does not set them.
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

/** Default directives of this sample; `pso serve` reads them too. */
export const directives = {
  PSOCookieSession_Path: '/',
  PSOCookieSession_SameSite: 'Strict',
  PSOCookieSession_Priority: 'High',
  'PSOCookieSession_Max-Age': '3600',
};

export function handler(request: ServiceRequest) {
  const visits = request.session.increment('visits');
  request.sendHttpHeaders('text/plain');
  request.write(`visits: ${visits}\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { directives });
