import { hostname } from 'node:os';
import { readFile, stat, unlink, writeFile } from '../../util/fs.js';
import { SessionBusyError } from './SessionBusyError.js';
import type { Release } from './KeyedMutex.js';

const HOST = hostname();
let tokenCounter = 0;
/** A lock of another host is taken as abandoned after this long. */
const FOREIGN_STALE_MS = 60_000;
/** A lock file still empty (being written) or a break guard after this long. */
const EMPTY_STALE_MS = 5_000;

/**
 * A lock shared by processes (concurrent CGI requests): a lock file created
 * with O_CREAT|O_EXCL that holds `pid host token`. Only its owner removes it.
 * A lock whose process has died (same host), or a foreign one older than a
 * minute, is broken under a guard file, so two waiters never break it twice.
 *
 * @example
 * ```ts
 * const release = await acquireFileLock('/tmp/s/pso_x_id.lock', 10_000);
 * try { ... } finally { await release(); }
 * ```
 * @throws SessionBusyError after `timeoutMs`.
 */
export async function acquireFileLock(path: string, timeoutMs: number): Promise<Release> {
  // Unique among live holders: pid and host name who, hrtime and a counter which.
  const token = `${process.pid} ${HOST} ${process.hrtime.bigint().toString(36)}.${++tokenCounter}`;
  const start = Date.now();
  let delay = 1;
  for (;;) {
    try {
      await writeFile(path, token, { flag: 'wx', mode: 0o600 });
      return releaser(path, token);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await breakIfStale(path);
    const waited = Date.now() - start;
    if (waited >= timeoutMs) throw new SessionBusyError(path, waited);
    await sleep(Math.min(delay, timeoutMs - waited));
    delay = Math.min(delay * 2, 25);
  }
}

function releaser(path: string, token: string): Release {
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    try {
      if ((await readFile(path)) === token) await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  };
}

async function breakIfStale(path: string): Promise<void> {
  const seen = await describe(path);
  if (!seen || !seen.stale) return;
  const guard = `${path}.break`;
  try {
    await writeFile(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return;
    const g = await stat(guard).catch(() => undefined);
    if (g && Date.now() - g.mtimeMs > EMPTY_STALE_MS) await unlink(guard).catch(() => {});
    return;
  }
  try {
    // Still the same abandoned lock? Then nobody has taken it since we looked.
    const now = await readFile(path).catch(() => undefined);
    if (now === seen.content) await unlink(path).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

async function describe(path: string): Promise<{ content: string; stale: boolean } | undefined> {
  let content: string;
  let mtime: number;
  try {
    [content, mtime] = await Promise.all([readFile(path), stat(path).then((s) => s.mtimeMs)]);
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
export async function lockIsStale(path: string): Promise<boolean> {
  return (await describe(path))?.stale ?? false;
}
