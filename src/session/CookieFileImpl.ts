import { constants as fsConstants, type Stats } from 'node:fs';
import { asyncFs, syncDirectory, syncFs, type FsOps } from '../util/fs.js';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { injectable, injectFromBase } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { readChoice, readFlag, readSeconds } from '../config/directives.js';
import type { ServiceRequest } from '../service/ServiceRequest.js';
import { CookieStoreImpl } from './CookieStoreImpl.js';
import { DEFAULT_IDLE_SECONDS, SessionStoreError, type SaveHints } from './SessionImpl.js';
import { CorruptSessionError, parseRecord, serializeRecord, type SessionRecord } from './SessionRecord.js';
import { acquireFileLock, lockIsStale, type FileLock } from './locks/FileLock.js';
import { ensurePrivateDirectory } from '../util/privateDirectory.js';
import { redactText } from './stores/redact.js';
import { SessionBusyError } from './locks/SessionBusyError.js';
import type { Release } from './locks/KeyedMutex.js';

const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
/** The default session directory, made without its parents so that one made first by another user is found and refused. */
const DEFAULT_PATH = join(tmpdir(), `pso-sessions${uid === undefined ? '' : `-${uid}`}`);
const PREFIX = 'pso_';
const SUFFIX = '.json';
/** Temporary files older than this are leftovers of a crash. */
const TMP_STALE_MS = 3600_000;
/** The file the next version of a session is written to. */
const SPARE = '.spare';
/** The current version's second name while the spare is renamed over it. */
const HOLD = '.hold';
/** Open for writing, create if missing, keep the content (rewritten in place), refuse a symbolic link. */
const SPARE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW;
/** Session files a server remembers after writing them. */
const CACHE_ENTRIES = 10_000;

/**
 * Gives `file`'s inode the name `hold` too, so that renaming over `file`
 * frees nothing; false where there is no file yet or links are not supported.
 */
async function keepAlive(ops: FsOps, file: string, hold: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await ops.link(file, hold);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Left by a crash between the two renames: it is only a second name of an older version.
      if (code === 'EEXIST' && attempt === 0) {
        await ops.unlink(hold).catch(() => {});
        continue;
      }
      if (code === 'ENOENT' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK' || code === 'EXDEV') return false;
      throw e;
    }
  }
  return false;
}

/**
 * Sessions in files, one JSON file per session, identified by a cookie: the
 * default session policy.
 *
 * The directory is, in order: the `PSOSessionFileLoader_Path` directive,
 * else {@link getPath}, whose default is the static {@link PATH}. Files are
 * written atomically (temporary file, then rename), the directory is created
 * 0700 and files 0600, and file names are built only from validated ids.
 *
 * @example
 * ```ts
 * // How-To "path1": a subclass with another PATH
 * class MyFileImpl extends CookieFileImpl { static override PATH = '/tmp/path1/'; }
 * // How-To "path2": a subclass that computes the path
 * class MyFileImpl2 extends CookieFileImpl {
 *   override getPath(request: ServiceRequest) { return '/tmp/path2/'; }
 * }
 * new ServiceHandler().run(handler, { sessionImpl: MyFileImpl });
 * ```
 */
@injectable()
@injectFromBase({ extendConstructorArguments: true, extendProperties: true })
export class CookieFileImpl extends CookieStoreImpl {
  /** The default session directory: `pso-sessions-<uid>` under the OS temporary directory. */
  static PATH: string = DEFAULT_PATH;

  #checkedDirs = new Set<string>();
  /** File locks held by requests of this process, by lock path. */
  #held = new Map<string, FileLock>();
  /** Session files this server wrote last, with the identity of what it wrote. */
  #cache = new Map<string, { ino: number; dev: number; size: number; mtimeMs: number; text: string }>();

  /**
   * The directory for this request's session files, "excluding name" as the
   * How-To says. Must be absolute and writable by the process. Override it
   * to choose the directory per request.
   */
  getPath(request: ServiceRequest<any>): string {
    return (this.constructor as typeof CookieFileImpl).PATH;
  }

  /** The directory actually used: the directive, else {@link getPath}. */
  sessionDirectory(request: ServiceRequest<any>): string {
    let configured = request.getEnviron('PSOSessionFileLoader_Path');
    const store = request.getEnviron('PSOSessionStore')?.trim();
    if ((configured === undefined || configured.trim() === '') && store?.startsWith('file:')) {
      try {
        configured = fileURLToPath(store);
      } catch (e) {
        throw new ConfigurationError('PSOSessionStore', redactText(store), (e as Error).message);
      }
    }
    const dir = configured !== undefined && configured.trim() !== '' ? configured.trim() : this.getPath(request);
    if (typeof dir !== 'string' || !isAbsolute(dir)) {
      const source = configured !== undefined && configured.trim() !== '' ? 'PSOSessionFileLoader_Path' : `${this.constructor.name}.getPath()`;
      throw new ConfigurationError(source, dir, 'the session directory must be an absolute path');
    }
    return dir;
  }

  /** The file of one session. Only validated ids reach here, so no path can be built from client input. */
  sessionFile(request: ServiceRequest<any>, id: string): string {
    if (!this.isValidSessionId(id) && !/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new Error('refusing an unvalidated session id');
    return join(this.sessionDirectory(request), `${PREFIX}${this.getServiceId(request)}_${id}${SUFFIX}`);
  }

  override async load(request: ServiceRequest<any>, id: string): Promise<SessionRecord | undefined> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.load(request, id);
    const file = this.sessionFile(request, id);
    // Nothing is read from a directory another user could have planted files in.
    await this.#ensureDirectory(request, fsFor(request), this.sessionDirectory(request));
    let text: string;
    try {
      text = await this.#read(request, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new CorruptSessionError(`session file ${file} cannot be read: ${(e as Error).message}`);
    }
    try {
      return parseRecord(text);
    } catch (e) {
      throw new CorruptSessionError(`session file ${file}: ${(e as Error).message}`);
    }
  }

  override async save(request: ServiceRequest<any>, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.save(request, id, record, hints);
    const ops = fsFor(request);
    const file = this.sessionFile(request, id);
    const dir = this.sessionDirectory(request);
    const text = serializeRecord(record);
    const sync = readFlag(request, 'PSOSessionFileLoader_Fsync');
    const held = this.#held.get(this.#lockPath(file));
    try {
      if (hints?.final && held) {
        // The last save of the request: the lock file becomes the session file.
        this.#held.delete(this.#lockPath(file));
        await held.commit(file, text, sync);
      } else {
        await this.#ensureDirectory(request, ops, dir);
        await this.#replace(request, ops, file, text, sync);
      }
      // The rename itself must reach the disk too.
      if (sync) await syncDirectory(ops, dir);
    } catch (e) {
      if (e instanceof SessionStoreError || e instanceof ConfigurationError) throw e;
      throw new SessionStoreError(`cannot write session file in ${dir}: ${(e as Error).message}${hint(e)}`, { cause: e });
    }
  }

  /**
   * Replaces a session file atomically: the new version is written to a
   * spare file, then renamed over the current one. The spare is the inode of
   * an older version, rewritten in place, and the current version is kept
   * under a second name across the rename, then becomes the next spare: no
   * inode is allocated or freed per save, which on ext4 costs far more than
   * the writing itself. Only the holder of the session's lock saves it.
   */
  async #replace(request: ServiceRequest<any>, ops: FsOps, file: string, text: string, sync: boolean): Promise<void> {
    const base = file.slice(0, -SUFFIX.length);
    const spare = `${base}${SPARE}`;
    const hold = `${base}${HOLD}`;
    const fd = await ops.open(spare, SPARE_FLAGS, 0o600);
    let written: Stats | undefined;
    try {
      await ops.rewrite(fd, text);
      if (sync) await ops.fsync(fd);
      if (request.persistent) written = await ops.fstat(fd);
    } finally {
      await ops.close(fd);
    }
    const kept = await keepAlive(ops, file, hold);
    await ops.rename(spare, file);
    if (kept) await ops.rename(hold, spare).catch(() => ops.unlink(hold).catch(() => {}));
    if (written) this.#remember(file, written, text);
    else this.#cache.delete(file);
  }

  /** Files have nothing cheaper than a save to move an expiry. */
  override async touch(request: ServiceRequest<any>, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.touch(request, id, record, hints);
    return this.save(request, id, record, hints);
  }

  override async remove(request: ServiceRequest<any>, id: string): Promise<void> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.remove(request, id);
    const ops = fsFor(request);
    const file = this.sessionFile(request, id);
    const base = file.slice(0, -SUFFIX.length);
    this.#cache.delete(file);
    for (const f of [file, `${base}${SPARE}`, `${base}${HOLD}`]) {
      try {
        await ops.unlink(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /** Keeps what was last written by this process, so a server reads a session back with one stat. */
  #remember(file: string, stats: Stats, text: string): void {
    this.#cache.delete(file);
    if (this.#cache.size >= CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(file, { ino: stats.ino, dev: stats.dev, size: stats.size, mtimeMs: stats.mtimeMs, text });
  }

  async #read(request: ServiceRequest<any>, file: string): Promise<string> {
    const ops = fsFor(request);
    if (!request.persistent) return ops.readFile(file);
    const stats = await ops.stat(file);
    const cached = this.#cache.get(file);
    if (cached && cached.ino === stats.ino && cached.dev === stats.dev && cached.size === stats.size && cached.mtimeMs === stats.mtimeMs) {
      return cached.text;
    }
    const text = await ops.readFile(file);
    if (Buffer.byteLength(text) === stats.size) this.#remember(file, stats, text);
    return text;
  }

  /**
   * Locks in this process and, for CGI and scripts (or `PSOSessionLock file`),
   * across processes with a lock file beside the session file.
   */
  override async lock(request: ServiceRequest<any>, id: string): Promise<Release> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.lock(request, id);
    const timeout = this.lockTimeoutMs(request);
    const started = Date.now();
    const releaseLocal = await super.lock(request, id);
    const mode = readChoice(request, 'PSOSessionLock', ['auto', 'file', 'process'], 'auto');
    if (mode === 'process' || (mode === 'auto' && request.persistent)) return releaseLocal;
    const ops = fsFor(request);
    const dir = this.sessionDirectory(request);
    const lockPath = this.#lockPath(this.sessionFile(request, id));
    try {
      await this.#ensureDirectory(request, ops, dir);
      const fileLock = await acquireFileLock(lockPath, Math.max(1, timeout - (Date.now() - started)), ops);
      this.#held.set(lockPath, fileLock);
      return async () => {
        try {
          if (this.#held.get(lockPath) === fileLock) this.#held.delete(lockPath);
          await fileLock();
        } finally {
          await releaseLocal();
        }
      };
    } catch (e) {
      await releaseLocal();
      if (e instanceof SessionBusyError || e instanceof SessionStoreError || e instanceof ConfigurationError) throw e;
      throw new SessionStoreError(`cannot lock the session in ${dir}: ${(e as Error).message}${hint(e)}`, { cause: e });
    }
  }

  /** Whether a store keeps this request's sessions; without waiting, once its store is open. */
  #usesStore(request: ServiceRequest<any>): boolean | Promise<boolean> {
    const store = this.storeNow(request);
    return store instanceof Promise ? store.then((s) => s !== undefined) : store !== undefined;
  }

  #lockPath(file: string): string {
    return `${file.slice(0, -SUFFIX.length)}.lock`;
  }

  /** Deletes the expired session files (and leftovers of crashes) in this request's directory. */
  override async collectGarbage(request: ServiceRequest<any>): Promise<number> {
    const usesStore = this.#usesStore(request);
    if (typeof usesStore === 'boolean' ? usesStore : await usesStore) return super.collectGarbage(request);
    const idle = readSeconds(request, 'PSOSessionIdleTimeout', DEFAULT_IDLE_SECONDS);
    await this.#ensureDirectory(request, fsFor(request), this.sessionDirectory(request));
    return collectSessionFiles(this.sessionDirectory(request), { corruptAfterMs: idle * 1000, budgetMs: request.persistent ? Infinity : 200, fs: fsFor(request) });
  }

  async #ensureDirectory(request: ServiceRequest<any>, ops: FsOps, dir: string): Promise<void> {
    if (this.#checkedDirs.has(dir)) return;
    try {
      await ensurePrivateDirectory(ops, dir, { what: 'session directory', source: this.#directorySource(request), parents: dir !== DEFAULT_PATH });
    } catch (e) {
      if (e instanceof ConfigurationError) throw e;
      throw new SessionStoreError(`cannot create session directory ${dir}: ${(e as Error).message}${hint(e)}`, { cause: e });
    }
    this.#checkedDirs.add(dir);
  }

  /** What chose this request's directory, for messages. */
  #directorySource(request: ServiceRequest<any>): string {
    if (request.getEnviron('PSOSessionFileLoader_Path')?.trim()) return 'PSOSessionFileLoader_Path';
    if (request.getEnviron('PSOSessionStore')?.trim().startsWith('file:')) return 'PSOSessionStore';
    return `${this.constructor.name}.getPath()`;
  }
}

/** Synchronous calls for a process that serves one request; the thread pool for a server. */
function fsFor(request: ServiceRequest<any>): FsOps {
  return request.persistent ? asyncFs : syncFs;
}

function hint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `; make the directory writable by uid ${uid ?? '?'} or choose another with PSOSessionFileLoader_Path`;
  }
  return '';
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
 * crashes, and abandoned lock files. Used by `pso gc` and, now and then, by
 * requests.
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
  let removed = 0;
  for (const name of names) {
    if (Date.now() > deadline) break;
    const file = join(dir, name);
    try {
      if (name.startsWith(PREFIX) && name.endsWith(SUFFIX)) {
        let expired: boolean;
        try {
          expired = parseRecord(await ops.readFile(file)).expires <= now;
        } catch {
          expired = now - (await ops.stat(file)).mtimeMs > corruptAfter;
        }
        if (expired) {
          await ops.unlink(file);
          await ops.unlink(`${file.slice(0, -SUFFIX.length)}${SPARE}`).catch(() => {});
          removed++;
        }
      } else if (name.startsWith(PREFIX) && name.endsWith(SPARE)) {
        // An older version, kept for reuse: useless once its session is gone.
        const current = `${file.slice(0, -SPARE.length)}${SUFFIX}`;
        const gone = await ops.stat(current).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
        if (gone && now - (await ops.stat(file)).mtimeMs > TMP_STALE_MS / 60) {
          await ops.unlink(file);
          removed++;
        }
      } else if ((name.startsWith(`.${PREFIX}`) && name.endsWith('.tmp')) || (name.startsWith(PREFIX) && name.endsWith(HOLD))) {
        if (now - (await ops.stat(file)).mtimeMs > TMP_STALE_MS) {
          await ops.unlink(file);
          removed++;
        }
      } else if (name.startsWith(PREFIX) && name.endsWith('.lock')) {
        if (await lockIsStale(file, ops)) {
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
