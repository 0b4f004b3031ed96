import { lazyCrypto } from '../../util/lazyCrypto.js';

const INFO = 'pso forward v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The new id of a regenerated session, sealed with its old one (AES-256-GCM,
 * the key derived from the old id with HKDF-SHA256): what the record left
 * under the old id keeps for the grace period. Only a request presenting the
 * old id can open it; a copy of the store (whose keys are hashes of ids)
 * gives no live id.
 *
 * @example
 * ```ts
 * const sealed = sealForward(oldId, newId);
 * openForward(oldId, sealed); // newId
 * ```
 */
export function sealForward(oldId: string, newId: string): string {
  const crypto = lazyCrypto();
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', keyOf(oldId), iv);
  const body = Buffer.concat([cipher.update(newId, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The id sealed by {@link sealForward} with `oldId`, or `undefined` when it does not open (another id, altered). */
export function openForward(oldId: string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = lazyCrypto().createDecipheriv('aes-256-gcm', keyOf(oldId), bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

function keyOf(oldId: string): Buffer {
  return Buffer.from(lazyCrypto().hkdfSync('sha256', oldId, '', INFO, 32));
}
