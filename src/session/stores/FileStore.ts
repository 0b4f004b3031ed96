import { join } from 'node:path';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { asyncFs, syncFs, type FsOps } from '../../util/fs.js';
import { ensurePrivateDirectory } from '../../util/privateDirectory.js';
import { acquireFileLock, tryFileLock } from '../locks/FileLock.js';
import type { Release } from '../locks/KeyedMutex.js';
import { CorruptSessionError, parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import { SessionStoreError } from '../SessionStoreError.js';
import { collectSessionFiles, type CollectOptions } from './collectSessionFiles.js';
import { HOLD, LOCK, SPARE, SUFFIX, sessionFileOf } from './fileLayout.js';
import { closeHeld, newHeldFile, openHeld, replaceFile, unreadable, writeHeld, type HeldFile } from './heldFile.js';
import type { LockedRecord, SessionStore } from './SessionStore.js';
import { KeptLocks, type KeptLock } from './keptLocks.js';
import { readSessionFile } from './slotFile.js';
import { FileUserIndex } from './users/FileUserIndex.js';
import type { UserIndex } from './UserIndex.js';

const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Synchronous file calls everywhere (a CGI process, which serves one
   * request) rather than the thread pool.
   */
  sync?: boolean;
  /**
   * How a server reads and writes a session's files (`PSOSessionFileIO`):
   * `sync` (the default) makes each of the few system calls of a load or a
   * save directly, a few microseconds each on a local disk, where a trip
   * through the thread pool costs more CPU than the call; `async` sends them
   * to the thread pool, for a directory on a network file system whose calls
   * may take long. Sweeps (gc, listing) always use the thread pool in a server.
   */
  io?: 'sync' | 'async';
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
  /**
   * How a session's file is written (`PSOSessionFileFormat`): `slots` (the
   * default) keeps two versions in one file and rewrites the older in place;
   * `json`, one JSON document per file replaced by a rename, is what pso
   * wrote before `slots` and reads, for a directory shared with such
   * processes while they are upgraded. Both formats are always read.
   */
  format?: 'slots' | 'json';
  /**
   * Keep a session's lock (and its file open) between this process's
   * requests, and give it up when another process asks for it
   * (`PSOSessionLock auto`, the default in a server): a session used again
   * by the same process then costs one write, where a lock taken per request
   * costs eight system calls. Off (`PSOSessionLock file`) while processes of
   * an earlier pso, which do not ask, share the directory: they would wait
   * for a kept lock to lapse (half a second idle, three seconds at most, see
   * `keptLocks.ts`).
   * Needs `lockAcrossProcesses`, a server (not `sync`), direct calls (`io:
   * 'sync'`: a directory on a network file system, `async`, may show a knock
   * late) and the `slots` format.
   */
  keepLocks?: boolean;
}

/**
 * Sessions in files, one file per session in one directory: pso's default
 * store. A session's file is `pso_<service id>_<key>.json`, built only from a
 * validated key; files are 0600 in a directory that must belong to the
 * process's user alone (0700, made when missing).
 *
 * Every session has a lock shared by all processes on the machine (a link
 * beside its file, made in one atomic step), held from read to write, so
 * that servers, workers and CGI scripts on one directory never lose each
 * other's writes.
 *
 * A file holds two versions of its session, each with a sequence number and
 * a checksum (see `slotFile.ts`): a save rewrites the older one in place, on
 * the descriptor its load opened, and a reader takes the newest intact one.
 * A save cut short leaves the version before whole, so readers see the old
 * version or the new one, never a torn one, with no file made or renamed per
 * save. A new session, one grown past its file's slots, or a file of the
 * earlier format (one JSON record, `PSOSessionFileFormat json`) is written
 * to a spare file that is then renamed over the session's file.
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
  /** The calls of a load, a save or a delete. */
  readonly #ops: FsOps;
  /** The calls of sweeps and listings, which may touch many files. */
  readonly #bgOps: FsOps;
  readonly #fsync: boolean;
  /** Locks as hard links to this process's holder file (a long-running process), or as symbolic links. */
  readonly #sharedLocks: boolean;
  readonly #parents: boolean;
  readonly #source: string;
  readonly #slots: boolean;
  /** The sessions whose lock this store holds in this process, with their files. */
  readonly #held = new Map<string, HeldFile>();
  /** The locks kept between requests (see {@link FileStoreOptions.keepLocks}), when they are. */
  readonly #kept: KeptLocks | undefined;
  #checked: Promise<void> | undefined;
  /** The directory was checked (with the thread pool in a server, once). */
  #directoryReady = false;
  /** The lock of a session, across processes; absent when off (`PSOSessionLock process`). */
  readonly lock?: (key: string, timeoutMs: number) => Promise<Release>;
  /** The lock, then the record read under it; absent when locks are off. */
  readonly lockAndGet?: (key: string, timeoutMs: number) => Promise<LockedRecord>;
  /** Users' sessions (`session.login()`): a directory `users/` beside the session files. */
  readonly users: UserIndex;

  /**
   * True once the directory is checked, when loads, saves and locks make their
   * system calls directly (`PSOSessionFileIO sync`, the default): no deadline
   * is kept for them then. Through the thread pool (`async`, for a file
   * system that may stall) every call keeps its deadline.
   */
  get answersAtOnce(): boolean {
    return this.#directoryReady && this.#ops === syncFs;
  }

  constructor(directory: string, options: FileStoreOptions = {}) {
    this.directory = directory;
    this.name = `file://${directory}`;
    this.#bgOps = options.sync ? syncFs : asyncFs;
    this.#ops = options.sync || (options.io ?? 'sync') === 'sync' ? syncFs : asyncFs;
    this.#fsync = options.fsync ?? false;
    this.#sharedLocks = !options.sync;
    this.#parents = options.parents ?? true;
    this.#source = options.source ?? 'PSOSessionFileLoader_Path';
    this.#slots = (options.format ?? 'slots') === 'slots';
    if ((options.keepLocks ?? false) && !options.sync && this.#ops === syncFs && this.#slots && (options.lockAcrossProcesses ?? true)) this.#kept = new KeptLocks(directory, this.#ops);
    if (options.lockAcrossProcesses ?? true) {
      this.lock = (key, timeoutMs) => this.#lock(key, timeoutMs);
      this.lockAndGet = (key, timeoutMs) => this.#lockAndGet(key, timeoutMs);
    }
    this.users = new FileUserIndex({
      directory,
      ops: this.#bgOps,
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
    try {
      return await readSessionFile(this.#ops, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw unreadable(file, e);
    }
  }

  /**
   * Writes a session's next version: in place, into the older of its file's
   * two slots, where it fits (see the class); else as a new file renamed over
   * the current one. Only the holder of the session's lock writes it (or the
   * only process, with `PSOSessionLock process`).
   */
  async set(key: string, record: SessionRecord): Promise<void> {
    const file = this.fileOf(key);
    const json = serializeRecord(record);
    await this.#ready();
    try {
      if (!this.#slots) return await replaceFile(this.#ops, file, json, this.#fsync);
      // Under this request's lock, or one this process keeps between requests.
      const held = this.#held.get(key) ?? this.#kept?.get(key)?.held;
      if (held) return await writeHeld(this.#ops, file, this.#fsync, held, json);
      // Without this store's lock here: locks are off (one process), or the key is new (no one else knows it).
      const own = newHeldFile();
      try {
        await openHeld(this.#ops, file, own).catch((e: unknown) => {
          // An unreadable file is replaced whole.
          if (!(e instanceof CorruptSessionError)) throw e;
        });
        await writeHeld(this.#ops, file, this.#fsync, own, json);
      } finally {
        await closeHeld(this.#ops, own);
      }
    } catch (e) {
      if (e instanceof SessionStoreError) throw e;
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
    const kept = this.#kept?.get(key);
    const held = this.#held.get(key) ?? kept?.held;
    if (held) {
      // A later save in this hold makes a new file, rather than write into the one deleted.
      await closeHeld(this.#ops, held);
      held.layout = undefined;
      held.json = undefined;
    }
    for (const f of [`${base}${SUFFIX}`, `${base}${SPARE}`, `${base}${HOLD}`]) {
      try {
        await this.#ops.unlink(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    // A lock kept with no request on it is given up with its session.
    if (kept && !kept.busy) await this.#kept!.giveUp(key, kept);
  }

  /** Deletes a session under its lock when the lock is free; one a request holds is left to it. */
  async #destroyUnlessBusy(key: string): Promise<void> {
    const kept = this.#kept?.get(key);
    if (kept) {
      if (!kept.busy) await this.destroy(key);
      return;
    }
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
    // Nobody else can have written the file while this process held its lock: what the last request left is current.
    const kept = await this.#kept?.take(key);
    if (kept) {
      this.#held.set(key, kept.held);
      const json = kept.held.json!;
      return this.#locked(key, this.#releaseOf(key, kept), async () => parseRecord(json));
    }
    // (One a request of this store holds, called on without the store's mutex, is waited for like another process's.)
    const unlock = await this.#lock(key, timeoutMs);
    if (!this.#slots) return this.#locked(key, unlock, () => this.get(key));
    const entry = KeptLocks.taken(newHeldFile(), unlock);
    this.#held.set(key, entry.held);
    return this.#locked(key, this.#releaseOf(key, entry), () => openHeld(this.#ops, this.fileOf(key), entry.held));
  }

  /** How a request gives a lock back: kept for the next request when it may be, else released. */
  #releaseOf(key: string, entry: KeptLock): Release {
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (this.#held.get(key) === entry.held) this.#held.delete(key);
      if (this.#kept) return this.#kept.release(key, entry);
      try {
        await closeHeld(this.#ops, entry.held);
      } finally {
        await entry.unlock();
      }
    };
  }

  /** The lock held, with the record `read` under it; a failed read other than a corrupt file gives the lock back. */
  async #locked(key: string, release: Release, read: () => Promise<SessionRecord | undefined>): Promise<LockedRecord> {
    let record: SessionRecord | undefined;
    let corrupt: unknown;
    try {
      record = await read();
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
    return collectSessionFiles(this.directory, { ...options, fs: this.#bgOps });
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
        if ((await readSessionFile(this.#bgOps, join(this.directory, name))).expires > now) keys.push(`${m[1]}:${m[2]}`);
      } catch {
        // gone or unreadable: not a session
      }
    }
    return keys;
  }

  /** Gives up every lock kept between requests (see {@link FileStoreOptions.keepLocks}), and keeps none from now on. */
  async close(): Promise<void> {
    await this.#kept?.close();
  }

  /** Makes (or checks) the directory now rather than on first use. */
  async init(): Promise<void> {
    await this.#ready();
  }

  async #names(): Promise<string[]> {
    try {
      return await this.#bgOps.readdir(this.directory);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** The directory, made 0700 when missing and refused when another user controls it; checked once. */
  #ready(): Promise<void> {
    this.#checked ??= ensurePrivateDirectory(this.#bgOps, this.directory, { what: 'session directory', source: this.#source, parents: this.#parents }).then(
      () => {
        this.#directoryReady = true;
      },
      (e: unknown) => {
        this.#checked = undefined;
        if (e instanceof ConfigurationError) throw e;
        throw new SessionStoreError(`cannot create session directory ${this.directory}: ${(e as Error).message}${hint(e)}`, { cause: e });
      },
    );
    return this.#checked;
  }
}

function hint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `; make the directory writable by uid ${uid ?? '?'} or choose another with PSOSessionFileLoader_Path`;
  }
  return '';
}

export { collectSessionFiles, type CollectOptions };
