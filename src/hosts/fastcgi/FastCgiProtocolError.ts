/**
 * The web server sent what FastCGI does not allow (a wrong version, a record
 * for a request that is not there, a malformed name-value pair...). The
 * connection it came on is closed; the process and its other connections go on.
 *
 * @example
 * ```ts
 * throw new FastCgiProtocolError('record version 2; only version 1 exists');
 * ```
 */
export class FastCgiProtocolError extends Error {
  override name = 'FastCgiProtocolError';
}
