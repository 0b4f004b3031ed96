import { join } from 'node:path';

// How the file store lays a session out in its directory. `pso_<service id>_<key>.json`
// is the session; beside it, the names below. The store and its sweep
// (collectSessionFiles) read the same names from here.

/** The start of every file name of a session. */
export const PREFIX = 'pso_';
/** The current version of a session. */
export const SUFFIX = '.json';
/** The file the next version of a session is written to. */
export const SPARE = '.spare';
/** The current version's second name while the spare is renamed over it. */
export const HOLD = '.hold';
/** The lock of a session, beside its file. */
export const LOCK = '.lock';
/** Temporary files older than this are leftovers of a crash. */
export const TMP_STALE_MS = 3600_000;
/** What a key may name: a service id (a cookie name without `/`) and a session id or its hash. */
const KEY = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}):([A-Za-z0-9_~-]{1,128})$/;

/**
 * The file of a session key in `dir`, built only from a validated key.
 *
 * @throws Error for a key no session can have (never built from client input).
 * @example
 * ```ts
 * sessionFileOf('/var/lib/pso', 'quick:~abc'); // '/var/lib/pso/pso_quick_~abc.json'
 * ```
 */
export function sessionFileOf(dir: string, key: string): string {
  const m = KEY.exec(key);
  if (!m) throw new Error(`refusing a session key that cannot name a file: ${JSON.stringify(key.slice(0, 80))}`);
  return join(dir, `${PREFIX}${m[1]}_${m[2]}${SUFFIX}`);
}

