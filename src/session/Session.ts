import type { Expiry } from '../config/expiry.js';
import type { JsonValue, SessionData } from './json.js';
import { SessionLifetime } from './SessionLifetime.js';
import type { SessionTimeouts } from './SessionRecord.js';
import { checkUserId, keptAgent, type UserBinding } from './users/userBinding.js';
import type { RevokeOptions, UserSessionInfo } from './users/liveSessions.js';

export type { SessionTimeouts };

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
export class Session<D extends object = SessionData> extends SessionLifetime<D> {
  #id: string;
  #isNew: boolean;
  #host: SessionHost;
  #retired: string[] = [];
  /** Retired ids that must not lead to the new one: a login's or a logout's. */
  readonly #hardRetired = new Set<string>();
  #destroyed = false;
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
    super(init.data, init.snapshot, init.expiry, init.timeouts);
    this.#id = init.id;
    this.#isNew = init.isNew;
    this.created = init.created;
    this.#host = init.host;
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
    this.assertWritable('change the session id');
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
    this.assertWritable('log in');
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
    this.askToKeep();
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
    this.assertWritable('destroy the session');
    this.#retire(true);
    this.#user = undefined;
    this.emptyData();
    this.#destroyed = true;
    this.#isNew = true;
    this.replaceLifetime(undefined, undefined, false);
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

  /** @internal Forgets the retired ids once deleted. */
  clearRetired(): void {
    this.#retired = [];
    this.#hardRetired.clear();
  }

  /** Back to the data as loaded at the start of the request, or as last saved. */
  revert(): this {
    // Nothing can have changed since the session was frozen.
    if (this.readOnly) return this;
    this.revertData();
    this.revertLifetime();
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
    this.assertWritable('save the session');
    this.askToKeep();
    await this.#host.saveSession(this);
  }

  // ---- early release, reload and touch (docs/recipes/release.md, reload-touch.md)

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
   * @internal Keeps the session (stores it and sends its id) though it may
   * hold no data, as a CSRF token needs; a frozen one only if it is stored.
   */
  keep(what: string): void {
    if (this.readOnly) {
      if (!this.#hostPart('isStored', 'keep()')(this)) this.assertWritable(what);
      return;
    }
    this.askToKeep();
  }

  /** @internal The stored state read again (`reload()`), or an empty new session when it is gone. */
  replaceWith(stored: { data: Record<string, JsonValue>; created: number; expiry?: Expiry | undefined; timeouts?: SessionTimeouts | undefined } | undefined, snapshot?: string): void {
    this.replaceData(stored?.data ?? {}, snapshot);
    this.replaceLifetime(stored?.expiry, stored?.timeouts, true);
    this.created = stored?.created ?? Date.now();
    this.#isNew = stored === undefined;
    if (!stored) this.askToKeep(false);
  }

  #hostPart<K extends 'releaseSession' | 'reloadSession' | 'touchSession' | 'isStored'>(name: K, what: string): NonNullable<SessionHost[K]> {
    const part = this.#host[name];
    if (typeof part !== 'function') throw new TypeError(`session.${what} needs a host with ${name}() (SessionImpl has it)`);
    return part.bind(this.#host) as NonNullable<SessionHost[K]>;
  }

  /** Whether the data, the expiry or the timeouts differ from what was loaded or last saved. */
  get isModified(): boolean {
    return this.dataModified || this.lifeChanged;
  }

  /** @internal Whether the expiry or the timeouts set in code differ from what was loaded or last saved. */
  get lifeChanged(): boolean {
    return this.lifetimeChanged || this.#userChanged;
  }

  /** @internal Marks the current state as saved. */
  markSaved(dataJson: string): void {
    this.dataSaved(dataJson);
    this.lifetimeSaved();
    this.#storedUser = this.#user;
    this.#userChanged = false;
  }
}
