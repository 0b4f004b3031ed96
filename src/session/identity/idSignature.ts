import { ConfigurationError } from '../../config/ConfigurationError.js';
import { lazyCrypto } from '../../util/lazyCrypto.js';
import type { SessionRequest } from '../SessionRequest.js';

const SIGNATURE_LENGTH = 43;

/**
 * The secrets of `PSOSessionSecret` (separated by spaces): the first signs,
 * every one verifies, so that keys can be rotated.
 *
 * @throws ConfigurationError when a secret is shorter than 16 characters.
 */
export function readSecrets(request: SessionRequest): string[] {
  const raw = request.getEnviron('PSOSessionSecret');
  if (raw === undefined || raw.trim() === '') return [];
  const secrets = raw.trim().split(/\s+/);
  if (secrets.some((s) => s.length < 16)) {
    throw new ConfigurationError('PSOSessionSecret', '(hidden)', 'each secret must be at least 16 characters long');
  }
  return secrets;
}

/**
 * An id as a cookie or URL carries it: `id.signature` (HMAC-SHA256 over the
 * service id and the id, base64url) with the first secret; the id alone without secrets.
 *
 * @example
 * ```ts
 * signId('shop', 'abc', ['a-secret-of-16-chars']); // 'abc.Xy…'
 * ```
 */
export function signId(serviceId: string, id: string, secrets: readonly string[]): string {
  return secrets.length === 0 ? id : `${id}.${signature(secrets[0]!, serviceId, id)}`;
}

/**
 * The id in what a client sent, and whether it was signed with a secret other
 * than the first (it should be signed again); `undefined` when a signature is
 * required and is missing or wrong (every secret tried, in constant time).
 */
export function verifyId(serviceId: string, value: string, secrets: readonly string[]): { id: string; resign: boolean } | undefined {
  if (secrets.length === 0) return { id: value, resign: false };
  const dot = value.lastIndexOf('.');
  if (dot < 1 || value.length - dot - 1 !== SIGNATURE_LENGTH) return undefined;
  const id = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1));
  const { timingSafeEqual } = lazyCrypto();
  for (const [i, secret] of secrets.entries()) {
    const expected = Buffer.from(signature(secret, serviceId, id));
    if (expected.byteLength === given.byteLength && timingSafeEqual(expected, given)) return { id, resign: i > 0 };
  }
  return undefined;
}

function signature(secret: string, serviceId: string, id: string): string {
  return lazyCrypto().createHmac('sha256', secret).update(`${serviceId}\0${id}`).digest('base64url');
}
