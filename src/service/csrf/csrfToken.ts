import { lazyCrypto } from '../../util/lazyCrypto.js';

const SECRET_BYTES = 24;
/** A token: a random pad and the session's secret masked with it, base64url (48 bytes, 64 characters). */
const TOKEN = /^[A-Za-z0-9_-]{64}$/;

/**
 * The session's CSRF secret: an HMAC of a fixed label keyed by the session
 * id. It changes with the id (`regenerate()` on login, `destroy()`), is
 * never stored, and gives nothing of the id away; the store key (a SHA-256
 * of the id) gives nothing of it either.
 */
function secretOf(sessionId: string): Buffer {
  return lazyCrypto().createHmac('sha256', sessionId).update('pso csrf token v1').digest().subarray(0, SECRET_BYTES);
}

/**
 * A CSRF token for the session `sessionId`: a fresh random mask each time
 * (so a page's tokens differ and compression leaks nothing, BREACH), all
 * valid for the session.
 *
 * @example
 * ```ts
 * const token = makeCsrfToken(session.id);
 * csrfTokenMatches(token, session.id); // 'ok'
 * ```
 */
export function makeCsrfToken(sessionId: string): string {
  const { randomBytes } = lazyCrypto();
  const secret = secretOf(sessionId);
  const pad = randomBytes(SECRET_BYTES);
  const masked = Buffer.alloc(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) masked[i] = pad[i]! ^ secret[i]!;
  return Buffer.concat([pad, masked]).toString('base64url');
}

/**
 * Whether `token` is one of the session's: `'ok'`, `'malformed'` (not a
 * token pso makes) or `'mismatch'` (another session's, or forged). Compared in constant time.
 *
 * @example
 * ```ts
 * csrfTokenMatches(request.getInput('csrf', ''), request.session.id);
 * ```
 */
export function csrfTokenMatches(token: string, sessionId: string): 'ok' | 'malformed' | 'mismatch' {
  if (!TOKEN.test(token)) return 'malformed';
  const raw = Buffer.from(token, 'base64url');
  const given = Buffer.alloc(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) given[i] = raw[i]! ^ raw[SECRET_BYTES + i]!;
  return lazyCrypto().timingSafeEqual(given, secretOf(sessionId)) ? 'ok' : 'mismatch';
}
