/**
 * What went wrong with a session, as the service layer maps it to an answer
 * (in one place, `service/errorAnswer.ts`):
 *
 * | kind | meaning | answer |
 * |---|---|---|
 * | `busy` | another request held the session past `PSOSessionLockTimeout` | 503, `Retry-After: 1` |
 * | `unavailable` | the store failed or did not answer in time | 503, `Retry-After: 5` |
 * | `storage` | the store refused a write (a full disk, an unwritable directory) | 500 |
 * | `corrupt` | a stored session cannot be read back (the visitor gets a new one) | 500 if it escapes |
 */
export type SessionErrorKind = 'busy' | 'unavailable' | 'storage' | 'corrupt';

/**
 * A failure of the session layer, with its {@link kind}. Nothing is lost:
 * the previous state of the session stays stored.
 *
 * @example
 * ```ts
 * if (e instanceof SessionError && e.kind === 'busy') retryLater();
 * ```
 */
export class SessionError extends Error {
  override name = 'SessionError';
  constructor(readonly kind: SessionErrorKind, message: string, options?: { cause?: unknown }) {
    super(message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
