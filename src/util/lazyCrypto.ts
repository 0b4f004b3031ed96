import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

let crypto: typeof import('node:crypto') | undefined;

/**
 * node:crypto, loaded on first use. Loading it costs a CGI process about two
 * milliseconds, and a returning visitor's request never needs it.
 */
export function lazyCrypto(): typeof import('node:crypto') {
  return (crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}

const URANDOM = '/dev/urandom';
/** The kernel's generator, while it may still be read (undefined once it could not be). */
let urandom: string | undefined = process.platform === 'win32' ? undefined : URANDOM;

/**
 * Fills `buffer` with bytes from the system's secure random source and
 * returns it. Once node:crypto is loaded, its `randomFillSync`; until then,
 * the kernel's generator read through /dev/urandom, so that a CGI request
 * that makes a new session id does not load node:crypto for it (about
 * 3 ms of a 40 ms request: the module and the stream modules it needs).
 * Where /dev/urandom cannot be read (not Linux or a BSD, a chroot without
 * it), node:crypto.
 */
export function fillRandom(buffer: Buffer): Buffer {
  if (crypto || !urandom) return lazyCrypto().randomFillSync(buffer);
  let fd: number | undefined;
  try {
    fd = openSync(urandom, 'r');
    let filled = 0;
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n <= 0) throw new Error(`${urandom} gave no bytes`);
      filled += n;
    }
    return buffer;
  } catch {
    urandom = undefined;
    return lazyCrypto().randomFillSync(buffer);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Sets where {@link fillRandom} reads before node:crypto is loaded (tests: a path that fails). */
export function useRandomDeviceForTests(path: string): void {
  urandom = path;
}
