import { DEFAULT_MAX_SESSION_BYTES } from '../config/defaults.js';
import { readBytes, readFlag, readOptionalSeconds } from '../config/directives.js';
import type { Expiry } from '../config/expiry.js';
import type { OpenSession } from './OpenSession.js';
import type { Session } from './Session.js';
import { sameExpiry } from './SessionLifetime.js';
import type { SessionRecord, SessionTimeouts } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';

/** A stored expiry is moved only when it is this far behind, so unchanged sessions are not rewritten on every request. */
const TOUCH_MS = 60_000;

/**
 * When a session ends: `expiresAt` of its expiry, capped by the idle timeout
 * (always for browser-lifetime sessions, for the others when one is set) and
 * by the absolute timeout counted from creation. Within a minute of what is
 * stored, what is stored: an unchanged session is not rewritten for it. The
 * same number is stored and advertised in the cookie.
 */
export function plannedExpires(session: Session<object>, state: OpenSession, expiry: Expiry, expiresAt: (expiry: Expiry, now: number) => number): number {
  const { request, now } = state;
  const expires = lifetimeEnd(session, expiry, request, now, expiresAt);
  const stored = state.storedExpires;
  if (stored !== undefined && session.id === state.openedId && !session.lifeChanged && expires >= stored && expires - stored < TOUCH_MS) return stored;
  return expires;
}

/**
 * When a session with these timeouts and this creation time ends, counted
 * from `now`: `expiresAt` of its expiry, capped by the idle timeout (always
 * for browser-lifetime sessions, for the others when one is set) and by the
 * absolute timeout counted from creation.
 */
export function lifetimeEnd(
  life: { readonly timeouts?: SessionTimeouts | undefined; readonly created: number },
  expiry: Expiry,
  request: SessionRequest,
  now: number,
  expiresAt: (expiry: Expiry, now: number) => number,
): number {
  const ownIdle = life.timeouts?.idle;
  // An idle limit set in code replaces PSOSessionIdleTimeout for a browser-lifetime session too.
  let expires = ownIdle !== undefined && expiry.kind === 'browser' ? now + ownIdle * 1000 : expiresAt(expiry, now);
  const idle = ownIdle ?? readOptionalSeconds(request, 'PSOSessionIdleTimeout');
  if (idle !== undefined && expiry.kind !== 'browser') expires = Math.min(expires, now + idle * 1000);
  const absolute = life.timeouts?.absolute ?? readOptionalSeconds(request, 'PSOSessionAbsoluteTimeout');
  if (absolute !== undefined) expires = Math.min(expires, life.created + absolute * 1000);
  return expires;
}

/**
 * Whether nothing is kept of a session: a destroyed one left empty, or
 * (`PSOSessionLazy`, on by default) a new one that holds no data unless the
 * handler asked for it (`save()`, `regenerate()`, `expire()`). An anonymous
 * flood then stores nothing.
 */
export function keepsNothing(session: Session<object>, request: SessionRequest): boolean {
  if (session.destroyed && session.isEmpty) return true;
  return session.isNew && session.isEmpty && !session.keepAsked && readFlag(request, 'PSOSessionLazy', true);
}

/**
 * Whether the client must be sent its session cookie: a new session, a new
 * id, a client that did not send it, or a lifetime other than the one its
 * cookie reflects (compared with what was loaded: the head usually goes out
 * after the session was saved).
 */
export function cookieNeeded(session: Session<object>, state: OpenSession, expiry: Expiry, expires: number): boolean {
  return (
    session.isNew ||
    session.id !== state.openedId ||
    !state.fromClient ||
    !sameExpiry(session.expiry, state.loadedExpiry) ||
    (expiry.kind !== 'browser' && expires !== state.loadedExpires)
  );
}

/** Whether a stored session has ended: expired, or past the absolute limit counted from creation (which may have been lowered since). */
export function hasEnded(record: SessionRecord, request: SessionRequest, now: number): boolean {
  const absolute = record.timeouts?.absolute ?? readOptionalSeconds(request, 'PSOSessionAbsoluteTimeout');
  return record.expires <= now || (absolute !== undefined && record.created + absolute * 1000 <= now);
}

/** The largest session data kept, in bytes: `PSOSessionMaxSize`. */
export function maxSessionBytes(request: SessionRequest): number {
  return readBytes(request, 'PSOSessionMaxSize', DEFAULT_MAX_SESSION_BYTES);
}

/**
 * The size of session data as JSON, in bytes, when it is over `limit`
 * (`PSOSessionMaxSize`); `undefined` when it is within it.
 */
export function sizeOver(json: string, limit: number): number | undefined {
  // Each character is at most 3 bytes of UTF-8: most sessions are told apart without counting.
  if (json.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(json, 'utf8');
  return bytes > limit ? bytes : undefined;
}

/** When an expiry ends, from `now`: a browser-lifetime session is kept `idleSeconds()` after its last request. */
export function endOf(expiry: Expiry, now: number, idleSeconds: () => number): number {
  switch (expiry.kind) {
    case 'browser':
      return now + idleSeconds() * 1000;
    case 'after':
      return now + expiry.seconds * 1000;
    case 'at':
      return expiry.time;
  }
}
