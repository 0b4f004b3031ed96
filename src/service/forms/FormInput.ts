import type { UploadedFile } from './UploadedFile.js';

/**
 * A request's form input: the fields of the query string, then those of an
 * `application/x-www-form-urlencoded` or `multipart/form-data` body, in the
 * order they came, with repeated names kept; and the files uploaded with it.
 * Iterating gives `[name, value]` pairs of the text fields, as
 * `URLSearchParams` does.
 *
 * @example
 * ```ts
 * const form = await request.form();
 * const tags = form.getAll('tag');        // ['a', 'b'] for ?tag=a&tag=b
 * const page = form.get('page', '1');     // '1' when absent
 * ```
 */
export class FormInput implements Iterable<[string, string]> {
  readonly #fields: readonly (readonly [string, string])[];
  readonly #files: readonly UploadedFile[];

  constructor(fields: readonly (readonly [string, string])[] = [], files: readonly UploadedFile[] = []) {
    this.#fields = fields;
    this.#files = files;
  }

  /**
   * The value of field `name`: the first one, or the `index`-th of repeated
   * ones; `fallback` when there is none.
   *
   * @example
   * ```ts
   * form.get('color', 'blue', 1); // the second "color", or 'blue'
   * ```
   */
  get(name: string, fallback?: string, index = 0): string | undefined {
    let seen = 0;
    for (const [k, v] of this.#fields) if (k === name && seen++ === index) return v;
    return fallback;
  }

  /**
   * Every value of field `name`, in order (empty when there is none).
   *
   * @example
   * ```ts
   * form.getAll('tag'); // ['red', 'green']
   * ```
   */
  getAll(name: string): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#fields) if (k === name) out.push(v);
    return out;
  }

  /**
   * Whether every one of `names` came as a field or a file.
   *
   * @example
   * ```ts
   * if (form.has('user', 'password')) login();
   * ```
   */
  has(...names: string[]): boolean {
    return names.every((n) => this.#fields.some(([k]) => k === n) || this.#files.some((f) => f.fieldName === n));
  }

  /**
   * Which of `names` came (all of them, in the order asked, when none is missing).
   *
   * @example
   * ```ts
   * form.which('q', 'page', 'sort'); // ['q', 'sort']
   * ```
   */
  which(...names: string[]): string[] {
    return names.filter((n) => this.has(n));
  }

  /** The field names, each once, in the order they first came. */
  keys(): string[] {
    return [...new Set(this.#fields.map(([k]) => k))];
  }

  /** Every `[name, value]` pair of the text fields, in order. */
  entries(): [string, string][] {
    return this.#fields.map(([k, v]) => [k, v]);
  }

  [Symbol.iterator](): Iterator<[string, string]> {
    return this.entries()[Symbol.iterator]();
  }

  /**
   * The whole form as a dictionary of value lists. The object has no
   * prototype, so a field named `__proto__` is an ordinary key.
   *
   * @example
   * ```ts
   * JSON.stringify(form.toDict()); // {"tag":["red","green"],"q":["shoes"]}
   * ```
   */
  toDict(): Record<string, string[]> {
    const dict: Record<string, string[]> = Object.create(null);
    for (const [k, v] of this.#fields) (dict[k] ??= []).push(v);
    return dict;
  }

  /**
   * The file uploaded in field `name` (the `index`-th when several were), or
   * `undefined`.
   *
   * @example
   * ```ts
   * const avatar = form.file('avatar');
   * ```
   */
  file(name: string, index = 0): UploadedFile | undefined {
    return this.#files.filter((f) => f.fieldName === name)[index];
  }

  /**
   * The files uploaded in field `name`, or every uploaded file.
   *
   * @example
   * ```ts
   * for (const f of form.files('photos')) await f.save(`/srv/photos/${randomUUID()}`);
   * ```
   */
  files(name?: string): UploadedFile[] {
    return this.#files.filter((f) => name === undefined || f.fieldName === name);
  }

  /** The text fields as `URLSearchParams`. */
  toURLSearchParams(): URLSearchParams {
    return new URLSearchParams(this.entries());
  }
}
