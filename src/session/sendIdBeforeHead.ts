import { readExpiry } from '../config/directives.js';
import type { Expiry } from '../config/expiry.js';
import { cookieNeeded, keepsNothing, plannedExpires } from './lifetime.js';
import type { OpenSession } from './OpenSession.js';
import type { Session } from './Session.js';
import type { SessionRequest } from './SessionRequest.js';

/** The hooks {@link sendIdBeforeHead} calls: a {@link SessionImpl}'s, overrides included. */
export interface IdSender {
  sendSessionId(request: SessionRequest, session: Session<object>, expires: number | undefined, clear: boolean): void;
  reissueId(request: SessionRequest): boolean;
  expiresAt(request: SessionRequest, expiry: Expiry, now: number): number;
}

/**
 * Tells the client what it needs to keep its session, through the policy's
 * `sendSessionId`, just before the response head goes out: its id and the
 * lifetime when either is new to it (or `reissueId` asks), the order to
 * forget the id when nothing is stored for it, and nothing when nothing
 * changed. A read-only session wrote nothing: the client's id and lifetime
 * stand, unless the session is gone or `touch()` moved it.
 *
 * @example
 * ```ts
 * sendIdBeforeHead(impl, session, state);
 * ```
 */
export function sendIdBeforeHead(sender: IdSender, session: Session<object>, state: OpenSession): void {
  const { request } = state;
  const expiry = session.expiry ?? readExpiry(request);
  if (state.readOnly) {
    // Nothing was written: the client's id and lifetime stand, unless the session is gone or touch() moved it.
    if (state.storedExpires === undefined) {
      if (state.fromClient) sender.sendSessionId(request, session, 0, true);
    } else if ((expiry.kind !== 'browser' && state.storedExpires !== state.loadedExpires) || sender.reissueId(request)) {
      sender.sendSessionId(request, session, expiry.kind === 'browser' ? undefined : state.storedExpires, false);
    }
    return;
  }
  const expires = plannedExpires(session, state, expiry, (e, now) => sender.expiresAt(request, e, now));
  if (expires <= state.now || keepsNothing(session, request)) {
    // Nothing is (or stays) stored: tell a client that sent an id to forget it.
    if (state.fromClient) sender.sendSessionId(request, session, 0, true);
    return;
  }
  if (cookieNeeded(session, state, expiry, expires) || sender.reissueId(request)) sender.sendSessionId(request, session, expiry.kind === 'browser' ? undefined : expires, false);
}
