/**
 * Directive values as pso reads them, for tools and tests (`pso-ts/config`):
 * the `PSOSessionExpire` arithmetic, HTTP dates, strptime-style formats and
 * the typed readers of directives.
 *
 * @example
 * ```ts
 * import { parseExpiry } from 'pso-ts/config';
 * parseExpiry('15*60', 'PSOSessionExpire'); // { kind: 'after', seconds: 900 }
 * ```
 * @module
 */
export { parseExpiry, parseSeconds, MAX_LIFETIME_SECONDS, type Expiry } from './expiry.js';
export { evaluateArithmetic } from './arithmetic.js';
export { parseDateWithFormat, DateFormatError } from './strptime.js';
export { parseHttpDate, formatHttpDate } from './httpDate.js';
export { readExpiry, readSeconds, readOptionalSeconds, readFlag, parseFlag, readChoice, readBytes, readProbability, withDefaults } from './directives.js';
export { DirectiveIndex, directiveKey } from './DirectiveIndex.js';
export { DEFAULT_IDLE_SECONDS, DEFAULT_LOCK_TIMEOUT_SECONDS, DEFAULT_STORE_TIMEOUT_SECONDS } from './defaults.js';
