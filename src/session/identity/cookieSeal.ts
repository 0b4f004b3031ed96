import { ConfigurationError } from '../../config/ConfigurationError.js';
import { lazyCrypto } from '../../util/lazyCrypto.js';

/** The format's first byte. */
const VERSION = 1;
const KID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const INFO = 'pso cookie store v1';
/** Shortest key taken: a passphrase this long, or random bytes written out, carries enough to derive a 256-bit key. */
export const MIN_KEY_CHARS = 32;

/** A key of the cookie store: the AES-256 key derived from a configured secret, and its short id. */
export interface CookieKey {
  readonly kid: Buffer;
  readonly key: Buffer;
}

const derived = new Map<string, CookieKey[]>();

/**
 * The keys of the cookie store from their secrets (`PSOSessionCookieKeys`,
 * separated by spaces): the first seals, every one opens. Each AES-256 key
 * is derived from its secret with HKDF-SHA256.
 *
 * @throws ConfigurationError naming `PSOSessionCookieKeys` when there is none or one is shorter than 32 characters.
 * @example
 * ```ts
 * const keys = cookieKeys(['a-new-secret-of-32-characters-or-more', 'the-old-one-kept-until-its-cookies-expire']);
 * ```
 */
export function cookieKeys(secrets: readonly string[], source = 'PSOSessionCookieKeys'): CookieKey[] {
  const cacheKey = secrets.join('\0');
  const known = derived.get(cacheKey);
  if (known) return known;
  if (secrets.length === 0) {
    throw new ConfigurationError(source, undefined, `the cookie store seals sessions with a key: give one of at least ${MIN_KEY_CHARS} characters (e.g. from openssl rand -base64 33), more separated by spaces to rotate them`);
  }
  if (secrets.some((s) => s.length < MIN_KEY_CHARS)) throw new ConfigurationError(source, '(hidden)', `each key must be at least ${MIN_KEY_CHARS} characters long`);
  const crypto = lazyCrypto();
  const keys = secrets.map((secret) => {
    const key = Buffer.from(crypto.hkdfSync('sha256', secret, '', INFO, 32));
    return { key, kid: crypto.createHash('sha256').update(key).digest().subarray(0, KID_BYTES) };
  });
  if (derived.size > 16) derived.clear();
  derived.set(cacheKey, keys);
  return keys;
}

/**
 * Seals `text` with the first key (AES-256-GCM, a random 96-bit IV), bound
 * to `context` (authenticated, not stored: a value sealed for one cookie
 * does not open as another's). The result is base64url:
 * version, key id, IV, ciphertext, tag.
 *
 * @example
 * ```ts
 * const value = sealText(keys, 'pso cookie\0shop', 'hello');
 * openText(keys, 'pso cookie\0shop', value); // { text: 'hello', older: false }
 * ```
 */
export function sealText(keys: readonly CookieKey[], context: string, text: string): string {
  const crypto = lazyCrypto();
  const { key, kid } = keys[0]!;
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), kid, iv, body, cipher.getAuthTag()]).toString('base64url');
}

/**
 * Opens what {@link sealText} sealed, with the key its id names; `undefined`
 * when no key has that id (one rotated out), or the value was altered,
 * truncated or sealed for another context. `older` says it was sealed with
 * a key other than the first (it should be sealed again).
 */
export function openText(keys: readonly CookieKey[], context: string, value: string): { text: string; older: boolean } | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  if (bytes.length < 1 + KID_BYTES + IV_BYTES + TAG_BYTES || bytes[0] !== VERSION) return undefined;
  const kid = bytes.subarray(1, 1 + KID_BYTES);
  const at = keys.findIndex((k) => k.kid.equals(kid));
  const found = keys[at];
  if (!found) return undefined;
  const ivAt = 1 + KID_BYTES;
  try {
    const decipher = lazyCrypto().createDecipheriv('aes-256-gcm', found.key, bytes.subarray(ivAt, ivAt + IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const text = Buffer.concat([decipher.update(bytes.subarray(ivAt + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    return { text, older: at > 0 };
  } catch {
    return undefined;
  }
}
