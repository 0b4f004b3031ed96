import { readExpiry } from '../config/directives.js';
import { hasEnded, lifetimeEnd } from './lifetime.js';
import type { Release } from './locks/KeyedMutex.js';
import { SessionBusyError } from './locks/SessionBusyError.js';
import { loadUsable } from './opening.js';
import type { OpenSession } from './OpenSession.js';
import { storageStep, type PolicyHooks } from './policyHooks.js';
import type { Session } from './Session.js';

// What a handler may ask of its open session besides saving it: release it
// early, read it again, move its expiry (docs/recipes/release.md,
// reload-touch.md). SessionImpl's releaseSession, reloadSession and
// touchSession come here with the session's state.

/**
 * Saves and unlocks a session before its request ends (`close`, committing);
 * it refuses changes from then on, whether the save worked or not.
 *
 * @example
 * ```ts
 * await releaseEarly((s, commit) => impl.close(s, commit), session, state);
 * ```
 */
export async function releaseEarly(close: (session: Session<object>, commit: boolean) => Promise<void>, session: Session<object>, state: OpenSession): Promise<void> {
  if (state.closed || state.readOnly) return;
  try {
    await close(session, true);
  } catch (e) {
    // The failure is the handler's to see; it is not taken for a change made after release() at the end.
    try {
      session.markSaved(session.serializeData());
    } catch {
      // data that cannot be saved stays as it is
    }
    throw e;
  } finally {
    session.freeze('released');
  }
}

/**
 * Reads a session again from the store. When it is gone, the session
 * becomes what a request with its id would get: empty and new, with a fresh
 * id (a writable one whose response has not started). Whether it was found.
 *
 * @throws Error after `regenerate()` or `destroy()` not yet saved.
 * @example
 * ```ts
 * const found = await reloadStored(impl, session, state);
 * ```
 */
export async function reloadStored(hooks: PolicyHooks, session: Session<object>, state: OpenSession): Promise<boolean> {
  const { request } = state;
  if (session.retiredIds.length > 0) throw new Error('session.reload() cannot follow regenerate() or destroy() before the session is saved: await session.save() first');
  if (state.storedExpires === undefined) return false;
  const { record, snapshot } = await loadUsable(hooks, request, session.id);
  if (record && !hasEnded(record, request, Date.now())) {
    session.replaceWith(record, snapshot);
    state.storedExpires = record.expires;
    return true;
  }
  state.storedExpires = undefined;
  if (session.readOnly) session.replaceWith(undefined);
  else if (!request.responseStarted) session.destroy();
  else {
    session.replaceWith(undefined);
    session.freeze('gone');
  }
  return false;
}

/**
 * Moves a stored session's expiry to a full lifetime from now through the
 * `touch` hook, with the record as stored. A session whose lock this
 * request no longer holds (read-only, released) takes it for the moment of
 * the touch; one busy elsewhere is left to the request that holds it.
 * Whether the expiry moved.
 *
 * @example
 * ```ts
 * const moved = await touchStored(impl, session, state);
 * ```
 */
export async function touchStored(hooks: PolicyHooks, session: Session<object>, state: OpenSession): Promise<boolean> {
  const { request } = state;
  if (state.storedExpires === undefined || session.retiredIds.length > 0) return false;
  let release: Release | undefined;
  if (state.closed || state.readOnly) {
    try {
      release = await hooks.lock(request, session.id);
    } catch (e) {
      if (!(e instanceof SessionBusyError)) throw e;
      request.logWith('info', 'session.touch(): the session is busy in another request, which moves its expiry itself');
      return false;
    }
  }
  try {
    const now = Date.now();
    const { record } = await loadUsable(hooks, request, session.id);
    if (!record || hasEnded(record, request, now)) return false;
    const expires = lifetimeEnd(record, record.expiry ?? readExpiry(request), request, now, (e, at) => hooks.expiresAt(request, e, at));
    if (expires <= now) return false;
    await storageStep(hooks, 'touch', () => hooks.touch(request, session.id, { ...record, expires }, { final: false }));
    state.storedExpires = expires;
    // Expiries computed later in this request start from the touch, so the final save does not move it back.
    state.now = now;
    return true;
  } finally {
    await release?.();
  }
}
