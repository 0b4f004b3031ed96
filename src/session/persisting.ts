import { readExpiry } from '../config/directives.js';
import { keepsNothing, maxSessionBytes, plannedExpires, sizeOver } from './lifetime.js';
import type { OpenSession } from './OpenSession.js';
import { storageStep, type PolicyHooks } from './policyHooks.js';
import { forwardRecord, graceMs } from './rotation/rotation.js';
import type { Session } from './Session.js';
import type { SessionRecord } from './SessionRecord.js';
import { SessionStoreError } from './SessionStoreError.js';
import type { UserSessions } from './users/UserSessions.js';

/**
 * Writes what a request changed of its open session through the policy's
 * hooks: ids that `regenerate()` replaced deleted, or left as forwards to
 * the new one for `PSOSessionRotateGrace` (a login's or a logout's end
 * now); nothing kept of a session that keeps nothing; the record saved when
 * its data changed, touched when only its expiry moved; then the forwards,
 * once the session they lead to is written. The last write of a closed
 * request frees the store's lock with it.
 *
 * @throws SessionStoreError for data over `PSOSessionMaxSize` (nothing is written) or a failing hook.
 * @example
 * ```ts
 * await persistSession(impl, users, session, state);
 * ```
 */
export async function persistSession(hooks: PolicyHooks, users: UserSessions, session: Session<object>, state: OpenSession): Promise<void> {
  const { request } = state;
  const dataJson = session.serializeData();
  // Ids regenerate() replaced lead to the new one for a grace period; a login's or a logout's end now.
  const retired = session.retiredIds;
  let forwards: readonly string[] = [];
  let grace = 0;
  if (retired.length) {
    grace = (await hooks.keepsForwards(request)) ? graceMs(request) : 0;
    forwards = retired.filter((old) => grace > 0 && !session.isHardRetired(old));
    for (const old of retired) {
      if (!forwards.includes(old)) await storageStep(hooks, 'delete', () => hooks.remove(request, old));
      if (old === state.openedId) state.storedExpires = undefined;
    }
    await storageStep(hooks, 'save', () => users.unbind(state, session, retired));
    session.clearRetired();
  }
  const expiry = session.expiry ?? readExpiry(request);
  const expires = plannedExpires(session, state, expiry, (e, now) => hooks.expiresAt(request, e, now));
  if (expires <= state.now || keepsNothing(session, request)) {
    // Nothing is kept for them to lead to.
    for (const old of forwards) await storageStep(hooks, 'delete', () => hooks.remove(request, old));
    if (state.storedExpires !== undefined) await storageStep(hooks, 'delete', () => hooks.remove(request, session.id));
    state.storedExpires = undefined;
    session.markSaved(dataJson);
    return;
  }
  const limit = maxSessionBytes(request);
  const over = sizeOver(dataJson, limit);
  if (over !== undefined) throw new SessionStoreError(`the session holds ${over} bytes of data, more than PSOSessionMaxSize (${limit} bytes): it was not saved; keep less in it, or raise the limit`);
  const dataChanged = state.storedExpires === undefined || dataJson !== session.snapshot || users.wantsWrite(session, state.now);
  if (dataChanged || expires !== state.storedExpires || session.lifeChanged) {
    const record: SessionRecord = { data: JSON.parse(dataJson), expires, created: session.created };
    if (session.expiry) record.expiry = session.expiry;
    if (session.timeouts) record.timeouts = session.timeouts;
    if (session.idBorn !== session.created) record.born = session.idBorn;
    if (session.userBinding) await storageStep(hooks, 'save', () => users.stamp(state, session, record));
    // The last write of the request frees the lock with it: the forward under the locked id, if any.
    const hints = { final: state.closed && forwards.length === 0 };
    if (dataChanged) await storageStep(hooks, 'save', () => hooks.save(request, session.id, record, hints));
    else await storageStep(hooks, 'touch', () => hooks.touch(request, session.id, record, hints));
    state.storedExpires = expires;
  }
  // Written once the new session is: whoever follows a forward finds it.
  for (const [i, old] of forwards.entries()) {
    const hints = { final: state.closed && i === forwards.length - 1 };
    await storageStep(hooks, 'save', () => hooks.save(request, old, forwardRecord(old, session.id, session.created, state.now, grace), hints));
  }
  session.markSaved(dataJson);
}
