import type { Session } from '../session/Session.js';
import type { SessionImpl } from '../session/SessionImpl.js';
import { guardSessionCaching, sessionCacheControl, type CacheHeaders } from './sessionCaching.js';
import type { RequestInternals } from './SessionBinding.js';
import type { ServiceRequest } from './ServiceRequest.js';

/**
 * What goes into a response's head for its session, just before it goes
 * out: what the policy adds (the cookie, an id header), then the cache
 * policy, when the policy added anything or the handler used a stored
 * session (`headers` are where a `Cache-Control` of the handler's own is).
 *
 * @example
 * ```ts
 * const head = sessionHead(request, internalsOf(request), impl, session, request);
 * head(); // just before the head goes out
 * ```
 */
export function sessionHead(request: ServiceRequest<any>, internals: RequestInternals, impl: SessionImpl, session: Session<object>, headers: CacheHeaders): () => void {
  const stored = !session.isNew;
  // A bad PSOSessionCacheControl fails the request before the handler runs, not once its answer is made.
  sessionCacheControl(request);
  return () => {
    const before = internals.response.revision;
    impl.beforeHead(session);
    const exposed = internals.response.revision !== before || (stored && internals.sessionUsed());
    guardSessionCaching(headers, request, exposed);
  };
}
