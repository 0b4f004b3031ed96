import { join } from 'node:path';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { DEFAULT_IDLE_SECONDS } from '../../config/defaults.js';
import { asyncFs, syncDirectory, syncFs, type FsOps } from '../../util/fs.js';
import { ensurePrivateDirectory } from '../../util/privateDirectory.js';
import { HOLDER_PREFIX, acquireFileLock, holderIsAbandoned, removeAbandonedLock, tryFileLock } from '../locks/FileLock.js';
import type { Release } from '../locks/KeyedMutex.js';
import { CorruptSessionError, parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import { SessionStoreError } from '../SessionStoreError.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import { keepAlive, openSpare } from './spareFile.js';
import { collectUserEntries, FileUserIndex } from './users/FileUserIndex.js';

const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
const PREFIX = 'pso_';
const SUFFIX = '.json';
/** The file the next version of a session is written to. */
const SPARE = '.spare';
/** The current version's second name while the spare is renamed over it. */
const HOLD = '.hold';
/** The lock of a session, beside its file. */
const LOCK = '.lock';
/** Temporary files older than this are leftovers of a crash. */
const TMP_STALE_MS = 3600_000;
/** What a key may name: a service id (a cookie name without `/`) and a session id or its hash. */
const KEY = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}):([A-Za-z0-9_~-]{1,128})$/;

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** Synchronous file calls (a CGI process, which serves one request) rather than the thread pool. */
  sync?: boolean;
  /** Flush every write (and the directory) to disk before answering (`PSOSessionFileLoader_Fsync`). */
  fsync?: boolean;
  /** Make the directory's missing parents (not for a default under a shared directory). */
  parents?: boolean;
  /** The directive or setting that chose the directory, for messages. */
  source?: string;
  /**
   * Lock sessions across processes (default true). Off (`PSOSessionLock
   * process`) only where one process alone ever uses the directory.
   */
  lockAcrossProcesses?: boolean;
}

/**
 * Sessions in files, one JSON file per session in one directory: pso's
 * default store. A session's file is `pso_<service id>_<key>.json`, built only
 * from a validated key; files are 0600 in a directory that must belong to the
 * process's user alone (0700, made when missing).
 *
 * Every session has a lock shared by all processes on the machine (a link
 * beside its file, made in one atomic step), held from read to write, so
 * that servers, workers and CGI scripts on one directory never lose each
 * other's writes. A write goes to a spare file that is then renamed over the
 * session's file: readers see the old version or the new one, never a torn one.
 *
 * @example
 * ```ts
 * const store = new FileStore('/var/lib/pso/sessions');
 * container.bind(TOKENS.SessionStore).toConstantValue(store);
 * ```
 */
export class FileStore implements SessionStore {
  readonly name: string;
  /** The directory of the session files. */
  readonly directory: string;
  readonly #ops: FsOps;
  readonly #fsync: boolean;
  /** Locks as hard links to this process's holder file (a long-running process), or as symbolic links. */
  readonly #sharedLocks: boolean;
  readonly #parents: boolean;
  readonly #source: string;
  #checked: Promise<void> | undefined;
  /** The lock of a session, across processes; absent when off (`PSOSessionLock process`). */
  readonly lock?: (key: string, timeoutMs: number) => Promise<Release>;
  /** The lock, then the record read under it; absent when locks are off. */
  readonly lockAndGet?: (key: string, timeoutMs: number) => Promise<LockedRecord>;
  /** Users' sessions (`session.login()`): a directory `users/` beside the session files. */
  readonly users: FileUserIndex;

  constructor(directory: string, options: FileStoreOptions = {}) {
    this.directory = directory;
    this.name = `file://${directory}`;
    this.#ops = options.sync ? syncFs : asyncFs;
    this.#fsync = options.fsync ?? false;
    this.#sharedLocks = !options.sync;
    this.#parents = options.parents ?? true;
    this.#source = options.source ?? 'PSOSessionFileLoader_Path';
    if (options.lockAcrossProcesses ?? true) {
      this.lock = (key, timeoutMs) => this.#lock(key, timeoutMs);
      this.lockAndGet = (key, timeoutMs) => this.#lockAndGet(key, timeoutMs);
    }
    this.users = new FileUserIndex({
      directory,
      ops: this.#ops,
      fsync: this.#fsync,
      ready: () => this.#ready(),
      get: (key) => this.get(key),
      fileOf: (key) => this.fileOf(key),
      destroyUnlessBusy: (key) => this.#destroyUnlessBusy(key),
    });
  }

  /** The file of a key. @throws Error for a key no session can have (never built from client input). */
  fileOf(key: string): string {
    return sessionFileOf(this.directory, key);
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const file = this.fileOf(key);
    await this.#ready();
    let text: string;
    try {
      text = await this.#ops.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CorruptSessionError(`session file ${baseName(file)} cannot be read: ${(e as Error).message}`);
    }
    try {
      return parseRecord(text);
    } catch (e) {
      throw new CorruptSessionError(`session file ${baseName(file)}: ${(e as Error).message}`);
    }
  }

  /**
   * Replaces a session's file atomically: the new version is written to a
   * spare file, then renamed over the current one. The spare is the inode of
   * an older version, rewritten in place, and the current version is kept
   * under a second name across the rename, then becomes the next spare: no
   * inode is allocated or freed per save, which on ext4 costs far more than
   * the writing itself. Only the holder of the session's lock writes it.
   */
  async set(key: string, record: SessionRecord): Promise<void> {
    const file = this.fileOf(key);
    const text = serializeRecord(record);
    await this.#ready();
    const ops = this.#ops;
    try {
      const base = file.slice(0, -SUFFIX.length);
      const fd = await openSpare(ops, `${base}${SPARE}`);
      try {
        await ops.rewrite(fd, text);
        if (this.#fsync) await ops.fsync(fd);
      } finally {
        await ops.close(fd);
      }
      const kept = await keepAlive(ops, file, `${base}${HOLD}`);
      await ops.rename(`${base}${SPARE}`, file);
      if (kept) await ops.rename(`${base}${HOLD}`, `${base}${SPARE}`).catch(() => ops.unlink(`${base}${HOLD}`).catch(() => {}));
      // The rename itself must reach the disk too.
      if (this.#fsync) await syncDirectory(ops, this.directory);
    } catch (e) {
      throw new SessionStoreError(`cannot write session file in ${this.directory}: ${(e as Error).message}${hint(e)}`, { cause: e });
    }
  }

  /** Files have nothing cheaper than a write to move an expiry. */
  touch(key: string, record: SessionRecord): Promise<void> {
    return this.set(key, record);
  }

  async destroy(key: string): Promise<void> {
    const base = this.fileOf(key).slice(0, -SUFFIX.length);
    await this.#ready();
    for (const f of [`${base}${SUFFIX}`, `${base}${SPARE}`, `${base}${HOLD}`]) {
      try {
        await this.#ops.unlink(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /** Deletes a session under its lock when the lock is free; one a request holds is left to it. */
  async #destroyUnlessBusy(key: string): Promise<void> {
    const lock = tryFileLock(`${this.fileOf(key).slice(0, -SUFFIX.length)}${LOCK}`);
    if (!lock) return;
    try {
      await this.destroy(key);
    } finally {
      await lock();
    }
  }

  /** @throws SessionBusyError after `timeoutMs`. */
  async #lock(key: string, timeoutMs: number): Promise<Release> {
    const lockFile = `${this.fileOf(key).slice(0, -SUFFIX.length)}${LOCK}`;
    await this.#ready();
    try {
      return await acquireFileLock(lockFile, timeoutMs, { shared: this.#sharedLocks });
    } catch (e) {
      if (e instanceof Error && e.name === 'SessionBusyError') throw e;
      throw new SessionStoreError(`cannot lock the session in ${this.directory}: ${(e as Error).message}${hint(e)}`, { cause: e });
    }
  }

  async #lockAndGet(key: string, timeoutMs: number): Promise<LockedRecord> {
    const release = await this.#lock(key, timeoutMs);
    let record: SessionRecord | undefined;
    let corrupt: unknown;
    try {
      record = await this.get(key);
    } catch (e) {
      if (!(e instanceof CorruptSessionError)) {
        await release();
        throw e;
      }
      corrupt = e;
    }
    return {
      record: () => {
        if (corrupt) throw corrupt;
        return record;
      },
      release,
      setAndRelease: async (next) => {
        await this.set(key, next);
        await release();
      },
    };
  }

  /** Deletes expired sessions (each under its lock) and leftovers of crashes. */
  gc(): Promise<number> {
    return this.collect();
  }

  /** {@link gc} with its limits: how long unreadable files are kept, how long a sweep may take. */
  async collect(options: Pick<CollectOptions, 'corruptAfterMs' | 'budgetMs'> = {}): Promise<number> {
    await this.#ready();
    return collectSessionFiles(this.directory, { ...options, fs: this.#ops });
  }

  async count(): Promise<number> {
    return (await this.list()).length;
  }

  /** The keys of the unexpired sessions. */
  async list(): Promise<string[]> {
    const now = Date.now();
    const keys: string[] = [];
    for (const name of await this.#names()) {
      const m = /^pso_(.+)_([A-Za-z0-9_~-]{1,128})\.json$/.exec(name);
      if (!m) continue;
      try {
        if (parseRecord(await this.#ops.readFile(join(this.directory, name))).expires > now) keys.push(`${m[1]}:${m[2]}`);
      } catch {
        // gone or unreadable: not a session
      }
    }
    return keys;
  }

  /** Makes (or checks) the directory now rather than on first use. */
  async init(): Promise<void> {
    await this.#ready();
  }

  async #names(): Promise<string[]> {
    try {
      return await this.#ops.readdir(this.directory);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** The directory, made 0700 when missing and refused when another user controls it; checked once. */
  #ready(): Promise<void> {
    this.#checked ??= ensurePrivateDirectory(this.#ops, this.directory, { what: 'session directory', source: this.#source, parents: this.#parents }).then(
      () => undefined,
      (e: unknown) => {
        this.#checked = undefined;
        if (e instanceof ConfigurationError) throw e;
        throw new SessionStoreError(`cannot create session directory ${this.directory}: ${(e as Error).message}${hint(e)}`, { cause: e });
      },
    );
    return this.#checked;
  }
}

/** The file of a session key in `dir`. @throws Error for a key no session can have. */
function sessionFileOf(dir: string, key: string): string {
  const m = KEY.exec(key);
  if (!m) throw new Error(`refusing a session key that cannot name a file: ${JSON.stringify(key.slice(0, 80))}`);
  return join(dir, `${PREFIX}${m[1]}_${m[2]}${SUFFIX}`);
}

function hint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `; make the directory writable by uid ${uid ?? '?'} or choose another with PSOSessionFileLoader_Path`;
  }
  return '';
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1);
}

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
            expired = parseRecord(await ops.readFile(file)).expires <= now;
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
