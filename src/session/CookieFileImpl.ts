import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { injectable, injectFromBase } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { DEFAULT_IDLE_SECONDS } from '../config/defaults.js';
import { readChoice, readFlag, readSeconds } from '../config/directives.js';
import { CookieStoreImpl } from './CookieStoreImpl.js';
import type { SessionRequest } from './SessionRequest.js';
import { FileStore } from './stores/FileStore.js';
import { redactText } from './stores/redact.js';
import type { SessionStore } from './stores/SessionStore.js';

const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
/** The default session directory, made without its parents so that one made first by another user is found and refused. */
const DEFAULT_PATH = join(tmpdir(), `pso-sessions${uid === undefined ? '' : `-${uid}`}`);

/**
 * Sessions in files, identified by a cookie: the default session policy, a
 * {@link FileStore} in the directory of this request.
 *
 * The directory is, in order: the `PSOSessionFileLoader_Path` directive (or a
 * `file:` URL in `PSOSessionStore`), else {@link getPath}, whose default is the
 * static {@link PATH}. A directive that wins over an overridden `getPath()` is
 * logged once. Another store (`PSOSessionStore`, or one bound under
 * `TOKENS.SessionStore`) takes over from files altogether.
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

  /** One store per directory and setting, for the life of the process. */
  readonly #stores = new Map<string, FileStore>();
  #toldOverride = false;

  /**
   * The directory for this request's session files, "excluding name" as the
   * How-To says. Must be absolute and writable by the process. Override it
   * to choose the directory per request.
   */
  getPath(_request: SessionRequest): string {
    return (this.constructor as typeof CookieFileImpl).PATH;
  }

  /** The directory actually used: the directive, else {@link getPath}. */
  sessionDirectory(request: SessionRequest): string {
    const configured = this.#configured(request);
    const dir = configured?.dir ?? this.getPath(request);
    if (typeof dir !== 'string' || !isAbsolute(dir)) {
      throw new ConfigurationError(configured?.source ?? `${this.constructor.name}.getPath()`, dir, 'the session directory must be an absolute path');
    }
    if (configured && !this.#toldOverride && this.getPath !== CookieFileImpl.prototype.getPath) {
      this.#toldOverride = true;
      request.logWith('info', `${configured.source} sets the session directory to ${configured.dir}: ${this.constructor.name}.getPath() is not asked`);
    }
    return dir;
  }

  /** The file of one session (a hash of its id names it: no path is built from client input). */
  sessionFile(request: SessionRequest, id: string): string {
    if (!this.isValidSessionId(id) && !/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new Error('refusing an unvalidated session id');
    return this.#fileStore(request).fileOf(this.storeKey(request, id));
  }

  /** The store bound or named by `PSOSessionStore`, else the files of this request's directory. */
  override storeFor(request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined> {
    const other = super.storeFor(request);
    if (other instanceof Promise) return other.then((s) => s ?? this.#fileStore(request));
    return other ?? this.#fileStore(request);
  }

  /** Deletes expired sessions: unreadable files once `PSOSessionIdleTimeout` old; a CGI process sweeps 200 ms at most. */
  override async collectGarbage(request: SessionRequest): Promise<number> {
    const store = await this.storeFor(request);
    if (!(store instanceof FileStore)) return super.collectGarbage(request);
    const idle = readSeconds(request, 'PSOSessionIdleTimeout', DEFAULT_IDLE_SECONDS);
    return store.collect({ corruptAfterMs: idle * 1000, budgetMs: request.persistent ? Infinity : 200 });
  }

  #fileStore(request: SessionRequest): FileStore {
    const dir = this.sessionDirectory(request);
    const sync = !request.persistent;
    const fsync = readFlag(request, 'PSOSessionFileLoader_Fsync');
    const lock = readChoice(request, 'PSOSessionLock', ['auto', 'file', 'process'], 'auto');
    const io = readChoice(request, 'PSOSessionFileIO', ['sync', 'async'], 'sync');
    const format = readChoice(request, 'PSOSessionFileFormat', ['slots', 'json'], 'slots');
    const key = `${dir}\0${sync}\0${fsync}\0${lock}\0${io}\0${format}`;
    let store = this.#stores.get(key);
    if (!store) {
      const source = this.#configured(request)?.source ?? `${this.constructor.name}.getPath()`;
      store = new FileStore(dir, { sync, io, format, fsync, source, parents: dir !== DEFAULT_PATH, lockAcrossProcesses: lock !== 'process', keepLocks: lock === 'auto' });
      if (this.#stores.size > 64) this.#stores.clear();
      this.#stores.set(key, store);
    }
    return store;
  }

  /** The directory a directive sets, and which directive, or `undefined`. */
  #configured(request: SessionRequest): { dir: string; source: string } | undefined {
    const path = request.getEnviron('PSOSessionFileLoader_Path');
    if (path !== undefined && path.trim() !== '') return { dir: path.trim(), source: 'PSOSessionFileLoader_Path' };
    const store = request.getEnviron('PSOSessionStore')?.trim();
    if (!store?.startsWith('file:')) return undefined;
    try {
      return { dir: fileURLToPath(store), source: 'PSOSessionStore' };
    } catch (e) {
      throw new ConfigurationError('PSOSessionStore', redactText(store), (e as Error).message);
    }
  }
}

export { collectSessionFiles, type CollectOptions } from './stores/FileStore.js';
