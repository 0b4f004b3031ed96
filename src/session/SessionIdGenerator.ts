import { injectable } from 'inversify';
import { lazyCrypto } from '../util/lazyCrypto.js';

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

/**
 * The default {@link SessionIdGenerator}: 160 bits from `crypto.randomBytes`,
 * base64url-encoded (27 characters).
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
    return lazyCrypto().randomBytes(ID_BYTES).toString('base64url');
  }

  isWellFormed(id: string): boolean {
    return ID_PATTERN.test(id);
  }
}
