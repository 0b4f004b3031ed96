/**
 * Raised when a header (the session cookie included) would change after the
 * response headers have gone out: after a `flush()`, the status, the headers
 * and the session id are fixed.
 *
 * @example
 * ```ts
 * await request.flush();
 * request.session.regenerate(); // HeadersSentError
 * ```
 */
export class HeadersSentError extends Error {
  override name = 'HeadersSentError';
}
