import { ConfigurationError } from '../../config/ConfigurationError.js';
import { readOptionalSeconds } from '../../config/directives.js';
import type { Session } from '../Session.js';
import type { SessionRecord } from '../SessionRecord.js';
import type { SessionRequest } from '../SessionRequest.js';
import { openForward, sealForward } from './forwardSeal.js';

/** Seconds an id replaced by `regenerate()` still leads to the new one (`PSOSessionRotateGrace`). */
export const DEFAULT_GRACE_SECONDS = 5;
/** The longest grace pso allows: the old id is a live credential meanwhile. */
const MAX_GRACE_SECONDS = 300;
/** Forwards followed at most in one request (an id replaced twice within the grace). */
export const MAX_FORWARDS = 3;

/**
 * `PSOSessionRotateGrace`: how long, in ms, an id that `regenerate()`
 * replaced keeps leading to the new one; 0 turns forwarding off.
 *
 * @throws ConfigurationError above 300 seconds.
 */
export function graceMs(request: SessionRequest): number {
  const seconds = readOptionalSeconds(request, 'PSOSessionRotateGrace') ?? DEFAULT_GRACE_SECONDS;
  if (seconds > MAX_GRACE_SECONDS) {
    throw new ConfigurationError('PSOSessionRotateGrace', request.getEnviron('PSOSessionRotateGrace'), `at most ${MAX_GRACE_SECONDS} seconds: the old id stays a live credential that long`);
  }
  return seconds * 1000;
}

/** `PSOSessionRotate`: the age (ms) at which a session's id is replaced on its next request; `undefined` when off. */
export function rotateAfterMs(request: SessionRequest): number | undefined {
  const seconds = readOptionalSeconds(request, 'PSOSessionRotate');
  return seconds ? seconds * 1000 : undefined;
}

/**
 * Whether the id of a session just loaded is old enough to be replaced
 * (`PSOSessionRotate`), counted from when it was issued.
 *
 * @example
 * ```ts
 * if (rotationDue(request, session, Date.now())) session.regenerate();
 * ```
 */
export function rotationDue(request: SessionRequest, session: Session<object>, now: number): boolean {
  const after = rotateAfterMs(request);
  return after !== undefined && now - session.idBorn >= after;
}

/**
 * The record left under `oldId` once its session moved to `newId`: no data,
 * the new id sealed with the old one, lasting the grace period.
 */
export function forwardRecord(oldId: string, newId: string, created: number, now: number, grace: number): SessionRecord {
  return { data: {}, created, expires: now + grace, moved: sealForward(oldId, newId) };
}

/** The id a forward record leads to, for the request that presented `oldId`; `undefined` when it does not open. */
export function forwardTarget(oldId: string, record: SessionRecord): string | undefined {
  return record.moved === undefined ? undefined : openForward(oldId, record.moved);
}
