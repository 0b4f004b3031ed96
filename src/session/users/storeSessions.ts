import { DEFAULT_LOCK_TIMEOUT_SECONDS } from '../../config/defaults.js';
import type { Release } from '../locks/KeyedMutex.js';
import type { SessionRecord } from '../SessionRecord.js';
import type { SessionStore } from '../stores/SessionStore.js';
import { describeSession, keyOfHandle, liveSessions, type UserSessionInfo } from './liveSessions.js';
import { checkUserId, ownerOf } from './userBinding.js';
import { userIndexOf } from './userIndexOf.js';

/**
 * A session named to keep is not a live session of the user: nothing was revoked.
 *
 * @example
 * ```ts
 * throw new NotUserSessionError('3Oy_0BwY…', 'ada');
 * ```
 */
export class NotUserSessionError extends Error {
  override name = 'NotUserSessionError';
  constructor(handle: string, user: string) {
    super(`${handle} is not a live session of ${user}: nothing was revoked (pso sessions list shows the handles)`);
  }
}

/**
 * The live sessions of a user in a store, from outside any request (what
 * `pso sessions list` shows).
 *
 * @throws ConfigurationError when the store keeps no index of users' sessions.
 * @example
 * ```ts
 * const sessions = await listStoredSessions(await openStore('redis://127.0.0.1:6379/0'), 'shop', 'ada');
 * ```
 */
export async function listStoredSessions(store: SessionStore, serviceId: string, userId: string): Promise<UserSessionInfo[]> {
  const index = userIndexOf(store, 'the store');
  const live = await liveSessions(index, serviceId, checkUserId(userId));
  return live.map((s) => describeSession(s, undefined)).sort((a, b) => b.loggedIn - a.loggedIn);
}

/**
 * Ends every session of a user in a store but those named by `except`
 * (handles, as listed), from outside any request (what `pso sessions revoke`
 * does). A kept session is locked while the user's generation moves on, and
 * then written with the new one, so that no request sees it in between.
 *
 * @returns how many live sessions ended.
 * @throws ConfigurationError when the store keeps no index; NotUserSessionError
 *   when a handle to keep is not a live session of the user.
 * @example
 * ```ts
 * await revokeStoredSessions(store, 'shop', 'ada', ['3Oy_0BwY6GkfSLW69SeL1o1g8j7Etv-s9fwgDYIt5jg']);
 * ```
 */
export async function revokeStoredSessions(store: SessionStore, serviceId: string, userId: string, except: readonly string[] = []): Promise<number> {
  const index = userIndexOf(store, 'the store');
  const user = checkUserId(userId);
  const keep = [...new Set(except.map((h) => keyOfHandle(serviceId, h)))];
  const held: { key: string; release: Release; record: SessionRecord }[] = [];
  try {
    for (const key of keep) {
      const release = store.lock ? await store.lock(key, DEFAULT_LOCK_TIMEOUT_SECONDS * 1000) : async () => {};
      const record = await store.get(key).catch(async (e: unknown) => {
        await release();
        throw e;
      });
      held.push({ key, release, record: record! });
      if (!record || record.user?.id !== user || record.expires <= Date.now() || record.moved !== undefined) {
        throw new NotUserSessionError(key.slice(serviceId.length + 2), user);
      }
    }
    const live = await liveSessions(index, serviceId, user, keep[0]);
    const gen = await index.revoke(ownerOf(serviceId, user), keep, keep[0]);
    for (const h of held) await store.set(h.key, { ...h.record, user: { ...h.record.user!, gen } });
    return live.filter((s) => !keep.includes(s.key)).length;
  } finally {
    for (const h of held) await h.release();
  }
}
