import { lstatSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { SessionBusyError } from './SessionBusyError.js';
import type { Release } from './KeyedMutex.js';
import { isAlive, ownStartTime } from './processLiveness.js';

export { isAlive } from './processLiveness.js';

const HOST = hostname();
const STARTED = ownStartTime() === undefined ? '' : ` ${ownStartTime()}`;
let tokenCounter = 0;
/** A lock of another host is taken as abandoned after this long. */
const FOREIGN_STALE_MS = 60_000;
/** An unreadable lock, or a break guard, is taken as abandoned after this long. */
const GUARD_STALE_MS = 5_000;

/** A held file lock: calling it releases the lock. */
export interface FileLock extends Release {
  /** Whether the lock is still this holder's (it is broken only if judged abandoned). */
  stillHeld(): boolean;
}

/** The lock is no longer ours (it was judged abandoned and broken). */
export class LockLostError extends Error {
  override name = 'LockLostError';
}

/**
 * A lock shared by every process on the machine (and on a shared file
 * system): a symbolic link whose target, `pid host token started`, names its
 * holder (`started`, the process's start time where the system tells it, so
 * that a pid given to another process since is not taken for the holder).
 * Creating a link is one atomic system call that fails when the name exists,
 * and its target is written with it, so a lock is never seen half made. Only
 * its holder removes it; one left by a process that has died (on this host;
 * a zombie counts as dead),
 * or a foreign one older than a minute, is broken under a guard file, so that
 * two waiters never break it twice.
 *
 * The calls are synchronous: each is one short system call on a directory's
 * entries, cheaper than a trip through the thread pool.
 *
 * @example
 * ```ts
 * const release = await acquireFileLock('/var/lib/pso/sessions/pso_shop_x.lock', 10_000);
 * try { ... } finally { await release(); }
 * ```
 * @throws SessionBusyError after `timeoutMs`.
 */
export async function acquireFileLock(path: string, timeoutMs: number): Promise<FileLock> {
  const start = Date.now();
  let delay = 1;
  for (;;) {
    const held = tryFileLock(path);
    if (held) return held;
    const waited = Date.now() - start;
    if (waited >= timeoutMs) throw new SessionBusyError(`lock ${shortPath(path)}`, waited);
    await new Promise((r) => setTimeout(r, Math.min(delay, timeoutMs - waited)));
    delay = Math.min(delay * 2, 25);
  }
}

/**
 * Takes the lock if it is free (or abandoned, and then broken), without waiting.
 *
 * @throws the file system's error for anything but a lock held by someone else.
 */
export function tryFileLock(path: string): FileLock | undefined {
  // Unique among live holders: pid, host name and start time who, hrtime and a counter which.
  const token = `${process.pid} ${HOST} ${process.hrtime.bigint().toString(36)}.${++tokenCounter}${STARTED}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      symlinkSync(token, path);
      return heldLock(path, token);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // Held: by a live holder, or by one that is gone, whose lock is broken and tried again once.
    if (!breakIfStale(path)) return undefined;
  }
  return undefined;
}

function heldLock(path: string, token: string): FileLock {
  let done = false;
  const stillHeld = () => !done && ownerOf(path) === token;
  const release = async () => {
    if (done) return;
    const mine = ownerOf(path) === token;
    done = true;
    if (!mine) return;
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  };
  return Object.assign(release, { stillHeld });
}

/**
 * Who holds a lock: a link's target, or the content of a lock file made by
 * an earlier version of pso; `undefined` when there is no lock.
 */
function ownerOf(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EINVAL') throw e;
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Breaks an abandoned lock; whether it did (or the lock was already gone). */
function breakIfStale(path: string): boolean {
  const seen = describe(path);
  if (!seen) return true;
  if (!seen.stale) return false;
  const guard = `${path}.break`;
  try {
    writeFileSync(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
    const g = lstatOrUndefined(guard);
    if (g && Date.now() - g.mtimeMs > GUARD_STALE_MS) unlinkQuietly(guard);
    return false;
  }
  try {
    // Still the same abandoned lock? Nobody can have taken it since: it exists until unlinked.
    if (ownerOf(path) === seen.owner) unlinkQuietly(path);
    return true;
  } finally {
    unlinkQuietly(guard);
  }
}

function describe(path: string): { owner: string; stale: boolean } | undefined {
  let owner: string | undefined;
  try {
    owner = ownerOf(path);
  } catch {
    return undefined;
  }
  if (owner === undefined) return undefined;
  const [pidText, host, , started] = owner.split(' ');
  const pid = Number(pidText);
  const age = () => Date.now() - (lstatOrUndefined(path)?.mtimeMs ?? Date.now());
  if (!host || !Number.isInteger(pid) || pid <= 0) return { owner, stale: age() > GUARD_STALE_MS };
  if (host !== HOST) return { owner, stale: age() > FOREIGN_STALE_MS };
  return { owner, stale: !isAlive(pid, started) };
}

/** Whether a lock was abandoned by its holder (used by garbage collection). */
export function lockIsStale(path: string): boolean {
  return describe(path)?.stale ?? false;
}

/** A lock's file name without its directory, for messages: the name holds a hash, never a session id. */
function shortPath(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
