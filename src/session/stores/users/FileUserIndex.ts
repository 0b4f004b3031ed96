import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FsOps } from '../../../util/fs.js';
import { sha256 } from '../../../util/sha256.js';
import { acquireFileLock } from '../../locks/FileLock.js';
import { CorruptSessionError, type SessionRecord } from '../../SessionRecord.js';
import { readSessionFile } from '../slotFile.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

/** The directory of the index, beside the session files. */
export const USERS_DIR = 'users';
/** An owner's generation, and its lock. */
const GEN = 'gen';
/** An entry: `k_<session key>`, holding the time it lapses. */
const ENTRY = 'k_';
/** How long a revocation waits for another one of the same user. */
const GEN_LOCK_MS = 10_000;

/** What {@link FileUserIndex} needs of its {@link FileStore}. */
export interface FileIndexHost {
  readonly directory: string;
  readonly ops: FsOps;
  readonly fsync: boolean;
  /** The session directory made and checked. */
  ready(): Promise<void>;
  get(key: string): Promise<SessionRecord | undefined>;
  /** The file of a session key. */
  fileOf(key: string): string;
  /** Deletes a session unless a request holds its lock (that one dies by its generation). */
  destroyUnlessBusy(key: string): Promise<void>;
}

/**
 * The index of users' sessions of a {@link FileStore}: a directory `users/`
 * beside the session files, one directory per user (named by a hash of
 * `<service id>:<user id>`) holding a file per session (`k_<key>`, the time
 * its entry lapses) and the user's generation (`gen`, written under a lock
 * file, `gen.lock`). Every file is created whole and renamed into place.
 *
 * @example
 * ```ts
 * const store = new FileStore('/var/lib/pso/sessions');
 * await store.users.sessions('app:ada');
 * ```
 */
export class FileUserIndex implements UserIndex {
  readonly #host: FileIndexHost;

  constructor(host: FileIndexHost) {
    this.#host = host;
  }

  /** The directory of an owner's entries. */
  ownerDirectory(owner: string): string {
    return join(this.#host.directory, USERS_DIR, sha256(owner));
  }

  async generation(owner: string): Promise<number> {
    await this.#host.ready();
    return readGeneration(this.#host.ops, this.ownerDirectory(owner));
  }

  async add(owner: string, key: string, until: number): Promise<void> {
    await this.#host.ready();
    const dir = this.ownerDirectory(owner);
    // A sweep may remove the directory between the two steps: make it again once.
    for (let attempt = 0; ; attempt++) {
      await this.#host.ops.mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return await this.#replace(dir, `${ENTRY}${key}`, String(Math.round(until)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw e;
      }
    }
  }

  async remove(owner: string, key: string): Promise<void> {
    await this.#host.ready();
    await unlinkQuietly(this.#host.ops, join(this.ownerDirectory(owner), `${ENTRY}${key}`));
  }

  async sessions(owner: string): Promise<IndexedSession[]> {
    await this.#host.ready();
    const dir = this.ownerDirectory(owner);
    const now = Date.now();
    const out: IndexedSession[] = [];
    for (const [key, until] of await readEntries(this.#host.ops, dir)) {
      if (until <= now) continue;
      let record: SessionRecord | undefined;
      try {
        record = await this.#host.get(key);
      } catch (e) {
        if (e instanceof CorruptSessionError) continue;
        throw e;
      }
      if (record) out.push({ key, record });
    }
    return out;
  }

  async revoke(owner: string, keep: readonly string[]): Promise<number> {
    await this.#host.ready();
    const { ops } = this.#host;
    const dir = this.ownerDirectory(owner);
    await ops.mkdir(dir, { recursive: true, mode: 0o700 });
    const release = await acquireFileLock(join(dir, `${GEN}.lock`), GEN_LOCK_MS);
    let gen: number;
    try {
      gen = (await readGeneration(ops, dir)) + 1;
      await this.#replace(dir, GEN, String(gen));
    } finally {
      await release();
    }
    for (const [key] of await readEntries(ops, dir)) {
      if (keep.includes(key)) continue;
      await this.#host.destroyUnlessBusy(key);
      await unlinkQuietly(ops, join(dir, `${ENTRY}${key}`));
    }
    return gen;
  }

  async gc(): Promise<number> {
    await this.#host.ready();
    return collectUserEntries(this.#host.directory, { ops: this.#host.ops, sessionFile: (key) => this.#host.fileOf(key) });
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    await this.#host.ready();
    return (await readEntries(this.#host.ops, this.ownerDirectory(owner))).map(([key, until]) => ({ key, until })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Writes `name` in `dir` whole: a temporary file renamed over it. */
  async #replace(dir: string, name: string, text: string): Promise<void> {
    const { ops } = this.#host;
    const tmp = join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const fd = await ops.open(tmp, 'wx', 0o600);
    try {
      await ops.rewrite(fd, text);
      if (this.#host.fsync) await ops.fsync(fd);
    } finally {
      await ops.close(fd);
    }
    try {
      await ops.rename(tmp, join(dir, name));
    } catch (e) {
      await unlinkQuietly(ops, tmp);
      throw e;
    }
  }
}

/** How {@link collectUserEntries} works. */
export interface CollectEntriesOptions {
  ops: FsOps;
  /** The file of a session key (an entry whose session file says it has expired goes). */
  sessionFile(key: string): string;
  now?: number;
  /** Stop after this time (ms since the epoch). */
  deadline?: number;
}

/**
 * Deletes the entries of the index under `dir` (a session directory) that
 * have lapsed or whose session has expired (run it before the sessions are
 * collected, while their files still say so), temporary files left by
 * crashes, and the directories of users left with nothing (a user whose
 * sessions were revoked keeps its generation). An entry whose session file
 * is not there yet is kept: a login lists its session just before writing it.
 *
 * @returns how many entries were deleted.
 */
export async function collectUserEntries(dir: string, options: CollectEntriesOptions): Promise<number> {
  const { ops, now = Date.now(), deadline = Infinity } = options;
  const root = join(dir, USERS_DIR);
  let owners: string[];
  try {
    owners = await ops.readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return 0;
    throw e;
  }
  let removed = 0;
  for (const owner of owners) {
    if (Date.now() > deadline) break;
    const ownerDir = join(root, owner);
    let names: string[];
    try {
      names = await ops.readdir(ownerDir);
    } catch {
      continue;
    }
    let left = 0;
    for (const name of names) {
      const file = join(ownerDir, name);
      if (name.startsWith(ENTRY)) {
        const until = await readUntil(ops, file);
        if (until !== undefined && until > now && !(await sessionExpired(ops, options.sessionFile, name.slice(ENTRY.length), now))) {
          left++;
          continue;
        }
        if (await unlinkQuietly(ops, file)) removed++;
      } else if (name.startsWith('.') && name.endsWith('.tmp')) {
        const old = await ops.lstat(file).then((s) => now - s.mtimeMs > 3_600_000, () => false);
        if (old) await unlinkQuietly(ops, file);
        else left++;
      } else {
        left++;
      }
    }
    // An add racing this finds the directory gone and makes it again.
    if (left === 0) rmdirQuietly(ownerDir);
  }
  return removed;
}

/** Whether the session of `key` is stored and has expired (missing or unreadable: not known to have). */
async function sessionExpired(ops: FsOps, sessionFile: (key: string) => string, key: string, now: number): Promise<boolean> {
  try {
    return (await readSessionFile(ops, sessionFile(key))).expires <= now;
  } catch {
    return false;
  }
}

async function readGeneration(ops: FsOps, dir: string): Promise<number> {
  let text: string;
  try {
    text = await ops.readFile(join(dir, GEN));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`unreadable generation in ${dir}`);
  return n;
}

/** The entries of an owner's directory: key and the time it lapses (an unreadable one has lapsed). */
async function readEntries(ops: FsOps, dir: string): Promise<[string, number][]> {
  let names: string[];
  try {
    names = await ops.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: [string, number][] = [];
  for (const name of names) {
    if (!name.startsWith(ENTRY)) continue;
    out.push([name.slice(ENTRY.length), (await readUntil(ops, join(dir, name))) ?? 0]);
  }
  return out;
}

async function readUntil(ops: FsOps, file: string): Promise<number | undefined> {
  try {
    const n = Number((await ops.readFile(file)).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function unlinkQuietly(ops: FsOps, file: string): Promise<boolean> {
  try {
    await ops.unlink(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty after all (an add came in), or gone.
  }
}
