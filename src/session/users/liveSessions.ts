import type { SessionRecord } from '../SessionRecord.js';
import type { UserIndex } from '../stores/UserIndex.js';
import { ownerOf } from './userBinding.js';

/** What `session.revokeUserSessions()` takes. */
export interface RevokeOptions {
  /** Whose sessions: default the session's own user. */
  user?: string | number;
  /** Keep this request's session ("log out everywhere else"); default false: this one ends too. */
  keepCurrent?: boolean;
}

/** One session of a user, as `session.userSessions()` and `pso sessions list` show it. */
export interface UserSessionInfo {
  /**
   * A name for the session that is not its id (the hash its store key
   * carries): safe to show, and what `pso sessions revoke --except` takes.
   */
  handle: string;
  /** Whether it is the session of the request asking. */
  current: boolean;
  /** When the session was created (ms since the epoch). */
  created: number;
  /** When the user logged in with it. */
  loggedIn: number;
  /** When it was last written: the last request, to within a few minutes. */
  lastSeen: number | undefined;
  /** When it expires unless used again. */
  expires: number;
  /** The User-Agent of the login, when it was given (`request.login()` gives it). */
  userAgent: string | undefined;
}

/** A live session of a user: its store key and record. */
export interface LiveSession {
  key: string;
  record: SessionRecord;
}

/** The handle of a store key (`<service id>:~<hash>`): the hash. */
export function handleOf(key: string): string {
  const rest = key.slice(key.indexOf(':') + 1);
  return rest.startsWith('~') ? rest.slice(1) : rest;
}

/** The store key of a handle (see {@link handleOf}). */
export function keyOfHandle(serviceId: string, handle: string): string {
  return `${serviceId}:~${handle}`;
}

/**
 * A user's live sessions: the index's entries whose record is still bound to
 * that user under the current generation, unexpired and not a forward. A
 * session deleted, revoked, rebound or expired is never among them, whatever
 * the index still holds. `current` gives the generation of one key as the
 * asking request holds it (a revocation that kept it may not be stored yet).
 *
 * @example
 * ```ts
 * const live = await liveSessions(store.users!, 'app', 'ada');
 * ```
 */
export async function liveSessions(index: UserIndex, serviceId: string, userId: string, held?: string, current?: { key: string; gen: number }): Promise<LiveSession[]> {
  const owner = ownerOf(serviceId, userId);
  // The generation after the entries: a revocation done before the generation is read hides what it revoked.
  const entries = await index.sessions(owner, held);
  const gen = await index.generation(owner, held);
  const now = Date.now();
  const out: LiveSession[] = [];
  for (const entry of entries) {
    const { record } = entry;
    const user = record.user;
    if (!user || user.id !== userId || record.expires <= now || record.moved !== undefined) continue;
    const bound = current?.key === entry.key ? current.gen : (user.gen ?? 0);
    if (bound < gen) continue;
    out.push(entry);
  }
  return out;
}

/** What a live session shows. */
export function describeSession(session: LiveSession, currentKey: string | undefined): UserSessionInfo {
  const user = session.record.user!;
  return {
    handle: handleOf(session.key),
    current: session.key === currentKey,
    created: session.record.created,
    loggedIn: user.at,
    lastSeen: user.seen,
    expires: session.record.expires,
    userAgent: user.agent,
  };
}
