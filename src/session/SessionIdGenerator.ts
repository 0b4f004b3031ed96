import { injectable } from 'inversify';
import { fillRandom } from '../util/lazyCrypto.js';

/**
 * Makes and recognises session ids. Bind your own under
 * `TOKENS.SessionIdGenerator` to change the format; ids must stay
 * unguessable and must never contain `/`, `.` or other path characters.
 */
export interface SessionIdGenerator {
  /** A new, unguessable id. */
  generate(): string;
  /** Whether `id` has the exact shape of an id this generator makes. */
  isWellFormed(id: string): boolean;
}

const ID_BYTES = 20;
const ID_PATTERN = /^[A-Za-z0-9_-]{27}$/;
/** Ids drawn from one call to the system's random source (one call per id costs more than the id). */
const POOL_IDS = 128;
let pool: Buffer | undefined;
let offset = 0;

/** `ID_BYTES` fresh random bytes, each handed out once. */
function randomId(): string {
  if (!pool || offset + ID_BYTES > pool.length) {
    pool = fillRandom(Buffer.allocUnsafe(ID_BYTES * POOL_IDS));
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  // Wiped once used: a copy of the process's memory shows no id handed out before.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

/**
 * The default {@link SessionIdGenerator}: 160 bits from the system's secure
 * random source (/dev/urandom, or `crypto.randomFillSync` once node:crypto is
 * loaded: see `fillRandom`), drawn for many ids at a time, base64url-encoded
 * (27 characters).
 *
 * @example
 * ```ts
 * const ids = new RandomSessionIdGenerator();
 * ids.generate();               // 'q3Jx0cW1b9tF0w6hXy7C2pDq4aVb5nM'
 * ids.isWellFormed('../etc');   // false
 * ```
 */
@injectable()
export class RandomSessionIdGenerator implements SessionIdGenerator {
  generate(): string {
    return randomId();
  }

  isWellFormed(id: string): boolean {
    return ID_PATTERN.test(id);
  }
}
