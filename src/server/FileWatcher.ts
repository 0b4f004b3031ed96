import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Editors save in several steps (write, rename, touch): one change is reported once they are done. */
const SETTLE_MS = 100;

/**
 * Watches a set of files and reports a change once things settle. It watches
 * their directories rather than the files, so that a file an editor replaces
 * (writes a new one, renames it over the old) is still watched afterwards.
 *
 * @example
 * ```ts
 * const watcher = new FileWatcher((file) => console.log(`${file} changed`));
 * watcher.watch(['/srv/app/handler.ts', '/srv/app/lib/db.ts']);
 * ```
 */
export class FileWatcher {
  readonly #onChange: (file: string) => void;
  /** Watched directories, with the names watched in each. */
  readonly #dirs = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  #timer: NodeJS.Timeout | undefined;
  #changed: string | undefined;

  constructor(onChange: (file: string) => void) {
    this.#onChange = onChange;
  }

  /**
   * Watches exactly `files` from now on.
   *
   * @example
   * ```ts
   * watcher.watch(filesOfTheNewBuild);
   * ```
   */
  watch(files: readonly string[]): void {
    const wanted = new Map<string, Set<string>>();
    for (const f of files) {
      const names = wanted.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      wanted.set(dirname(f), names);
    }
    for (const [dir, entry] of this.#dirs) {
      if (!wanted.has(dir)) {
        entry.watcher.close();
        this.#dirs.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const entry = this.#dirs.get(dir);
      if (entry) {
        entry.names = names;
        continue;
      }
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          const current = this.#dirs.get(dir);
          if (name && current?.names.has(name)) this.#report(join(dir, name));
        });
        watcher.on('error', () => undefined);
        this.#dirs.set(dir, { watcher, names });
      } catch {
        // A directory that went away: nothing in it to watch.
      }
    }
  }

  /**
   * The files watched.
   *
   * @example
   * ```ts
   * watcher.watch([...watcher.files, '/srv/app/extra.ts']);
   * ```
   */
  get files(): string[] {
    return [...this.#dirs].flatMap(([dir, { names }]) => [...names].map((name) => join(dir, name)));
  }

  /**
   * Stops watching.
   *
   * @example
   * ```ts
   * watcher.close();
   * ```
   */
  close(): void {
    clearTimeout(this.#timer);
    for (const { watcher } of this.#dirs.values()) watcher.close();
    this.#dirs.clear();
  }

  #report(file: string): void {
    this.#changed ??= file;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const changed = this.#changed!;
      this.#changed = undefined;
      this.#onChange(changed);
    }, SETTLE_MS);
  }
}
