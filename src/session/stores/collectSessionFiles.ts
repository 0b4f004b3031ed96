import { join } from 'node:path';
import { DEFAULT_IDLE_SECONDS } from '../../config/defaults.js';
import { asyncFs, type FsOps } from '../../util/fs.js';
import { HOLDER_PREFIX, holderIsAbandoned, removeAbandonedLock, tryFileLock } from '../locks/FileLock.js';
import { HOLD, LOCK, PREFIX, SPARE, SUFFIX, TMP_STALE_MS, sessionFileOf } from './fileLayout.js';
import { readSessionFile } from './slotFile.js';
import { collectUserEntries } from './users/FileUserIndex.js';

/** Options of {@link collectSessionFiles}. */
export interface CollectOptions {
  /** The time to compare expiries with (default: now). */
  now?: number;
  /** Unreadable session files are deleted once untouched this long. */
  corruptAfterMs?: number;
  /** Stop after this long (a CGI request should not linger). */
  budgetMs?: number;
  /** The file operations to use (default: asynchronous). */
  fs?: FsOps;
}

/**
 * Deletes the expired session files in `dir`, temporary files left by
 * crashes, and abandoned locks. A session is deleted only under its lock
 * (one held by a request is left for the next sweep), so a sweep never
 * deletes a session another process is writing. Used by `pso gc` and, now and
 * then, by requests.
 *
 * @returns how many files were deleted.
 * @example
 * ```ts
 * await collectSessionFiles('/var/lib/pso/sessions');
 * ```
 */
export async function collectSessionFiles(dir: string, options: CollectOptions = {}): Promise<number> {
  const ops = options.fs ?? asyncFs;
  const now = options.now ?? Date.now();
  const corruptAfter = options.corruptAfterMs ?? DEFAULT_IDLE_SECONDS * 1000;
  const deadline = Date.now() + (options.budgetMs ?? Infinity);
  let names: string[];
  try {
    names = await ops.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  // The index of users' sessions first: entries of expired sessions go while their files still say so.
  let removed = await collectUserEntries(dir, { ops, now, deadline, sessionFile: (key) => sessionFileOf(dir, key) });
  for (const name of names) {
    if (Date.now() > deadline) break;
    const file = join(dir, name);
    try {
      if (name.startsWith(PREFIX) && name.endsWith(SUFFIX)) {
        removed += await underLock(file.slice(0, -SUFFIX.length), async () => {
          let expired: boolean;
          try {
            expired = (await readSessionFile(ops, file)).expires <= now;
          } catch {
            expired = now - (await ops.stat(file)).mtimeMs > corruptAfter;
          }
          if (!expired) return 0;
          await ops.unlink(file);
          await ops.unlink(`${file.slice(0, -SUFFIX.length)}${SPARE}`).catch(() => {});
          return 1;
        });
      } else if (name.startsWith(PREFIX) && name.endsWith(SPARE)) {
        // An older version, kept for reuse: useless once its session is gone.
        const base = file.slice(0, -SPARE.length);
        removed += await underLock(base, async () => {
          const gone = await ops.stat(`${base}${SUFFIX}`).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
          if (!gone || now - (await ops.stat(file)).mtimeMs <= TMP_STALE_MS / 60) return 0;
          await ops.unlink(file);
          return 1;
        });
      } else if ((name.startsWith(`.${PREFIX}`) && name.endsWith('.tmp')) || (name.startsWith(PREFIX) && (name.endsWith(HOLD) || name.endsWith(`${LOCK}.break`)))) {
        if (now - (await ops.lstat(file)).mtimeMs > TMP_STALE_MS) {
          await ops.unlink(file);
          removed++;
        }
      } else if (name.startsWith(PREFIX) && name.endsWith(LOCK)) {
        // As a waiter breaks one, not judged now and removed later: by then a request may hold it.
        if (removeAbandonedLock(file)) removed++;
      } else if (name.startsWith(HOLDER_PREFIX)) {
        if (holderIsAbandoned(file)) {
          await ops.unlink(file);
          removed++;
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return removed;
}

/** Runs `work` holding the lock of the session at `base` if it is free; 0 when it is not. */
async function underLock(base: string, work: () => Promise<number>): Promise<number> {
  const lock = tryFileLock(`${base}${LOCK}`);
  if (!lock) return 0;
  try {
    return await work();
  } finally {
    await lock();
  }
}
