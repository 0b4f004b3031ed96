// How a process that waits for a session's lock tells the process that holds
// it, when that one keeps its locks between requests (a server: see
// stores/keptLocks.ts). A long-running process takes its locks as hard links
// to a holder file of its own (FileLock.ts); the waiter sets that file's
// access time, through the lock's name, and the holder watches it.
import { closeSync, fstatSync, lstatSync, openSync, utimesSync } from 'node:fs';

/**
 * A knock sets a holder file's access time to a moment before this (in
 * January 1970), which no read or touch of the file ever sets: reading a
 * file may move its access time to now (relatime), and must not be taken
 * for a knock.
 */
const KNOCK_BEFORE_MS = 1e9;

/**
 * Tells the holder of a shared lock that a process waits for it: its holder
 * file's access time is set to a time of January 1970 that this knock alone
 * gives (its modification time, which tells other hosts that the holder is
 * alive, is kept). A holder that keeps its locks between requests (see
 * {@link knocksOn}) gives them up when it sees this. A lock that is a
 * symbolic link (a CGI script's, held for one request) is left alone; so is
 * any error (the waiter waits as before).
 */
export function knock(path: string): void {
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st?.isFile() || st.nlink < 2) return;
    // Whole seconds, as every file system keeps them, and not the time the last knock gave.
    let at = 1 + (Math.floor(Date.now() / 1000) % (KNOCK_BEFORE_MS / 1000 - 1));
    if (at * 1000 === st.atimeMs) at = at === 1 ? 2 : at - 1;
    utimesSync(path, at, st.mtime);
  } catch {
    // gone, changed hands, or not ours to touch: the waiter waits as before
  }
}

/** A holder file watched for knocks: open, and its access time as last seen. */
interface Watch {
  fd: number | undefined;
  atime: number | undefined;
  knocks: number;
}

const watches = new Map<string, Watch>();
/** What {@link knocksOn} counts for a process with no holder file. */
let withoutHolder = 0;

/**
 * How many knocks (see {@link knock}) a holder file has had since this
 * process began to watch it: a caller that keeps locks compares it with the
 * count it saw last. The first call starts watching. One `fstat` of the
 * file, which stays open. No holder file (`undefined`: never made, or
 * removed with its directory), or one that cannot be watched, counts as a
 * knock at every call: nothing can be kept on it.
 */
export function knocksOn(holderFile: string | undefined): number {
  if (holderFile === undefined) return ++withoutHolder;
  let watch = watches.get(holderFile);
  if (!watch) watches.set(holderFile, (watch = { fd: undefined, atime: undefined, knocks: 0 }));
  try {
    watch.fd ??= openSync(holderFile, 'r');
    const atime = fstatSync(watch.fd).atimeMs;
    if (watch.atime !== undefined && atime !== watch.atime && atime < KNOCK_BEFORE_MS) watch.knocks++;
    watch.atime = atime;
  } catch {
    watch.knocks++;
  }
  return watch.knocks;
}

/** Stops watching a holder file this process no longer uses. */
export function forgetKnocks(holderFile: string): void {
  const watch = watches.get(holderFile);
  watches.delete(holderFile);
  if (watch?.fd !== undefined) {
    try {
      closeSync(watch.fd);
    } catch {
      // closed already
    }
  }
}
