/**
 * A response with a given HTTP status, thrown by pso or by a handler; the
 * handler stops and the client gets `status` with a short body. `expose`
 * controls whether the message is shown to the client (it always goes to the log).
 *
 * @example
 * ```ts
 * if (!user) throw new HttpError(403, 'Forbidden');
 * ```
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly expose = status < 500,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/**
 * Thrown by `request.redirect()` and `request.sendStatus()` to end the handler,
 * like the original's `SERVER_RETURN`. pso catches it; handlers need not.
 */
export class ServiceReturn extends Error {
  override name = 'ServiceReturn';
  constructor() {
    super('the handler ended the response');
  }
}

/**
 * A header name or value that would break the response (CR, LF or NUL in it,
 * or a name that is not an HTTP token): refused before it reaches the client.
 */
export class InvalidHeaderError extends TypeError {
  override name = 'InvalidHeaderError';
}

export { HeadersSentError } from '../session/HeadersSentError.js';
