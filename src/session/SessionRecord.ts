import { MAX_LIFETIME_SECONDS, type Expiry } from '../config/expiry.js';
import { bareObject, MAX_DATA_DEPTH, nestsWithin, stringifyJson, type JsonValue } from './json.js';
import { SessionError } from './SessionError.js';
import { parseStoredUser, type UserBinding } from './users/userBinding.js';

/**
 * Server-side limits in seconds: `idle` after the last request, `absolute`
 * after creation. Unset limits come from `PSOSessionIdleTimeout` and
 * `PSOSessionAbsoluteTimeout`.
 */
export interface SessionTimeouts {
  idle?: number | undefined;
  absolute?: number | undefined;
}

/**
 * What a store keeps for one session. Times are milliseconds since the epoch.
 */
export interface SessionRecord {
  /** The session's data. */
  data: Record<string, JsonValue>;
  /** When the server stops accepting the session. */
  expires: number;
  /** When the session was created. */
  created: number;
  /** An expiry set in code with `session.expire(...)`, kept across requests. */
  expiry?: Expiry | undefined;
  /** Timeouts set in code with `session.setTimeouts(...)`, kept across requests. */
  timeouts?: SessionTimeouts | undefined;
  /** The user the session is bound to (`session.login()`), for the store's index of users' sessions. */
  user?: UserBinding | undefined;
  /** When this id was issued, when not at creation (`regenerate()`): `PSOSessionRotate` counts from it. */
  born?: number | undefined;
  /**
   * Set on the record left under an id that `regenerate()` replaced: the new
   * id, sealed with the old one, for `PSOSessionRotateGrace` seconds.
   */
  moved?: string | undefined;
}

/**
 * A stored session that cannot be read back (truncated, garbage, wrong
 * shape, too large): the visitor gets a new session and the log says why.
 *
 * @example
 * ```ts
 * throw new CorruptSessionError('not valid JSON');
 * ```
 */
export class CorruptSessionError extends SessionError {
  override name = 'CorruptSessionError';
  constructor(message: string) {
    super('corrupt', message);
  }
}

const FORMAT = 1;

/**
 * Serialises a record as JSON text (format version 1).
 *
 * @throws SessionDataError when the data holds something JSON cannot store.
 */
export function serializeRecord(record: SessionRecord): string {
  const data = stringifyJson(record.data);
  const expiry = record.expiry ? `,"expiry":${JSON.stringify(record.expiry)}` : '';
  const timeouts = record.timeouts ? `,"timeouts":${JSON.stringify(record.timeouts)}` : '';
  const user = record.user ? `,"user":${JSON.stringify(record.user)}` : '';
  const born = record.born !== undefined ? `,"born":${record.born}` : '';
  const moved = record.moved !== undefined ? `,"moved":${JSON.stringify(record.moved)}` : '';
  return `{"v":${FORMAT},"created":${record.created},"expires":${record.expires}${expiry}${timeouts}${user}${born}${moved},"data":${data}}`;
}

/**
 * Parses what {@link serializeRecord} wrote. Nothing in the text can run code:
 * it is `JSON.parse` plus shape checks, and the data object has no prototype.
 *
 * @throws CorruptSessionError saying what is wrong.
 */
export function parseRecord(text: string): SessionRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CorruptSessionError(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CorruptSessionError('not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.v !== FORMAT) throw new CorruptSessionError(`unknown format version ${JSON.stringify(r.v)}`);
  if (!isTime(r.created) || !isTime(r.expires)) throw new CorruptSessionError('missing or invalid times');
  if (typeof r.data !== 'object' || r.data === null || Array.isArray(r.data)) throw new CorruptSessionError('data is not an object');
  // Data that could not be saved again would fail every request of the session.
  if (!nestsWithin(r.data, MAX_DATA_DEPTH)) throw new CorruptSessionError(`data nested deeper than ${MAX_DATA_DEPTH} levels`);
  const record: SessionRecord = {
    data: bareObject(r.data),
    created: r.created,
    expires: r.expires,
  };
  if (r.expiry !== undefined) record.expiry = parseStoredExpiry(r.expiry);
  if (r.timeouts !== undefined) record.timeouts = parseStoredTimeouts(r.timeouts);
  if (r.user !== undefined) {
    const user = parseStoredUser(r.user);
    if (!user) throw new CorruptSessionError('invalid user binding');
    record.user = user;
  }
  if (r.born !== undefined) {
    if (!isTime(r.born)) throw new CorruptSessionError('invalid id time');
    record.born = r.born;
  }
  if (r.moved !== undefined) {
    if (typeof r.moved !== 'string' || !/^[A-Za-z0-9_-]{1,512}$/.test(r.moved)) throw new CorruptSessionError('invalid forward');
    record.moved = r.moved;
  }
  return record;
}

/** The last moment a Date can hold (ECMA-262 §21.4.1.22): a later one would be an Invalid Date in the cookie. */
const MAX_TIME = 8.64e15;

/** A time pso could have written: milliseconds from the epoch to the last a Date holds. */
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_TIME;
}

/** A number of seconds `session.expire()` and `setTimeouts()` accept, from `min` to ten years. */
function isLifetime(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= MAX_LIFETIME_SECONDS;
}

// Stored values are held to what pso writes: an absurd one (a time no Date holds, a lifetime of
// 1e300 seconds) would otherwise load, then fail every request of the session when its cookie is made.
function parseStoredExpiry(v: unknown): Expiry {
  const e = v as Record<string, unknown> | null;
  if (e && e.kind === 'browser') return { kind: 'browser' };
  if (e && e.kind === 'after' && isLifetime(e.seconds, 0)) return { kind: 'after', seconds: e.seconds };
  if (e && e.kind === 'at' && isTime(e.time)) return { kind: 'at', time: e.time };
  throw new CorruptSessionError('invalid expiry');
}

function parseStoredTimeouts(v: unknown): SessionTimeouts {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CorruptSessionError('invalid timeouts');
  const t = v as Record<string, unknown>;
  const out: SessionTimeouts = {};
  for (const key of ['idle', 'absolute'] as const) {
    if (t[key] === undefined) continue;
    if (!isLifetime(t[key], 1)) throw new CorruptSessionError(`invalid ${key} timeout`);
    out[key] = t[key] as number;
  }
  return out;
}
