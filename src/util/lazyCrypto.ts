import { createRequire } from 'node:module';

let crypto: typeof import('node:crypto') | undefined;

/**
 * node:crypto, loaded on first use. Loading it costs a CGI process about two
 * milliseconds, and a returning visitor's request never needs it.
 */
export function lazyCrypto(): typeof import('node:crypto') {
  return (crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}
