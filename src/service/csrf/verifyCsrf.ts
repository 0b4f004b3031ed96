import type { Session } from '../../session/Session.js';
import type { SessionImpl } from '../../session/SessionImpl.js';
import type { ServiceRequest } from '../ServiceRequest.js';
import { checkCsrf, SAFE_METHODS, type CsrfRequest } from './checkCsrf.js';
import { csrfModeOf, type CsrfOption } from './csrfSettings.js';

/**
 * The CSRF check of one request whose session is open: the handler's `csrf`
 * option (or `PSOCsrf`) picks the mode, the session policy tells how the id
 * came. Called by the core before the handler. `input` is what the check
 * reads (the request itself, unless a host must keep its body unread).
 *
 * @throws CsrfError (a 403) naming the check that failed.
 * @example
 * ```ts
 * await verifyCsrf(request, impl, session, options.csrf);
 * ```
 */
export async function verifyCsrf(
  request: ServiceRequest<any>,
  impl: SessionImpl,
  session: Session<object>,
  option: CsrfOption<ServiceRequest<any>> | undefined,
  input: CsrfRequest = request,
): Promise<void> {
  // Most requests are safe: nothing to decide for them.
  if (SAFE_METHODS.has(request.method)) return;
  const mode = csrfModeOf(request, typeof option === 'function' ? option(request) : option);
  if (mode === 'off') return;
  await checkCsrf(input, mode, {
    storedId: session.isNew ? undefined : session.id,
    formerIds: session.isNew ? [] : impl.formerIds(request),
    cookie: request.getCookie(impl.getServiceId(request)) !== undefined,
    header: impl.presentedInHeader(request),
  });
}
