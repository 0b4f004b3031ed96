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
  /** Names by {@link directiveKey}. */
  readonly names: ReadonlyMap<string, string>;

  constructor(given: Readonly<Record<string, string>> = {}, env: NodeJS.ProcessEnv = process.env) {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (k.startsWith('PSO') && v !== undefined) values[k] = v;
    Object.assign(values, given);
    this.values = values;
    this.names = new Map(Object.keys(values).map((k) => [directiveKey(k), k]));
  }

  /** Answers by name, misses included: a server asks the same names on every request. */
  readonly #memo = new Map<string, string | undefined>();

  /** The value of a directive by exact name, else by {@link directiveKey}. */
  get(name: string): string | undefined {
    const memo = this.#memo.get(name);
    if (memo !== undefined || this.#memo.has(name)) return memo;
    let value: string | undefined;
    if (Object.hasOwn(this.values, name)) value = this.values[name];
    else {
      const actual = this.names.get(directiveKey(name));
      value = actual === undefined ? undefined : this.values[actual];
    }
    if (this.#memo.size < 1024) this.#memo.set(name, value);
    return value;
  }
}

/** How directive names compare: case-insensitive, `-` as `_` (Apache passes `Max-Age` to CGIs as `Max_Age`). */
export function directiveKey(name: string): string {
  return name.toLowerCase().replace(/-/g, '_');
}
