import type { SessionData } from './json.js';
import { hasEnded, maxSessionBytes, sizeOver } from './lifetime.js';
import type { OpenSession } from './OpenSession.js';
import { freshId, storageStep, type PolicyHooks } from './policyHooks.js';
import { forwardTarget, MAX_FORWARDS, rotationDue } from './rotation/rotation.js';
import { Session, type SessionHost } from './Session.js';
import { CorruptSessionError, type SessionRecord } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';
import type { UserSessions } from './users/UserSessions.js';

/** What {@link openSession} needs of the policy that opens the session. */
export interface Opener {
  /** The policy's hooks, and what the session calls back: the policy itself. */
  readonly hooks: PolicyHooks & SessionHost;
  readonly users: UserSessions;
  /** Records the session of `state` as open, before anything can ask the policy about it. */
  track(session: Session<object>, state: OpenSession): void;
}

/**
 * The session of a request (How-To section 4): the forced id, else the
 * client's, used only if it is well formed, stored and unexpired; anything
 * else gets a new session with a fresh id. The stored session is locked
 * until `close()`, unless `state.readOnly`. An id old enough for
 * `PSOSessionRotate` is replaced now, unless read-only (its old one leads
 * here for the grace).
 *
 * @example
 * ```ts
 * const session = await openSession({ hooks: impl, users, track }, request, state);
 * ```
 */
export async function openSession<D extends object = SessionData>(opener: Opener, request: SessionRequest, state: OpenSession): Promise<Session<D>> {
  const { hooks } = opener;
  const forced = hooks.getForcedSessionId(request);
  const asked = hooks.getSessionId(request);
  const presented = asked instanceof Promise ? await asked : asked;
  let id = forced;
  if (id === undefined) {
    state.fromClient = presented !== undefined;
    if (presented !== undefined && hooks.isValidSessionId(presented)) id = presented;
  } else {
    // A client that already holds the forced id need not be told it again.
    state.fromClient = presented === forced;
  }
  let record: SessionRecord | undefined;
  let snapshot: string | undefined;
  if (id !== undefined) ({ id, record, snapshot } = await openStored(opener, request, state, id, forced !== undefined));
  id ??= freshId(hooks, request);
  const session = new Session<D>({
    id, isNew: !record, data: record?.data ?? {}, created: record?.created ?? state.now,
    expiry: record?.expiry, timeouts: record?.timeouts, host: hooks, snapshot: record ? snapshot : undefined,
    user: record?.user, born: record?.born,
  });
  if (state.readOnly) session.freeze('read-only');
  state.session = session;
  state.openedId = id;
  state.storedExpires = state.loadedExpires = record?.expires;
  state.loadedExpiry = record?.expiry;
  opener.track(session, state);
  // PSOSessionRotate: an id old enough is replaced now (its old one leads here for the grace period);
  // not by a read-only request, which writes neither the new id nor the forward.
  if (record && forced === undefined && !state.readOnly && rotationDue(request, session, state.now) && (await hooks.keepsForwards(request))) {
    session.rotate();
    state.rotatedFrom = id;
  }
  return session;
}

/**
 * Locks and loads the stored session of `id`: `undefined` for none (and no
 * lock held, unless the id is forced), an ended one deleted, one whose
 * user's sessions were revoked since it was bound deleted too. An id that
 * `regenerate()` replaced within the grace period leads to the new one,
 * which is locked and loaded instead (the client is then sent the new id).
 */
async function openStored(opener: Opener, request: SessionRequest, state: OpenSession, first: string, forced: boolean): Promise<{ id?: string | undefined; record?: SessionRecord | undefined; snapshot?: string | undefined }> {
  const { hooks, users } = opener;
  let id = first;
  for (let hop = 0; ; hop++) {
    // A read-only request takes no lock, and writes nothing: the sweep or the next writer deletes what ended.
    if (!state.readOnly) state.release = await hooks.lock(request, id);
    let record: SessionRecord | undefined;
    let snapshot: string | undefined;
    let next: string | undefined;
    try {
      ({ record, snapshot } = await loadUsable(hooks, request, id));
      if (record && hasEnded(record, request, state.now)) {
        if (!state.readOnly) await hooks.remove(request, id);
        record = undefined;
      }
      if (record?.moved !== undefined) {
        // A forward is no session: it leads to one, or to nothing.
        next = forced || hop >= MAX_FORWARDS ? undefined : forwardTarget(id, record);
        if (next !== undefined && !hooks.isValidSessionId(next)) next = undefined;
        record = undefined;
      } else if (record?.user && !(await storageStep(hooks, 'load', () => users.isCurrent(request, id, record!)))) {
        // (A record bound to no user always holds: no step to take.)
        if (!state.readOnly) await storageStep(hooks, 'delete', () => hooks.remove(request, id));
        record = undefined;
      }
    } catch (e) {
      await state.release?.();
      throw e;
    }
    if (record || forced) return { id, record, snapshot };
    await state.release?.();
    state.release = undefined;
    state.legacyKey = undefined;
    if (next === undefined) return {};
    state.forwardedFrom.push(id);
    id = next;
  }
}

/**
 * A stored session and its data as JSON, or nothing for a session that
 * cannot be read back or is larger than `PSOSessionMaxSize`: the client gets
 * a new session and the log says why (the id shortened).
 *
 * @example
 * ```ts
 * const { record, snapshot } = await loadUsable(impl, request, session.id);
 * ```
 */
export async function loadUsable(hooks: PolicyHooks, request: SessionRequest, id: string): Promise<{ record?: SessionRecord | undefined; snapshot?: string }> {
  let why: string;
  try {
    const record = await storageStep(hooks, 'load', () => hooks.load(request, id));
    if (!record) return {};
    const snapshot = JSON.stringify(record.data);
    const over = sizeOver(snapshot, maxSessionBytes(request));
    if (over === undefined) return { record, snapshot };
    why = `holds ${over} bytes, more than PSOSessionMaxSize`;
  } catch (e) {
    if (!(e instanceof CorruptSessionError)) throw e;
    why = `cannot be read (${e.message})`;
  }
  request.logWith('warn', `stored session ${id.slice(0, 6)}... of ${hooks.getServiceId(request)} ${why}; starting a new session`);
  return {};
}
