import { hostname } from 'node:os';
import { asyncFs, type FsOps } from '../../util/fs.js';
import { SessionBusyError } from './SessionBusyError.js';
import type { Release } from './KeyedMutex.js';

const HOST = hostname();
let tokenCounter = 0;
/** A lock of another host is taken as abandoned after this long. */
const FOREIGN_STALE_MS = 60_000;
/** A lock file still empty (being written) or a break guard after this long. */
const EMPTY_STALE_MS = 5_000;

/**
 * A held file lock: calling it releases the lock. {@link FileLock.commit}
 * instead turns the lock file into the new content of `target` (one rename
 * both installs the data atomically and releases the lock).
 */
export interface FileLock extends Release {
  /** Writes `data` into the lock file and renames it onto `target`, releasing the lock. */
  commit(target: string, data: string, fsync: boolean): Promise<void>;
}

/** The lock file is no longer ours (it was judged abandoned and broken). */
export class LockLostError extends Error {
  override name = 'LockLostError';
}

/**
 * A lock shared by processes (concurrent CGI requests): a lock file created
 * with O_CREAT|O_EXCL that holds `pid host token`, kept open while held. Only
 * its owner removes it. A lock whose process has died (same host), or a
 * foreign one older than a minute, is broken under a guard file, so two
 * waiters never break it twice.
 *
 * @example
 * ```ts
 * const release = await acquireFileLock('/tmp/s/pso_x_id.lock', 10_000);
 * try { ... } finally { await release(); }
 * ```
 * @throws SessionBusyError after `timeoutMs`.
 */
export async function acquireFileLock(path: string, timeoutMs: number, ops: FsOps = asyncFs): Promise<FileLock> {
  // Unique among live holders: pid and host name who, hrtime and a counter which.
  const token = `${process.pid} ${HOST} ${process.hrtime.bigint().toString(36)}.${++tokenCounter}`;
  const start = Date.now();
  let delay = 1;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = await ops.open(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        await ops.rewrite(fd, token);
      } catch (e) {
        await ops.close(fd).catch(() => {});
        await ops.unlink(path).catch(() => {});
        throw e;
      }
      return heldLock(ops, path, fd, token);
    }
    await breakIfStale(ops, path);
    const waited = Date.now() - start;
    if (waited >= timeoutMs) throw new SessionBusyError(path, waited);
    await sleep(Math.min(delay, timeoutMs - waited));
    delay = Math.min(delay * 2, 25);
  }
}

function heldLock(ops: FsOps, path: string, fd: number, token: string): FileLock {
  let done = false;
  const release = async () => {
    if (done) return;
    done = true;
    await ops.close(fd).catch(() => {});
    try {
      if ((await ops.readFile(path)) === token) await ops.unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  };
  const commit = async (target: string, data: string, fsync: boolean) => {
    if (done) throw new LockLostError(`lock ${path} was already released`);
    done = true;
    try {
      await ops.rewrite(fd, data);
      if (fsync) await ops.fsync(fd);
      const [mine, there] = await Promise.all([ops.fstat(fd), ops.stat(path).catch(() => undefined)]);
      if (!there || there.ino !== mine.ino || there.dev !== mine.dev) {
        throw new LockLostError(`lock ${path} was broken while held; the session was not saved`);
      }
      await ops.rename(path, target);
    } catch (e) {
      // Not committed: give the lock back rather than leave it to go stale.
      if (!(e instanceof LockLostError)) await ops.unlink(path).catch(() => {});
      throw e;
    } finally {
      await ops.close(fd).catch(() => {});
    }
  };
  return Object.assign(release, { commit });
}

async function breakIfStale(ops: FsOps, path: string): Promise<void> {
  const seen = await describe(ops, path);
  if (!seen || !seen.stale) return;
  const guard = `${path}.break`;
  try {
    await ops.writeFile(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return;
    const g = await ops.stat(guard).catch(() => undefined);
    if (g && Date.now() - g.mtimeMs > EMPTY_STALE_MS) await ops.unlink(guard).catch(() => {});
    return;
  }
  try {
    // Still the same abandoned lock? Then nobody has taken it since we looked.
    const now = await ops.readFile(path).catch(() => undefined);
    if (now === seen.content) await ops.unlink(path).catch(() => {});
  } finally {
    await ops.unlink(guard).catch(() => {});
  }
}

async function describe(ops: FsOps, path: string): Promise<{ content: string; stale: boolean } | undefined> {
  let content: string;
  let mtime: number;
  try {
    [content, mtime] = await Promise.all([ops.readFile(path), ops.stat(path).then((s) => s.mtimeMs)]);
  } catch {
    return undefined;
  }
  const age = Date.now() - mtime;
  const [pidText, host] = content.split(' ');
  const pid = Number(pidText);
  if (!host || !Number.isInteger(pid) || pid <= 0) return { content, stale: age > EMPTY_STALE_MS };
  if (host !== HOST) return { content, stale: age > FOREIGN_STALE_MS };
  return { content, stale: !isAlive(pid) };
}

/** Whether a process with this pid exists (EPERM means it does, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a lock file was abandoned by its owner (used by garbage collection). */
export async function lockIsStale(path: string, ops: FsOps = asyncFs): Promise<boolean> {
  return (await describe(ops, path))?.stale ?? false;
}
