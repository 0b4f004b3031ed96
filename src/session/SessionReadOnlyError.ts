/** Why a session refuses changes. */
export type ReadOnlyReason = 'read-only' | 'released' | 'gone';

const WHY: Readonly<Record<ReadOnlyReason, string>> = {
  'read-only':
    'the session was opened read-only (PSOSessionReadOnly, or the readOnlySession handler option): it holds no lock and is never saved, ' +
    'so the change would be lost; open it writable for the requests that change it',
  released:
    'the session was released with session.release(): it is saved and unlocked, and a later change would be lost (or would overwrite ' +
    'what a parallel request saved); make the change before release()',
  gone:
    'reload() found the stored session gone after the response had started, so it can no longer get a new id; ' +
    'reload() before the response starts (before flush()) to start a new session',
};

/**
 * A change to a session that cannot be saved: the session was opened
 * read-only, or released early with `session.release()`. Reading it is
 * fine; the message names the change that was refused and what to do.
 *
 * @example
 * ```ts
 * await request.session.release();
 * request.session.set('step', 3); // SessionReadOnlyError: cannot set "step": the session was released ...
 * ```
 */
export class SessionReadOnlyError extends Error {
  override name = 'SessionReadOnlyError';

  constructor(readonly reason: ReadOnlyReason, what: string) {
    super(`cannot ${what}: ${WHY[reason]}`);
  }
}
