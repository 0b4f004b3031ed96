import type { Expiry } from '../config/expiry.js';
import { MAX_LIFETIME_SECONDS, parseExpiry } from '../config/expiry.js';
import { parseDateWithFormat } from '../config/strptime.js';
import { addFlash, takeFlashes, type FlashMessage } from './flash.js';
import { bareObject, stringifyJson, type JsonValue, type SessionData } from './json.js';
import { sameExpiry, sameTimeouts } from './OpenSession.js';
import { readOnlyView } from './readOnlyView.js';
import { SessionReadOnlyError, type ReadOnlyReason } from './SessionReadOnlyError.js';
import { checkUserId, keptAgent, type UserBinding } from './users/userBinding.js';
import type { UserSessionInfo } from './users/liveSessions.js';
import type { RevokeOptions } from './users/UserSessions.js';

/** What a session needs from the policy that opened it (its {@link SessionImpl}). */
export interface SessionHost {
  saveSession(session: Session<object>): Promise<void>;
  /** A fresh id for `session` (regenerate, destroy); throws if the client can no longer be told. */
  renewSessionId(session: Session<object>): string;
  // Optional, so that a host written for the members above still builds; SessionImpl has them all.
  /** Saves the session and unlocks it now; the request makes no further change (`session.release()`). */
  releaseSession?(session: Session<object>): Promise<void>;
  /** Reads the session again from its store (`session.reload()`); whether it was still there. */
  reloadSession?(session: Session<object>): Promise<boolean>;
  /** Moves the stored session's expiry, without writing its data where the store can (`session.touch()`); whether it moved. */
  touchSession?(session: Session<object>): Promise<boolean>;
  /** Whether the session is stored, so that its id is the client's. */
  isStored?(session: Session<object>): boolean;
  /** The live sessions of a user (`session.userSessions()`). */
  userSessions?(session: Session<object>, userId?: string | number): Promise<UserSessionInfo[]>;
  /** Ends a user's sessions (`session.revokeUserSessions()`). */
  revokeUserSessions?(session: Session<object>, options?: RevokeOptions): Promise<number>;
}

/** What `session.login()` may record with the binding. */
export interface LoginDetails {
  /** The User-Agent to show in the list of the user's sessions (`request.login()` gives the request's). */
  userAgent?: string | undefined;
}

/**
 * Server-side limits in seconds: `idle` after the last request, `absolute`
 * after creation. Unset limits come from `PSOSessionIdleTimeout` and
 * `PSOSessionAbsoluteTimeout`.
 */
export interface SessionTimeouts {
  idle?: number | undefined;
  absolute?: number | undefined;
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
  #timeouts: SessionTimeouts | undefined;
  #storedTimeouts: SessionTimeouts | undefined;
  #retired: string[] = [];
  /** Retired ids that must not lead to the new one: a login's or a logout's. */
  readonly #hardRetired = new Set<string>();
  #destroyed = false;
  #keepAsked = false;
  /** Why changes are refused (read-only, released), or `undefined` while they are kept. */
  #frozen: ReadOnlyReason | undefined;
  #view: Record<string, JsonValue> | undefined;
  #user: UserBinding | undefined;
  #storedUser: UserBinding | undefined;
  #userChanged = false;
  #idBorn: number;
  /** @internal */
  created: number;

  /** @internal Sessions are made by {@link SessionImpl}. */
  constructor(init: {
    id: string;
    isNew: boolean;
    data: Record<string, JsonValue>;
    created: number;
    expiry?: Expiry | undefined;
    timeouts?: SessionTimeouts | undefined;
    host: SessionHost;
    /** The data as JSON, when the caller has it already. */
    snapshot?: string | undefined;
    /** The user it is bound to, as stored. */
    user?: UserBinding | undefined;
    /** When its id was issued, when not at creation. */
    born?: number | undefined;
  }) {
    this.#id = init.id;
    this.#isNew = init.isNew;
    this.#data = bareObject(init.data);
    this.#snapshot = init.snapshot ?? JSON.stringify(this.#data);
    this.#expiry = init.expiry;
    this.#storedExpiry = init.expiry;
    this.created = init.created;
    this.#host = init.host;
    this.#timeouts = init.timeouts;
    this.#storedTimeouts = init.timeouts;
    this.#user = init.user;
    this.#storedUser = init.user;
    this.#idBorn = init.born ?? init.created;
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
    this.#writable(`set ${JSON.stringify(key)}`);
    this.#data[key] = value as JsonValue;
    return this;
  }

  /** Whether `key` holds a value. */
  has(key: keyof D & string): boolean {
    return Object.hasOwn(this.#data, key);
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: keyof D & string): boolean {
    this.#writable(`delete ${JSON.stringify(key)}`);
    const had = Object.hasOwn(this.#data, key);
    delete this.#data[key];
    return had;
  }

  /** Removes every key. */
  clear(): void {
    this.#writable('clear the session');
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
    this.#writable(`increment ${JSON.stringify(key)}`);
    const current = Object.hasOwn(this.#data, key) ? this.#data[key] : 0;
    if (typeof current !== 'number') {
      throw new TypeError(`session value ${JSON.stringify(key)} is a ${typeof current}, not a number`);
    }
    const next = current + by;
    this.#data[key] = next;
    return next;
  }

  /**
   * Sets when the session ends, in every form of the How-To:
   * - `expire()`: when the browser closes (the default);
   * - `expire(0)`: right away (the stored session is deleted and the cookie cleared);
   * - `expire(seconds)`: that many seconds after the last request;
   * - `expire({ date: epochSeconds })` or `expire(aDate)`: at a given time;
   * - `expire(text, format)`: at a time written with a strptime-style format;
   * - `expire(text)`: seconds, an integer expression or an HTTP date, as the directive takes.
   *
   * @throws RangeError for negative, non-finite or over-long lifetimes;
   *   DateFormatError when `text` does not match `format`.
   * @example
   * ```ts
   * session.expire(15 * 60);
   * session.expire({ date: Date.now() / 1000 + 2 * 24 * 3600 });
   * session.expire('Mon, 15 APR 2001 19:00:00', '%a, %d %b %Y %H:%M:%S');
   * ```
   */
  expire(): this;
  expire(seconds: number): this;
  expire(when: Date | { date: number }): this;
  expire(text: string, format?: string): this;
  expire(when?: number | Date | { date: number } | string, format?: string): this {
    this.#writable('change the expiry');
    this.#keepAsked = true;
    if (when === undefined) {
      this.#expiry = { kind: 'browser' };
    } else if (typeof when === 'number') {
      if (!Number.isFinite(when) || when < 0 || when > MAX_LIFETIME_SECONDS) {
        throw new RangeError(`session.expire(${when}): seconds must be from 0 to ${MAX_LIFETIME_SECONDS}`);
      }
      this.#expiry = { kind: 'after', seconds: Math.floor(when) };
    } else if (when instanceof Date) {
      this.#expiry = at(when.getTime(), 'a Date');
    } else if (typeof when === 'string') {
      const parsed = format === undefined ? parseExpiry(when, 'session.expire()') : undefined;
      // An HTTP date gets the same range check as every other date form.
      this.#expiry = parsed === undefined ? at(parseDateWithFormat(when, format!), 'the date') : parsed.kind === 'at' ? at(parsed.time, 'the date') : parsed;
    } else if (when && typeof when === 'object' && typeof when.date === 'number') {
      this.#expiry = at(when.date * 1000, '{ date }');
    } else {
      throw new TypeError('session.expire() takes nothing, seconds, a Date, { date: epochSeconds }, or a date string and its format');
    }
    return this;
  }

  /**
   * Sets server-side timeouts for this session (kept across requests): `idle`
   * seconds after the last request and `absolute` seconds after creation,
   * whichever comes first. `undefined` leaves a limit to the directives.
   *
   * @example
   * ```ts
   * session.setTimeouts({ idle: 30 * 60, absolute: 8 * 3600 });
   * ```
   */
  setTimeouts(timeouts: SessionTimeouts): this {
    this.#writable('change the timeouts');
    const next: SessionTimeouts = {};
    for (const key of ['idle', 'absolute'] as const) {
      const v = timeouts[key];
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 1 || v > MAX_LIFETIME_SECONDS) {
        throw new RangeError(`session.setTimeouts(): ${key} must be from 1 to ${MAX_LIFETIME_SECONDS} seconds`);
      }
      next[key] = Math.floor(v);
    }
    this.#timeouts = next.idle === undefined && next.absolute === undefined ? undefined : next;
    return this;
  }

  /** The timeouts set in code, if any. */
  get timeouts(): SessionTimeouts | undefined {
    return this.#timeouts;
  }

  /**
   * Gives the session a new id, keeping its data. For a session bound to a
   * user ({@link login}), the old id still leads to the new one for
   * `PSOSessionRotateGrace` seconds (default 5), so that the user's parallel
   * requests, and a retry after a lost response, are not logged out; for any
   * other session the old id ends with the request, as it must when
   * `regenerate()` is how a login changes the id (an id planted before the
   * login is then worth nothing after it). {@link login} does both at once.
   *
   * @throws HeadersSentError if the response headers have already gone out.
   * @example
   * ```ts
   * if (checkPassword(user, password)) {
   *   request.session.regenerate().set('user', user);
   * }
   * ```
   */
  regenerate(): this {
    this.#writable('change the session id');
    return this.#retire(this.#user === undefined);
  }

  /** @internal A new id whose old one leads to it for the grace period (`PSOSessionRotate`). */
  rotate(): this {
    return this.#retire(false);
  }

  /**
   * Logs the session in as `userId`: a new id (the old one ends at once,
   * with no grace: an id planted before a login is worth nothing after it),
   * data kept, and the session bound to the user in the store's index, so
   * that the user's sessions can be listed ({@link userSessions}) and ended
   * ({@link revokeUserSessions}: "log out everywhere"). `request.login(userId)`
   * also records the request's User-Agent.
   *
   * @throws TypeError for a user id that is not 1 to 200 characters (or an integer);
   *   HeadersSentError if the response headers have already gone out.
   * @example
   * ```ts
   * if (await checkPassword(name, password)) request.session.login(name);
   * ```
   */
  login(userId: string | number, details: LoginDetails = {}): this {
    this.#writable('log in');
    const id = checkUserId(userId);
    this.#retire(true);
    this.#user = { id, at: Date.now(), agent: keptAgent(details.userAgent) };
    if (this.#user.agent === undefined) delete this.#user.agent;
    this.#userChanged = true;
    return this;
  }

  /** The user the session is bound to ({@link login}), or `undefined`. */
  get userId(): string | undefined {
    return this.#user?.id;
  }

  /**
   * The live sessions of the session's user, or of `userId`: when each was
   * created and last seen, its User-Agent, which one is this (`current`).
   * This request's session is listed once it has been saved.
   *
   * @throws ConfigurationError when the store keeps no index of users' sessions (the cookie store, a connect store).
   * @example
   * ```ts
   * for (const s of await request.session.userSessions()) request.write(`${s.userAgent} ${new Date(s.lastSeen!)}\n`);
   * ```
   */
  userSessions(userId?: string | number): Promise<UserSessionInfo[]> {
    if (!this.#host.userSessions) return Promise.reject(new TypeError('this session policy cannot list users\' sessions'));
    return this.#host.userSessions(this, userId);
  }

  /**
   * Ends every session of the session's user (or of `options.user`): "log out
   * everywhere". With `keepCurrent`, this request's session stays ("log out
   * everywhere else", or one session per user right after `login()`);
   * otherwise it ends too (destroyed, its cookie cleared). A session that
   * another request holds at that moment ends as well: it is refused on its
   * next load. Returns how many live sessions ended.
   *
   * @throws ConfigurationError when the store keeps no index of users' sessions.
   * @example
   * ```ts
   * await request.session.revokeUserSessions({ keepCurrent: true });
   * ```
   */
  revokeUserSessions(options?: RevokeOptions): Promise<number> {
    if (!this.#host.revokeUserSessions) return Promise.reject(new TypeError('this session policy cannot revoke users\' sessions'));
    return this.#host.revokeUserSessions(this, options);
  }

  /** @internal The binding to a user, as it stands. */
  get userBinding(): UserBinding | undefined {
    return this.#user;
  }

  /** @internal Whether the binding changed since loaded or last saved (a login, a revocation that kept the session). */
  get bindingChanged(): boolean {
    return this.#userChanged;
  }

  /** @internal The user of the binding as last stored. */
  get storedUserId(): string | undefined {
    return this.#storedUser?.id;
  }

  /** @internal Replaces the binding (its generation, times); it is written with the next save. */
  updateBinding(binding: UserBinding): void {
    if (!this.#user || binding.id !== this.#user.id) throw new Error('updateBinding() changes a binding, never its user');
    if (binding.gen !== this.#user.gen) this.#userChanged = true;
    this.#user = binding;
  }

  /** @internal When the current id was issued (ms): `PSOSessionRotate` counts from it. */
  get idBorn(): number {
    return this.#idBorn;
  }

  /** @internal Whether a retired id must not lead to the new one (it was given up by a login or a logout). */
  isHardRetired(id: string): boolean {
    return this.#hardRetired.has(id);
  }

  #retire(hard: boolean): this {
    const next = this.#host.renewSessionId(this);
    this.#keepAsked = true;
    this.#retired.push(this.#id);
    if (hard) this.#hardRetired.add(this.#id);
    this.#id = next;
    this.#idBorn = Date.now();
    return this;
  }

  /**
   * Deletes the session on the server and clears the cookie (log out). The
   * data is emptied; setting data again starts a brand-new session.
   *
   * @example
   * ```ts
   * request.session.destroy();
   * request.redirect('/');
   * ```
   */
  destroy(): this {
    this.#writable('destroy the session');
    this.#retire(true);
    this.#user = undefined;
    this.#data = bareObject();
    this.#destroyed = true;
    this.#isNew = true;
    this.#expiry = undefined;
    this.#timeouts = undefined;
    this.created = Date.now();
    return this;
  }

  /** @internal Ids this session had before, to delete from the store. */
  get retiredIds(): readonly string[] {
    return this.#retired;
  }

  /** @internal Whether `destroy()` was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * @internal Whether the handler asked for this session to be kept even while
   * it holds nothing (`save()`, `regenerate()`, `expire()`): a new, empty
   * session is otherwise neither stored nor sent.
   */
  get keepAsked(): boolean {
    return this.#keepAsked;
  }

  /** @internal Forgets the retired ids once deleted. */
  clearRetired(): void {
    this.#retired = [];
    this.#hardRetired.clear();
  }

  /** Whether the session holds no data. */
  get isEmpty(): boolean {
    for (const _ in this.#data) return false;
    return true;
  }

  /** The expiry set in code, if any (otherwise directives decide). */
  get expiry(): Expiry | undefined {
    return this.#expiry;
  }

  /** Back to the data as loaded at the start of the request, or as last saved. */
  revert(): this {
    // Nothing can have changed since the session was frozen.
    if (this.#frozen) return this;
    this.#data = bareObject(JSON.parse(this.#snapshot));
    this.#expiry = this.#storedExpiry;
    this.#timeouts = this.#storedTimeouts;
    this.#user = this.#storedUser;
    this.#userChanged = false;
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
    this.#writable('save the session');
    this.#keepAsked = true;
    await this.#host.saveSession(this);
  }

  // ---- flash messages, early release, reload and touch (docs/recipes/flash.md, release.md, reload-touch.md)

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
    this.#writable('flash a message');
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
    this.#writable('take flash messages (taking them changes the session)');
    return takeFlashes(this.#data, kind);
  }

  /**
   * Saves the session and unlocks it now, before the handler ends, as PHP's
   * `session_write_close()`: the same visitor's parallel requests no longer
   * wait for this one (a long upload, a stream, a poll). The session can
   * still be read; a change after it is a {@link SessionReadOnlyError}. The
   * cookie still goes out with the response.
   *
   * @example
   * ```ts
   * request.session.set('export', 'started');
   * await request.session.release();
   * await streamTheExport(request); // other tabs of the same visitor go on meanwhile
   * ```
   */
  async release(): Promise<void> {
    await this.#hostPart('releaseSession', 'release()')(this);
  }

  /**
   * Reads the session again from its store, dropping unsaved changes: what
   * parallel requests saved meanwhile shows. Resolves `false` when the stored
   * session is gone (expired, destroyed elsewhere): the session is then
   * empty and new, as a request with that id would find it, and gets a
   * fresh id. A session not stored yet has nothing to read: `false`, unchanged.
   *
   * @example
   * ```ts
   * await request.session.release();
   * await waitForJob();
   * if (await request.session.reload()) request.write(String(request.session.get('progress')));
   * ```
   */
  reload(): Promise<boolean> {
    return this.#hostPart('reloadSession', 'reload()')(this);
  }

  /**
   * Moves the stored session's expiry to a full lifetime from now, without
   * writing its data where the store can (PostgreSQL, MySQL; the others
   * rewrite the record as stored). A read-only or released session may be
   * touched: the store's lock is taken for the moment of the touch. Resolves
   * whether the expiry moved (`false` for a session not stored, or one busy
   * in another request, which moves it itself).
   *
   * @example
   * ```ts
   * // a long poll, opened read-only, keeps the session alive
   * await request.session.touch();
   * ```
   */
  touch(): Promise<boolean> {
    return this.#hostPart('touchSession', 'touch()')(this);
  }

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

  /**
   * @internal Keeps the session (stores it and sends its id) though it may
   * hold no data, as a CSRF token needs; a frozen one only if it is stored.
   */
  keep(what: string): void {
    if (this.#frozen) {
      if (!this.#hostPart('isStored', 'keep()')(this)) this.#writable(what);
      return;
    }
    this.#keepAsked = true;
  }

  /** @internal The stored state read again (`reload()`), or an empty new session when it is gone. */
  replaceWith(stored: { data: Record<string, JsonValue>; created: number; expiry?: Expiry | undefined; timeouts?: SessionTimeouts | undefined } | undefined, snapshot?: string): void {
    this.#data = bareObject(stored?.data ?? {});
    this.#snapshot = snapshot ?? JSON.stringify(this.#data);
    this.#expiry = this.#storedExpiry = stored?.expiry;
    this.#timeouts = this.#storedTimeouts = stored?.timeouts;
    this.created = stored?.created ?? Date.now();
    this.#isNew = stored === undefined;
    if (!stored) this.#keepAsked = false;
    this.#view = undefined;
  }

  #hostPart<K extends 'releaseSession' | 'reloadSession' | 'touchSession' | 'isStored'>(name: K, what: string): NonNullable<SessionHost[K]> {
    const part = this.#host[name];
    if (typeof part !== 'function') throw new TypeError(`session.${what} needs a host with ${name}() (SessionImpl has it)`);
    return part.bind(this.#host) as NonNullable<SessionHost[K]>;
  }

  #readable(): Record<string, JsonValue> {
    if (!this.#frozen) return this.#data;
    return (this.#view ??= readOnlyView(this.#data, (what) => this.#refuse(what)));
  }

  #writable(what: string): void {
    if (this.#frozen) this.#refuse(what);
  }

  #refuse(what: string): never {
    throw new SessionReadOnlyError(this.#frozen!, what);
  }

  /** Whether the data, the expiry or the timeouts differ from what was loaded or last saved. */
  get isModified(): boolean {
    return JSON.stringify(this.#data) !== this.#snapshot || this.lifeChanged;
  }

  /** @internal Whether the expiry or the timeouts set in code differ from what was loaded or last saved. */
  get lifeChanged(): boolean {
    return !sameExpiry(this.#expiry, this.#storedExpiry) || !sameTimeouts(this.#timeouts, this.#storedTimeouts) || this.#userChanged;
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
    this.#storedTimeouts = this.#timeouts;
    this.#storedUser = this.#user;
    this.#userChanged = false;
  }

  /** @internal The snapshot of the data (JSON), for change detection. */
  get snapshot(): string {
    return this.#snapshot;
  }
}

function at(time: number, what: string): Expiry {
  if (!Number.isFinite(time) || time < 0 || time > Date.now() + MAX_LIFETIME_SECONDS * 1000) {
    throw new RangeError(`session.expire(): ${what} must lie between 1970 and ten years from now`);
  }
  return { kind: 'at', time: Math.floor(time) };
}
