/**
 * What a session keeps about the user it is bound to (`session.login()`),
 * stored with it. The store's index of users' sessions (a table, a set, a
 * directory) lists the session under the user; {@link gen} ties it to the
 * user's generation, which a revocation moves on, so that a session revoked
 * while a request still held it dies on its next load even if that request
 * wrote it back.
 */
export interface UserBinding {
  /** The user id given to `login()`. */
  id: string;
  /** The user's generation when the session was bound (or kept by a revocation); unset until first saved. */
  gen?: number | undefined;
  /** When `login()` bound it (ms since the epoch). */
  at: number;
  /** The User-Agent the login came with, when given. */
  agent?: string | undefined;
  /** When the session was last written (ms): "last seen", to within a few minutes. */
  seen?: number | undefined;
  /** Until when the index lists it (ms): a little past the session's expiry, moved on with it. */
  until?: number | undefined;
}

/** Longest user id `login()` takes, in characters. */
export const MAX_USER_ID = 200;
/** Longest User-Agent kept, in characters. */
const MAX_AGENT = 256;

/**
 * A user id as `login()` takes it: a string of 1 to 200 characters without
 * control characters, or a safe integer (made a string).
 *
 * @throws TypeError saying what is wrong.
 * @example
 * ```ts
 * checkUserId(42); // '42'
 * ```
 */
export function checkUserId(userId: unknown): string {
  const id = typeof userId === 'number' && Number.isSafeInteger(userId) ? String(userId) : userId;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new TypeError(`a user id must be a string of 1 to ${MAX_USER_ID} characters without control characters, or an integer; got ${JSON.stringify(String(userId).slice(0, 40))}`);
  }
  return id;
}

/** A User-Agent as kept: printable, at most 256 characters; nothing for an empty one. */
export function keptAgent(agent: string | undefined): string | undefined {
  if (agent === undefined) return undefined;
  const clean = agent.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_AGENT);
  return clean === '' ? undefined : clean;
}

/** The index's name for a user of a service: `<service id>:<user id>` (the service id holds no `:`). */
export function ownerOf(serviceId: string, userId: string): string {
  return `${serviceId}:${userId}`;
}

/** A stored binding read back, checked; `undefined` when it is not one. */
export function parseStoredUser(v: unknown): UserBinding | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const u = v as Record<string, unknown>;
  if (typeof u.id !== 'string' || u.id.length === 0 || u.id.length > MAX_USER_ID || !isTime(u.at)) return undefined;
  const out: UserBinding = { id: u.id, at: u.at };
  if (u.gen !== undefined) {
    if (!Number.isSafeInteger(u.gen) || (u.gen as number) < 0) return undefined;
    out.gen = u.gen as number;
  }
  if (u.agent !== undefined) {
    if (typeof u.agent !== 'string') return undefined;
    out.agent = u.agent.slice(0, MAX_AGENT);
  }
  for (const key of ['seen', 'until'] as const) {
    if (u[key] === undefined) continue;
    if (!isTime(u[key])) return undefined;
    out[key] = u[key];
  }
  return out;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
