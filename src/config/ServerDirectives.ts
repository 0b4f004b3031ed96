import { DirectiveIndex } from './DirectiveIndex.js';

/**
 * The directives of a persistent server, made once: the `PSO*` variables of
 * its environment, overridden by those given in code, with their names
 * indexed the way directive names compare (case-insensitive, `-` as `_`).
 *
 * @example
 * ```ts
 * const d = new ServerDirectives({ PSOSessionExpire: '15*60' });
 * d.get('psosessionexpire'); // '15*60'
 * ```
 */
export class ServerDirectives {
  /** Every directive, by its own name. */
  readonly values: Readonly<Record<string, string>>;
  readonly #index: DirectiveIndex;
  /** Answers by name, misses included: a server asks the same names on every request. */
  readonly #memo = new Map<string, string | undefined>();

  constructor(given: Readonly<Record<string, string>> = {}, env: NodeJS.ProcessEnv = process.env) {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (k.startsWith('PSO') && v !== undefined) values[k] = v;
    Object.assign(values, given);
    this.values = values;
    this.#index = new DirectiveIndex(Object.keys(values));
  }

  /** The value of a directive by exact name, else as directive names compare. */
  get(name: string): string | undefined {
    const memo = this.#memo.get(name);
    if (memo !== undefined || this.#memo.has(name)) return memo;
    const actual = Object.hasOwn(this.values, name) ? name : this.#index.find(name);
    const value = actual === undefined ? undefined : this.values[actual];
    if (this.#memo.size < 1024) this.#memo.set(name, value);
    return value;
  }
}
