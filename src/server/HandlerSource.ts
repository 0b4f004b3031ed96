import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, relative, resolve } from 'node:path';
import { moduleNameOf } from '../service/moduleName.js';
import { COMPILED, buildTypeScript } from './buildTypeScript.js';
import { ModuleLoadError } from './ModuleLoadError.js';

/** What node runs as it is. */
const NATIVE = new Set(['.js', '.mjs', '.cjs']);

/**
 * The handler module the user named, made ready to import: a JavaScript
 * module as it is, a TypeScript one compiled afresh by each
 * {@link HandlerSource.prepare} (into a private temporary directory, removed
 * by {@link HandlerSource.dispose}).
 *
 * @example
 * ```ts
 * const source = new HandlerSource('handler.ts');
 * const { handler } = await loadHandlerModule(await source.prepare(), source.shownAs);
 * ```
 */
export class HandlerSource {
  /** The module's absolute path. */
  readonly file: string;
  /** The module as the user wrote it on the command line, for messages. */
  readonly shownAs: string;
  /** Whether the module is compiled before it is loaded. */
  readonly compiled: boolean;
  /** The default service id, from the module's own name. */
  readonly moduleName: string;
  #dir: string | undefined;
  #builds = 0;

  constructor(file: string) {
    this.file = resolve(file);
    this.shownAs = file;
    this.moduleName = moduleNameOf(file);
    const ext = extname(file).toLowerCase();
    this.compiled = COMPILED.test(ext);
    if (!this.compiled && !NATIVE.has(ext)) {
      throw new ModuleLoadError(file, `pso serve runs .js, .mjs, .cjs, .ts, .mts, .cts, .tsx and .jsx modules, not ${ext ? `${ext} files` : 'files without an extension'}`, 'give the handler module one of those extensions');
    }
  }

  /**
   * The path to import: the module itself, or a new compilation of it. A
   * module that is missing or that does not compile is a {@link ModuleLoadError}.
   *
   * @example
   * ```ts
   * const path = await source.prepare();
   * ```
   */
  async prepare(): Promise<string> {
    await this.#exists();
    if (!this.compiled) return this.file;
    this.#dir ??= await privateDirectory();
    const outfile = join(this.#dir, `${this.moduleName}.${++this.#builds}.mjs`);
    await buildTypeScript(this.file, outfile, this.shownAs);
    return outfile;
  }

  /**
   * Forgets a path {@link prepare} gave once nothing will import it again
   * (a compilation is deleted; the module itself is left alone).
   *
   * @example
   * ```ts
   * await source.release(oldPath);
   * ```
   */
  async release(path: string): Promise<void> {
    if (this.#dir && path.startsWith(this.#dir)) await rm(path, { force: true });
  }

  /**
   * Deletes every compilation. Synchronous, so that it can run as the process exits.
   *
   * @example
   * ```ts
   * process.once('exit', () => source.dispose());
   * ```
   */
  dispose(): void {
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  async #exists(): Promise<void> {
    let info;
    try {
      info = await stat(this.file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const from = relative(process.cwd(), this.file) === this.shownAs ? ` (looked in ${process.cwd()})` : '';
        throw new ModuleLoadError(this.shownAs, `no such file${from}`, 'check the path of the handler module');
      }
      throw new ModuleLoadError(this.shownAs, (e as Error).message, 'check the path and its permissions');
    }
    if (!info.isFile()) throw new ModuleLoadError(this.shownAs, 'it is not a file', 'name the handler module file itself');
  }
}

/** A new temporary directory only this user can read, whatever the umask. */
async function privateDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pso-serve-'));
  await chmod(dir, 0o700);
  return dir;
}
