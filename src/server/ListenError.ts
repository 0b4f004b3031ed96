/**
 * A server could not listen where it was asked to. The message says where,
 * why, and what to change.
 *
 * @example
 * ```ts
 * throw new ListenError('127.0.0.1:8080', 'the address is in use', 'stop what listens there, or choose another --port');
 * // cannot listen on 127.0.0.1:8080: the address is in use; fix: stop what listens there, or choose another --port
 * ```
 */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    readonly address: string,
    readonly reason: string,
    readonly fix: string,
    /** The system's error (its `code`, e.g. EADDRINUSE), when there is one. */
    cause?: unknown,
  ) {
    super(`cannot listen on ${address}: ${reason}; fix: ${fix}`, cause === undefined ? undefined : { cause });
  }
}
