import { linkSync, lstatSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { SessionBusyError } from './SessionBusyError.js';
import { forgetKnocks, knock } from './knocks.js';
import type { Release } from './KeyedMutex.js';
import { isAlive, ownStartTime } from './processLiveness.js';
import { fillRandom } from '../../util/lazyCrypto.js';

export { isAlive } from './processLiveness.js';

const HOST = hostname();
const STARTED = ownStartTime() === undefined ? '' : ` ${ownStartTime()}`;
let tokenCounter = 0;
/** A lock of another host is taken as abandoned after this long. */
const FOREIGN_STALE_MS = 60_000;
/** An unreadable lock, or a break guard, is taken as abandoned after this long. */
const GUARD_STALE_MS = 5_000;
/** The name of a process's holder file (see {@link FileLockOptions.shared}) begins with this. */
export const HOLDER_PREFIX = '.pso-holder-';

/** Options of {@link acquireFileLock} and {@link tryFileLock}. */
export interface FileLockOptions {
  /**
   * Take the lock as a hard link to one file per process and directory (its
   * "holder file", which names the process), instead of a new symbolic link
   * per lock. A link makes no inode, where a symbolic link makes and frees
   * one per lock, which on ext4 costs several times the rest of a request:
   * a long-running process (a server) takes its locks this way. Both kinds
   * exclude each other (one name, created atomically either way), so servers
   * and CGI scripts share a directory.
   */
  shared?: boolean;
}

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
export async function acquireFileLock(path: string, timeoutMs: number, options: FileLockOptions = {}): Promise<FileLock> {
  const start = Date.now();
  let delay = 1;
  for (;;) {
    const held = tryFileLock(path, options);
    if (held) return held;
    knock(path);
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
export function tryFileLock(path: string, options: FileLockOptions = {}): FileLock | undefined {
  if (options.shared) return trySharedLock(path);
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

/** This process's holder file in `dir`, if it has taken a shared lock there: what waiters knock on (see knocks.ts). */
export function holderFileIn(dir: string): string | undefined {
  return holders.get(dir)?.path;
}

/** This process's holder file in each directory it has taken shared locks in. */
const holders = new Map<string, Holder>();

/** A process's holder file in one directory: its name, its content, its inode. */
interface Holder {
  path: string;
  token: string;
  touched: number;
  dev: number;
  ino: number;
}
/**
 * How often a holder file's time is moved forward as its process takes locks,
 * so that a process of another host (which cannot ask whether its holder is
 * alive) sees a shared lock as recent while its holder is at work.
 */
const HOLDER_TOUCH_MS = 10_000;
/** The shared locks this process holds (another request of it waits without a system call). */
const heldHere = new Set<string>();
let removeHoldersOnExit = false;

function trySharedLock(path: string): FileLock | undefined {
  if (heldHere.has(path)) return undefined;
  const dir = dirname(path);
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = holderIn(dir);
    try {
      linkSync(holder.path, path);
      heldHere.add(path);
      const now = Date.now();
      if (now - holder.touched > HOLDER_TOUCH_MS) {
        holder.touched = now;
        utimesSync(holder.path, now / 1000, now / 1000);
      }
      return sharedLock(path, holder);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // The holder file was removed (by hand, or a sweep that judged it wrongly): make another.
      if (code === 'ENOENT') {
        forgetHolder(dir);
        continue;
      }
      if (code !== 'EEXIST') throw e;
    }
    if (!breakIfStale(path)) return undefined;
  }
  return undefined;
}

function holderIn(dir: string): Holder {
  let holder = holders.get(dir);
  if (holder) return holder;
  const tag = fillRandom(Buffer.alloc(6)).toString('hex');
  const token = `${process.pid} ${HOST} ${tag}${STARTED}`;
  const path = join(dir, `${HOLDER_PREFIX}${process.pid}-${tag}`);
  writeFileSync(path, token, { flag: 'wx', mode: 0o600 });
  const { dev, ino } = lstatSync(path);
  holder = { path, token, touched: Date.now(), dev, ino };
  holders.set(dir, holder);
  if (!removeHoldersOnExit) {
    removeHoldersOnExit = true;
    // One killed outright leaves its holder file: a sweep removes it once its process is gone.
    process.once('exit', () => {
      // The locks it still holds (kept between requests) go first: a waiter need not judge it gone.
      for (const path of heldHere) unlinkQuietly(path);
      for (const h of holders.values()) unlinkQuietly(h.path);
    });
  }
  return holder;
}

function forgetHolder(dir: string): void {
  const holder = holders.get(dir);
  holders.delete(dir);
  if (holder) forgetKnocks(holder.path);
}

/**
 * A shared lock held: a link to this process's holder file, which is ours
 * while the name still leads to the holder's inode (one `lstat`, where
 * reading the owner back would take four calls).
 */
function sharedLock(path: string, holder: Holder): FileLock {
  let done = false;
  const ours = () => {
    const st = lstatSync(path, { throwIfNoEntry: false });
    return st !== undefined && st.ino === holder.ino && st.dev === holder.dev;
  };
  const stillHeld = () => !done && ours();
  const release = async () => {
    if (done) return;
    done = true;
    try {
      if (ours()) unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    } finally {
      heldHere.delete(path);
    }
  };
  return Object.assign(release, { stillHeld });
}

/**
 * Whether a holder file (see {@link FileLockOptions.shared}) was left by a
 * process of this host that is gone, or is unreadable and old: a sweep
 * removes it (a lock linked to it is judged on its own).
 */
export function holderIsAbandoned(path: string): boolean {
  let owner: string;
  try {
    owner = readFileSync(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? false : ageOf(path) > GUARD_STALE_MS;
  }
  const [pidText, host, , started] = owner.split(' ');
  const pid = Number(pidText);
  if (!host || !Number.isInteger(pid) || pid <= 0) return ageOf(path) > GUARD_STALE_MS;
  return host === HOST && !isAlive(pid, started);
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

/** Breaks an abandoned lock; whether it did (or the lock was already gone, or changed hands): worth another try. */
function breakIfStale(path: string): boolean {
  return breakAbandoned(path) !== 'held';
}

/**
 * Removes a lock whose holder is gone (see {@link lockIsStale}), as a waiter
 * would break it: under the break guard, and only if it is still that
 * holder's lock. A sweep must not judge first and remove later: in between,
 * a waiter may break the lock and take it, and the sweep would then remove
 * a live holder's lock, letting a second holder in.
 *
 * @returns whether it removed the lock.
 * @example
 * ```ts
 * if (removeAbandonedLock('/var/lib/pso/sessions/pso_shop_x.lock')) removed++;
 * ```
 */
export function removeAbandonedLock(path: string): boolean {
  return breakAbandoned(path) === 'broken';
}

function breakAbandoned(path: string): 'broken' | 'gone' | 'held' {
  const seen = describe(path);
  if (!seen) return 'gone';
  if (!seen.stale) return 'held';
  const guard = `${path}.break`;
  try {
    writeFileSync(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return 'held';
    const g = lstatOrUndefined(guard);
    if (g && Date.now() - g.mtimeMs > GUARD_STALE_MS) unlinkQuietly(guard);
    return 'held';
  }
  try {
    // Still the same abandoned lock? Then nobody has taken it since (it exists until unlinked, and only
    // one who holds the guard unlinks another's lock), and the check and the unlink are one synchronous step.
    if (ownerOf(path) !== seen.owner) return 'gone';
    unlinkQuietly(path);
    return 'broken';
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
  const age = () => ageOf(path);
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

/**
 * How long ago a lock was made (a shared lock: how long ago its holder last
 * took a lock, to within {@link HOLDER_TOUCH_MS}: its inode is the holder file's).
 */
function ageOf(path: string): number {
  const st = lstatOrUndefined(path);
  return st ? Date.now() - st.mtimeMs : 0;
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
