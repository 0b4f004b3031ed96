import { HttpError } from '../errors.js';

/** Which CSRF check refused a request. */
export type CsrfCheck = 'origin' | 'token';

/**
 * A request refused by a CSRF check: a 403 whose message (shown to the
 * client, and logged) says which check failed and why.
 *
 * @example
 * ```ts
 * if (e instanceof CsrfError && e.check === 'token') request.log('a form was posted without its token');
 * ```
 */
export class CsrfError extends HttpError {
  override name = 'CsrfError';

  constructor(readonly check: CsrfCheck, reason: string) {
    super(403, `CSRF check failed (${check}): ${reason}`);
  }
}
