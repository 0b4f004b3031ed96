import type { Expiry } from '../config/expiry.js';
import { MAX_LIFETIME_SECONDS } from '../config/expiry.js';
import { bareObject, stringifyJson, type JsonValue, type SessionData } from './json.js';

/** What a session needs from the policy that opened it (its {@link SessionImpl}). */
export interface SessionHost {
  saveSession(session: Session<any>): Promise<void>;
}

/**
 * One visitor's session: JSON data plus its lifetime. Handlers get it as
 * `request.session` (or `request.pso().session`).
 *
 * @typeParam D - the shape of the data; see {@link SessionData}.
 * @example
 * ```ts
 * // The How-To's `session['reloads'] += 1`, with a start at 1:
 * const reloads = request.session.increment('reloads');
 * request.session.set('user', { name: 'ada' });
 * request.session.data.theme = 'dark';
 * ```
 */
export class Session<D extends object = SessionData> {
  #id: string;
  #isNew: boolean;
  #data: Record<string, JsonValue>;
  #snapshot: string;
  #expiry: Expiry | undefined;
  #storedExpiry: Expiry | undefined;
  #host: SessionHost;
  /** @internal */
  readonly created: number;

  /** @internal Sessions are made by {@link SessionImpl}. */
  constructor(init: {
    id: string;
    isNew: boolean;
    data: Record<string, JsonValue>;
    created: number;
    expiry?: Expiry | undefined;
    host: SessionHost;
  }) {
    this.#id = init.id;
    this.#isNew = init.isNew;
    this.#data = bareObject(init.data);
    this.#snapshot = JSON.stringify(this.#data);
    this.#expiry = init.expiry;
    this.#storedExpiry = init.expiry;
    this.created = init.created;
    this.#host = init.host;
  }

  /** The session id (what the cookie carries). */
  get id(): string {
    return this.#id;
  }

  /** True when this request created the session. */
  get isNew(): boolean {
    return this.#isNew;
  }

  /**
   * The data, to read and assign directly. Values must be JSON; anything else
   * is refused with a {@link SessionDataError} when the session is saved.
   */
  get data(): Partial<D> {
    return this.#data as Partial<D>;
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
    return Object.hasOwn(this.#data, key) ? this.#data[key] : fallback;
  }

  /** Stores `value` under `key`. */
  set<K extends keyof D & string>(key: K, value: D[K]): this {
    this.#data[key] = value as JsonValue;
    return this;
  }

  /** Whether `key` holds a value. */
  has(key: keyof D & string): boolean {
    return Object.hasOwn(this.#data, key);
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: keyof D & string): boolean {
    const had = Object.hasOwn(this.#data, key);
    delete this.#data[key];
    return had;
  }

  /** Removes every key. */
  clear(): void {
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
    const current = Object.hasOwn(this.#data, key) ? this.#data[key] : 0;
    if (typeof current !== 'number') {
      throw new TypeError(`session value ${JSON.stringify(key)} is a ${typeof current}, not a number`);
    }
    const next = current + by;
    this.#data[key] = next;
    return next;
  }

  /**
   * Sets when the session ends:
   * - `expire()`: when the browser closes (the default);
   * - `expire(0)`: right away;
   * - `expire(seconds)`: that many seconds after the last request.
   *
   * @example
   * ```ts
   * request.session.expire(15 * 60);
   * ```
   */
  expire(seconds?: number): this {
    if (seconds === undefined) {
      this.#expiry = { kind: 'browser' };
    } else {
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_LIFETIME_SECONDS) {
        throw new RangeError(`session.expire(${seconds}): seconds must be from 0 to ${MAX_LIFETIME_SECONDS}`);
      }
      this.#expiry = { kind: 'after', seconds: Math.floor(seconds) };
    }
    return this;
  }

  /** The expiry set in code, if any (otherwise directives decide). */
  get expiry(): Expiry | undefined {
    return this.#expiry;
  }

  /** Back to the data as loaded at the start of the request, or as last saved. */
  revert(): this {
    this.#data = bareObject(JSON.parse(this.#snapshot));
    this.#expiry = this.#storedExpiry;
    return this;
  }

  /**
   * Saves now, before the handler ends (it is saved at the end anyway).
   *
   * @example
   * ```ts
   * request.session.set('step', 2);
   * await request.session.save(); // before a long operation
   * ```
   */
  async save(): Promise<void> {
    await this.#host.saveSession(this);
  }

  /** Whether the data differs from what was loaded or last saved. */
  get isModified(): boolean {
    return JSON.stringify(this.#data) !== this.#snapshot || this.#expiry !== this.#storedExpiry;
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

  /** @internal Marks the current state as saved. */
  markSaved(dataJson: string): void {
    this.#snapshot = dataJson;
    this.#storedExpiry = this.#expiry;
  }

  /** @internal The snapshot of the data (JSON), for change detection. */
  get snapshot(): string {
    return this.#snapshot;
  }
}
