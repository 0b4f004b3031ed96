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

  /** The value of a directive by exact name, else by {@link directiveKey}. */
  get(name: string): string | undefined {
    if (Object.hasOwn(this.values, name)) return this.values[name];
    const actual = this.names.get(directiveKey(name));
    return actual === undefined ? undefined : this.values[actual];
  }
}

/** How directive names compare: case-insensitive, `-` as `_` (Apache passes `Max-Age` to CGIs as `Max_Age`). */
export function directiveKey(name: string): string {
  return name.toLowerCase().replace(/-/g, '_');
}
