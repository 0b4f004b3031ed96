import { addFlash, takeFlashes, type FlashMessage } from './flash.js';
import { bareObject, stringifyJson, type JsonValue, type SessionData } from './json.js';
import { readOnlyView } from './readOnlyView.js';
import { SessionReadOnlyError, type ReadOnlyReason } from './SessionReadOnlyError.js';

/**
 * What a session holds: its JSON data, read and changed through the methods
 * below (flash messages included), the data as loaded or last saved, and the
 * guard that refuses changes once the session is read-only or released.
 * {@link Session} adds the id, the lifetime and the policy's operations.
 *
 * @typeParam D - the shape of the data; see {@link SessionData}.
 * @example
 * ```ts
 * request.session.set('cart', [1, 2]).get('cart'); // [1, 2]
 * ```
 */
export abstract class SessionContents<D extends object = SessionData> {
  #data: Record<string, JsonValue>;
  #snapshot: string;
  #keepAsked = false;
  /** Why changes are refused (read-only, released), or `undefined` while they are kept. */
  #frozen: ReadOnlyReason | undefined;
  #view: Record<string, JsonValue> | undefined;

  protected constructor(data: Record<string, JsonValue>, snapshot: string | undefined) {
    this.#data = bareObject(data);
    this.#snapshot = snapshot ?? JSON.stringify(this.#data);
  }

  /**
   * The data, to read and assign directly. Values must be JSON; anything else
   * is refused with a {@link SessionDataError} when the session is saved.
   */
  get data(): Partial<D> {
    return this.#readable() as Partial<D>;
  }

  /**
   * The value under `key`, or `fallback` when there is none.
   *
   * @example
   * ```ts
   * const cart = session.get('cart', []);
   * ```
   */
  get<K extends keyof D & string>(key: K): D[K] | undefined;
  get<K extends keyof D & string>(key: K, fallback: D[K]): D[K];
  get(key: string, fallback?: unknown): unknown {
    return Object.hasOwn(this.#data, key) ? this.#readable()[key] : fallback;
  }

  /** Stores `value` under `key`. @throws SessionReadOnlyError in a read-only or released session. */
  set<K extends keyof D & string>(key: K, value: D[K]): this {
    this.assertWritable(`set ${JSON.stringify(key)}`);
    this.#data[key] = value as JsonValue;
    return this;
  }

  /** Whether `key` holds a value. */
  has(key: keyof D & string): boolean {
    return Object.hasOwn(this.#data, key);
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: keyof D & string): boolean {
    this.assertWritable(`delete ${JSON.stringify(key)}`);
    const had = Object.hasOwn(this.#data, key);
    delete this.#data[key];
    return had;
  }

  /** Removes every key. */
  clear(): void {
    this.assertWritable('clear the session');
    this.#data = bareObject();
  }

  /** The keys that hold values. */
  keys(): string[] {
    return Object.keys(this.#data);
  }

  /**
   * Adds `by` to the number under `key` (a missing key counts as 0) and
   * returns the new value: the How-To's `try: s['reloads'] += 1 except: s['reloads'] = 1`.
   *
   * @throws TypeError if `key` holds something other than a number.
   * @example
   * ```ts
   * request.write(`You reloaded: ${request.session.increment('reloads')} times`);
   * ```
   */
  increment(key: keyof D & string, by = 1): number {
    this.assertWritable(`increment ${JSON.stringify(key)}`);
    const current = Object.hasOwn(this.#data, key) ? this.#data[key] : 0;
    if (typeof current !== 'number') {
      throw new TypeError(`session value ${JSON.stringify(key)} is a ${typeof current}, not a number`);
    }
    const next = current + by;
    this.#data[key] = next;
    return next;
  }

  /** Whether the session holds no data. */
  get isEmpty(): boolean {
    for (const _ in this.#data) return false;
    return true;
  }

  // ---- flash messages (docs/recipes/flash.md)

  /**
   * Leaves a message for the next page the visitor sees: it waits in the
   * session until {@link flashes} takes it. A redirect after a POST shows it
   * safely, since pso saves the session before the redirect goes out.
   *
   * @throws TypeError for a `kind` that is not 1 to 64 characters or a `message` that is not a string;
   *   SessionReadOnlyError in a read-only or released session.
   * @example
   * ```ts
   * request.session.flash('info', 'Your note was saved');
   * request.redirect('/', 303);
   * ```
   */
  flash(kind: string, message: string): this {
    this.assertWritable('flash a message');
    addFlash(this.#data, kind, message);
    return this;
  }

  /**
   * Takes the messages left by {@link flash} (of one `kind`, or all), oldest
   * first: each is given once, then it is gone from the session.
   *
   * @throws SessionReadOnlyError in a read-only or released session (taking a message changes the session).
   * @example
   * ```ts
   * for (const { kind, message } of request.session.flashes()) request.write(`<p class="${kind}">${escape(message)}</p>`);
   * ```
   */
  flashes(kind?: string): FlashMessage[] {
    this.assertWritable('take flash messages (taking them changes the session)');
    return takeFlashes(this.#data, kind);
  }

  // ---- read-only sessions (docs/recipes/release.md)

  /**
   * Whether changes are refused: the session was opened read-only, or released.
   *
   * @example
   * ```ts
   * if (!request.session.readOnly) request.session.increment('views');
   * ```
   */
  get readOnly(): boolean {
    return this.#frozen !== undefined;
  }

  /** @internal Refuses changes from now on. */
  freeze(reason: ReadOnlyReason): void {
    this.#frozen ??= reason;
  }

  /** @throws SessionReadOnlyError, saying what was tried, when the session is read-only or released. */
  protected assertWritable(what: string): void {
    if (this.#frozen) this.#refuse(what);
  }

  #readable(): Record<string, JsonValue> {
    if (!this.#frozen) return this.#data;
    return (this.#view ??= readOnlyView(this.#data, (what) => this.#refuse(what)));
  }

  #refuse(what: string): never {
    throw new SessionReadOnlyError(this.#frozen!, what);
  }

  // ---- the data as JSON, and as loaded or last saved

  /**
   * @internal Whether the handler asked for this session to be kept even while
   * it holds nothing (`save()`, `regenerate()`, `expire()`): a new, empty
   * session is otherwise neither stored nor sent.
   */
  get keepAsked(): boolean {
    return this.#keepAsked;
  }

  /** Records whether the session is kept though it may hold nothing, as `save()`, `regenerate()` and `expire()` ask. */
  protected askToKeep(kept = true): void {
    this.#keepAsked = kept;
  }

  /**
   * The data as JSON text, checked.
   * @internal
   */
  serializeData(): string {
    return stringifyJson(this.#data);
  }

  /** The data as a plain object (a copy). */
  toJSON(): Record<string, JsonValue> {
    return JSON.parse(JSON.stringify(this.#data));
  }

  /** @internal The snapshot of the data (JSON), for change detection. */
  get snapshot(): string {
    return this.#snapshot;
  }

  /** Whether the data differs from what was loaded or last saved. */
  protected get dataModified(): boolean {
    return JSON.stringify(this.#data) !== this.#snapshot;
  }

  /** Empties the data (`destroy()`); what was loaded stays the snapshot. */
  protected emptyData(): void {
    this.#data = bareObject();
  }

  /** Back to the data as loaded or last saved. */
  protected revertData(): void {
    this.#data = bareObject(JSON.parse(this.#snapshot));
  }

  /** The data as stored now (`dataJson`, what was written). */
  protected dataSaved(dataJson: string): void {
    this.#snapshot = dataJson;
  }

  /** Takes `data` as loaded (`reload()`): the data and the snapshot both. */
  protected replaceData(data: Record<string, JsonValue>, snapshot: string | undefined): void {
    this.#data = bareObject(data);
    this.#snapshot = snapshot ?? JSON.stringify(this.#data);
    this.#view = undefined;
  }
}
