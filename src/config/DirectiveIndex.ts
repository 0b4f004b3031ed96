/**
 * How directive names compare: case-insensitive, `-` as `_` (Apache passes
 * `SetEnv PSOCookieSession_Max-Age` to CGIs as `PSOCookieSession_Max_Age`).
 *
 * @example
 * ```ts
 * directiveKey('PSOCookieSession_Max-Age'); // 'psocookiesession_max_age'
 * ```
 */
export function directiveKey(name: string): string {
  return name.toLowerCase().replace(/-/g, '_');
}

/**
 * The one lookup of directives by name: an exact name first, then the name
 * as directives compare ({@link directiveKey}) among the `PSO*` names a source
 * has. Every host reads its directives through it.
 *
 * @example
 * ```ts
 * const index = new DirectiveIndex(Object.keys(env));
 * env[index.find('psocookiesession_path') ?? ''];
 * ```
 */
export class DirectiveIndex {
  readonly #names = new Map<string, string>();

  constructor(names: Iterable<string>) {
    for (const n of names) if (/^pso/i.test(n)) this.#names.set(directiveKey(n), n);
  }

  /** The name under which the source holds `name`, or `undefined`. */
  find(name: string): string | undefined {
    return this.#names.get(directiveKey(name));
  }
}
