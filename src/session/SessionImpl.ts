import { inject, injectable } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { DEFAULT_IDLE_SECONDS, DEFAULT_LOCK_TIMEOUT_SECONDS, DEFAULT_MAX_SESSION_BYTES } from '../config/defaults.js';
import { readBytes, readExpiry, readSeconds } from '../config/directives.js';
import type { Expiry } from '../config/expiry.js';
import { TOKENS } from '../container/tokens.js';
import { sha256 } from '../util/sha256.js';
import { HeadersSentError } from './HeadersSentError.js';
import type { KeyedMutex, Release } from './locks/KeyedMutex.js';
import { GcSchedule } from './GcSchedule.js';
import { cookieNeeded, endOf, hasEnded, keepsNothing, lifetimeEnd, plannedExpires, sizeOver } from './lifetime.js';
import { SessionBusyError } from './locks/SessionBusyError.js';
import { openingState, type OpenSession } from './OpenSession.js';
import { Session, type SessionHost } from './Session.js';
import { SessionError } from './SessionError.js';
import { SessionReadOnlyError } from './SessionReadOnlyError.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import type { SessionData } from './json.js';
import { CorruptSessionError, type SessionRecord } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';
import { SessionStoreError } from './SessionStoreError.js';
import { forcedIdOf, ServiceIds } from './serviceIds.js';
import type { SessionStore } from './stores/SessionStore.js';
import { StoreAccess } from './stores/StoreAccess.js';
import { forwardRecord, forwardTarget, graceMs, MAX_FORWARDS, rotationDue } from './rotation/rotation.js';
import type { UserSessionInfo } from './users/liveSessions.js';
import { UserSessions, type RevokeOptions } from './users/UserSessions.js';

/** How {@link SessionImpl.open} opens a session. */
export interface OpenOptions {
  /**
   * Read-only: no lock is taken and nothing is saved, so the same visitor's
   * other requests never wait for this one; a change is a `SessionReadOnlyError`.
   */
  readOnly?: boolean | undefined;
}

/** What {@link SessionImpl.save} is told about a save. */
export interface SaveHints {
  /** The save that ends the request; the lock is released right after it. */
  final: boolean;
}

/**
 * The session policy: how a request's session is found, created, stored,
 * locked and sent back. The algorithm of How-To section 4, made safe, is
 * {@link open} and {@link close}; the rest are the How-To's hooks, each one
 * member to override:
 *
 * - identification: {@link getSessionId} and {@link sendSessionId} ({@link CookieSession} uses a cookie);
 * - storage: {@link load}, {@link save}, {@link remove}, {@link lock}, by default on the
 *   {@link SessionStore} that {@link storeFor} gives ({@link CookieFileImpl}: files);
 * - ids: {@link newSessionId}, {@link isValidSessionId}.
 *
 * @example
 * ```ts
 * // The How-To's database recipe as hooks (a SessionStore is shorter: docs/stores.md).
 * class MySQLImpl extends CookieSession {
 *   override async load(request: ServiceRequest, id: string) { ... }
 *   override async save(request: ServiceRequest, id: string, record: SessionRecord) { ... }
 *   override async remove(request: ServiceRequest, id: string) { ... }
 * }
 * new ServiceHandler().run(handler, { sessionImpl: MySQLImpl });
 * ```
 */
@injectable()
export abstract class SessionImpl implements SessionHost {
  readonly #serviceIds = new ServiceIds();
  /** The open session of each request, found by request (hooks) or by session. */
  readonly #byRequest = new WeakMap<SessionRequest, OpenSession>();
  readonly #bySession = new WeakMap<Session<object>, OpenSession>();
  readonly #gc = new GcSchedule();
  readonly #storage: StoreAccess;
  readonly #users: UserSessions;
  /** Requests whose id was replaced by `regenerate()` and led to the new one: the client is sent the new id. */
  readonly #forwarded = new WeakSet<SessionRequest>();

  constructor(
    @inject(TOKENS.SessionIdGenerator) protected readonly ids: SessionIdGenerator,
    @inject(TOKENS.SessionMutex) protected readonly mutex: KeyedMutex,
  ) {
    this.#storage = new StoreAccess({
      name: this.constructor.name,
      storeFor: (request) => this.storeFor(request),
      storeKey: (request, id) => this.storeKey(request, id),
      legacyKey: (request, id) => `${this.getServiceId(request)}:${id}`,
      stateOf: (request) => this.#byRequest.get(request),
    }, mutex);
    this.#users = new UserSessions({
      name: this.constructor.name,
      getServiceId: (request) => this.getServiceId(request),
      storeKey: (request, id) => this.storeKey(request, id),
      storeFor: (request) => this.storeFor(request),
    });
  }

  // ---- identification -------------------------------------------------------

  /**
   * The service id: the `PSOServiceId` directive, else the handler module's
   * name made a valid cookie name. It names the cookie and the session's namespace.
   *
   * @throws ConfigurationError when `PSOServiceId` is not a valid cookie name.
   */
  getServiceId(request: SessionRequest): string {
    return this.#serviceIds.of(request);
  }

  /** The session id the client presented, or `undefined`; checked with {@link isValidSessionId} and looked up before use. */
  abstract getSessionId(request: SessionRequest): string | undefined | Promise<string | undefined>;

  /**
   * Tells the client its session id (a cookie, for {@link CookieSession}).
   * `expires` is when the session ends (`undefined`: when the browser closes);
   * `clear` asks the client to forget the id.
   */
  abstract sendSessionId(request: SessionRequest, session: Session<object>, expires: number | undefined, clear: boolean): void;

  /** Checks the directives this policy depends on before anything is stored. @throws ConfigurationError naming the directive. */
  checkConfiguration(request: SessionRequest): void {
    readExpiry(request);
  }

  /** The id a directive named by the service id forces (`SetEnv MyService 0123abc`). @throws ConfigurationError for an invalid one. */
  getForcedSessionId(request: SessionRequest): string | undefined {
    return forcedIdOf(this.getServiceId(request), (key) => request.getEnviron(key));
  }

  /**
   * A new session id; the default has 160 random bits.
   *
   * @example
   * ```ts
   * class MyImpl extends CookieFileImpl {
   *   override newSessionId() { return `u-${randomUUID()}`; }
   *   override isValidSessionId(id: string) { return /^u-[0-9a-f-]{36}$/.test(id); }
   * }
   * ```
   */
  newSessionId(_request: SessionRequest): string {
    return this.ids.generate();
  }

  /** Whether `id` has the exact shape of the ids this policy makes (anything else is ignored). */
  isValidSessionId(id: string): boolean {
    return this.ids.isWellFormed(id);
  }

  /**
   * Whether the client must be sent its id again though nothing changed: it
   * was signed with an older secret, or it was an id `regenerate()` replaced,
   * which led to the new one.
   */
  reissueId(request: SessionRequest): boolean {
    return (this.#byRequest.get(request)?.resign ?? false) || this.#forwarded.has(request);
  }

  /** Adds what a URL needs to carry the session (`request.mkurl()`); the default adds nothing. */
  decorateUrl(_request: SessionRequest, _session: Session<object>, _params: URLSearchParams): void {}

  // ---- storage ------------------------------------------------------------------

  /** The store this request's sessions are kept in (for the default storage hooks), or `undefined`. */
  storeFor(_request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined> {
    return undefined;
  }

  /**
   * The store key of a session: `<service id>:~<hash>`, the SHA-256 of the id,
   * so that a copy of the store (a backup, a leaked dump) gives no live id.
   */
  storeKey(request: SessionRequest, id: string): string {
    return `${this.getServiceId(request)}:~${sha256(id)}`;
  }

  /**
   * Reads a stored session, or `undefined`. Throw {@link CorruptSessionError}
   * for data that cannot be read back: the client then gets a new session and
   * the log says why. The default reads from {@link storeFor}'s store.
   */
  load(request: SessionRequest, id: string): Promise<SessionRecord | undefined> {
    return this.#storage.load(request, id);
  }

  /**
   * Stores a session (creating or replacing it). `hints.final` is set for the
   * save that ends the request, just before the lock is released: a store
   * that can write and unlock in one step does so.
   */
  save(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    return this.#storage.save(request, id, record, hints?.final ?? false);
  }

  /** Moves a stored session's expiry when its data did not change; without a store, {@link save}. */
  async touch(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    const store = await this.storeFor(request);
    return store ? this.#storage.touch(request, id, record, hints?.final ?? false) : this.save(request, id, record, hints);
  }

  /** Deletes a stored session; no error if there is none. */
  remove(request: SessionRequest, id: string): Promise<void> {
    return this.#storage.remove(request, id);
  }

  /**
   * Holds the session for this request, from load to save, so that concurrent
   * requests never lose each other's writes: inside this process, then in the
   * store, across processes (reading the record in the same step where it can).
   *
   * @throws SessionBusyError when the session stays locked longer than `PSOSessionLockTimeout`.
   */
  lock(request: SessionRequest, id: string): Promise<Release> {
    return this.#storage.lock(request, id, this.lockTimeoutMs(request));
  }

  /** Deletes expired sessions; returns how many. The default asks the store. */
  collectGarbage(request: SessionRequest): Promise<number> {
    return this.#storage.collectGarbage(request);
  }

  /**
   * Whether an id that `regenerate()` replaced is kept for
   * `PSOSessionRotateGrace` seconds as a forward to the new one (written with
   * {@link save}, read back with {@link load}). The default: when sessions
   * are in a store on the server; a policy that keeps sessions itself, or
   * the cookie store, has none.
   */
  async keepsForwards(request: SessionRequest): Promise<boolean> {
    const store = await this.storeFor(request);
    return store !== undefined && !(store as { clientSide?: boolean }).clientSide;
  }

  /** The lock timeout from `PSOSessionLockTimeout`, in milliseconds. */
  protected lockTimeoutMs(request: SessionRequest): number {
    return readSeconds(request, 'PSOSessionLockTimeout', DEFAULT_LOCK_TIMEOUT_SECONDS) * 1000;
  }

  /** When a session ends (ms), given its expiry; a browser-lifetime one is kept `PSOSessionIdleTimeout` after its last request. */
  expiresAt(request: SessionRequest, expiry: Expiry, now: number): number {
    return endOf(expiry, now, () => readSeconds(request, 'PSOSessionIdleTimeout', DEFAULT_IDLE_SECONDS));
  }

  // ---- the algorithm (How-To section 4) -------------------------------------------

  /**
   * Finds or creates the session of a request: the client's id is used only
   * if it is well formed, stored and unexpired; anything else gets a new
   * session with a fresh id. The session stays locked until {@link close},
   * unless it is opened read-only (`options.readOnly`): then no lock is taken,
   * and nothing is saved.
   */
  async open<D extends object = SessionData>(request: SessionRequest, options: OpenOptions = {}): Promise<Session<D>> {
    if (!this.ids || !this.mutex) throw new Error(`${this.constructor.name} was constructed without its dependencies: give it as options.sessionImpl, or bind injectableSubclass(${this.constructor.name}) in the container`);
    this.checkConfiguration(request);
    const state = openingState(request);
    state.readOnly = options.readOnly === true;
    this.#byRequest.set(request, state);
    const forced = this.getForcedSessionId(request);
    const presented = await this.getSessionId(request);
    let id = forced;
    if (id === undefined) {
      state.fromClient = presented !== undefined;
      if (presented !== undefined && this.isValidSessionId(presented)) id = presented;
    } else {
      // A client that already holds the forced id need not be told it again.
      state.fromClient = presented === forced;
    }
    let record: SessionRecord | undefined;
    let snapshot: string | undefined;
    if (id !== undefined) ({ id, record, snapshot } = await this.#openStored(request, state, id, forced !== undefined));
    id ??= this.#freshId(request);
    const session = new Session<D>({
      id, isNew: !record, data: record?.data ?? {}, created: record?.created ?? state.now,
      expiry: record?.expiry, timeouts: record?.timeouts, host: this, snapshot: record ? snapshot : undefined,
      user: record?.user, born: record?.born,
    });
    if (state.readOnly) session.freeze('read-only');
    state.session = session;
    state.openedId = id;
    state.storedExpires = state.loadedExpires = record?.expires;
    state.loadedExpiry = record?.expiry;
    this.#bySession.set(session, state);
    // PSOSessionRotate: an id old enough is replaced now (its old one leads here for the grace period).
    if (record && forced === undefined && rotationDue(request, session, state.now) && (await this.keepsForwards(request))) session.rotate();
    return session;
  }

  /**
   * Locks and loads the stored session of `id`: `undefined` for none (and no
   * lock held, unless the id is forced), an ended one deleted, one whose
   * user's sessions were revoked since it was bound deleted too. An id that
   * `regenerate()` replaced within the grace period leads to the new one,
   * which is locked and loaded instead (the client is then sent the new id).
   */
  async #openStored(request: SessionRequest, state: OpenSession, first: string, forced: boolean): Promise<{ id?: string | undefined; record?: SessionRecord | undefined; snapshot?: string | undefined }> {
    let id = first;
    for (let hop = 0; ; hop++) {
      // A read-only request takes no lock, and writes nothing: the sweep or the next writer deletes what ended.
      if (!state.readOnly) state.release = await this.lock(request, id);
      let record: SessionRecord | undefined;
      let snapshot: string | undefined;
      let next: string | undefined;
      try {
        ({ record, snapshot } = await this.#loadUsable(request, id));
        if (record && hasEnded(record, request, state.now)) {
          if (!state.readOnly) await this.remove(request, id);
          record = undefined;
        }
        if (record?.moved !== undefined) {
          // A forward is no session: it leads to one, or to nothing.
          next = forced || hop >= MAX_FORWARDS ? undefined : forwardTarget(id, record);
          if (next !== undefined && !this.isValidSessionId(next)) next = undefined;
          record = undefined;
        } else if (record && !(await this.#wrap('load', () => this.#users.isCurrent(request, id, record!)))) {
          if (!state.readOnly) await this.#wrap('delete', () => this.remove(request, id));
          record = undefined;
        }
      } catch (e) {
        await state.release?.();
        throw e;
      }
      if (record || forced) return { id, record, snapshot };
      await state.release?.();
      state.release = undefined;
      state.legacyKey = undefined;
      if (next === undefined) return {};
      this.#forwarded.add(request);
      id = next;
    }
  }

  /**
   * Ends a request's use of its session: saves it (when `commit`) and releases
   * the lock, before the response completes, so a redirect never outruns the
   * save. A session that expired during the request is deleted.
   */
  async close(session: Session<object>, commit: boolean): Promise<void> {
    const state = this.#bySession.get(session);
    if (!state) return;
    if (state.closed) {
      // Released early: a change made since through a value taken before (session.get('cart').push(x)) would be lost without a word.
      if (commit && session.readOnly && session.isModified) throw new SessionReadOnlyError('released', 'change the session data through a value taken from it before release()');
      return;
    }
    state.closed = true;
    if (state.readOnly) return;
    try {
      if (commit) await this.#persist(session, state);
    } finally {
      await state.release?.();
    }
    if (!commit) return;
    const sweep = this.#gc.maybeRun(state.request, () => this.collectGarbage(state.request));
    if (!state.request.persistent) await sweep;
  }

  /** Saves a session now, keeping it open (`session.save()`). */
  async saveSession(session: Session<object>): Promise<void> {
    const state = this.#bySession.get(session);
    if (!state || state.closed) throw new Error('this session is closed: it was saved when its request ended');
    await this.#persist(session, state);
  }

  /** The live sessions of a user (`session.userSessions()`). */
  userSessions(session: Session<object>, userId?: string | number): Promise<UserSessionInfo[]> {
    return this.#users.list(this.#openState(session), session, userId);
  }

  /** Ends a user's sessions (`session.revokeUserSessions()`). */
  revokeUserSessions(session: Session<object>, options?: RevokeOptions): Promise<number> {
    return this.#users.revoke(this.#openState(session), session, options);
  }

  #openState(session: Session<object>): OpenSession {
    const state = this.#bySession.get(session);
    if (!state || state.closed) throw new Error('this session is closed: its request has ended');
    return state;
  }

  /** A new id for a session that regenerates or is destroyed. */
  renewSessionId(session: Session<object>): string {
    const state = this.#bySession.get(session);
    if (!state || state.closed) throw new Error('this session is closed: its id can no longer change');
    if (state.request.responseStarted) throw new HeadersSentError('cannot change the session id: the response headers have already been sent');
    return this.#freshId(state.request);
  }

  // ---- early release, reload and touch (docs/recipes/release.md, reload-touch.md) ----

  /**
   * Saves and unlocks a session before its request ends; it refuses changes
   * from then on. Handlers call `session.release()`, which comes here.
   *
   * @example
   * ```ts
   * await impl.releaseSession(session); // as await session.release()
   * ```
   */
  async releaseSession(session: Session<object>): Promise<void> {
    const state = this.#stateOf(session);
    if (state.closed || state.readOnly) return;
    try {
      await this.close(session, true);
    } catch (e) {
      // The failure is the handler's to see; it is not taken for a change made after release() at the end.
      try {
        session.markSaved(session.serializeData());
      } catch {
        // data that cannot be saved stays as it is
      }
      throw e;
    } finally {
      session.freeze('released');
    }
  }

  /**
   * Whether a session is stored (so its id is, or becomes, the client's).
   *
   * @example
   * ```ts
   * impl.isStored(session); // false for a new session until it is saved
   * ```
   */
  isStored(session: Session<object>): boolean {
    return this.#bySession.get(session)?.storedExpires !== undefined;
  }

  /**
   * Reads a session again from the store (`session.reload()`). When it is
   * gone, the session becomes what a request with its id would get: empty and
   * new, with a fresh id (a writable one whose response has not started).
   *
   * @example
   * ```ts
   * const found = await impl.reloadSession(session); // as await session.reload()
   * ```
   */
  async reloadSession(session: Session<object>): Promise<boolean> {
    const state = this.#stateOf(session);
    const { request } = state;
    if (session.retiredIds.length > 0) throw new Error('session.reload() cannot follow regenerate() or destroy() before the session is saved: await session.save() first');
    if (state.storedExpires === undefined) return false;
    const { record, snapshot } = await this.#loadUsable(request, session.id);
    if (record && !hasEnded(record, request, Date.now())) {
      session.replaceWith(record, snapshot);
      state.storedExpires = record.expires;
      return true;
    }
    state.storedExpires = undefined;
    if (session.readOnly) session.replaceWith(undefined);
    else if (!request.responseStarted) session.destroy();
    else {
      session.replaceWith(undefined);
      session.freeze('gone');
    }
    return false;
  }

  /**
   * Moves a stored session's expiry to a full lifetime from now through the
   * {@link touch} hook (`session.touch()`), with the record as stored. A
   * session whose lock this request no longer holds (read-only, released)
   * takes it for the moment of the touch; one busy elsewhere is left to the
   * request that holds it.
   *
   * @example
   * ```ts
   * const moved = await impl.touchSession(session); // as await session.touch()
   * ```
   */
  async touchSession(session: Session<object>): Promise<boolean> {
    const state = this.#stateOf(session);
    const { request } = state;
    if (state.storedExpires === undefined || session.retiredIds.length > 0) return false;
    let release: Release | undefined;
    if (state.closed || state.readOnly) {
      try {
        release = await this.lock(request, session.id);
      } catch (e) {
        if (!(e instanceof SessionBusyError)) throw e;
        request.logWith('info', 'session.touch(): the session is busy in another request, which moves its expiry itself');
        return false;
      }
    }
    try {
      const now = Date.now();
      const { record } = await this.#loadUsable(request, session.id);
      if (!record || hasEnded(record, request, now)) return false;
      const expires = lifetimeEnd(record, record.expiry ?? readExpiry(request), request, now, (e, at) => this.expiresAt(request, e, at));
      if (expires <= now) return false;
      await this.#wrap('touch', () => this.touch(request, session.id, { ...record, expires }, { final: false }));
      state.storedExpires = expires;
      // Expiries computed later in this request start from the touch, so the final save does not move it back.
      state.now = now;
      return true;
    } finally {
      await release?.();
    }
  }

  /**
   * Whether the client presented its session id in the `PSOSessionHeader`
   * header (not a cookie a browser adds by itself): the CSRF checks leave such a request alone.
   *
   * @example
   * ```ts
   * if (!impl.presentedInHeader(request)) await checkCsrf(request, 'on', facts);
   * ```
   */
  presentedInHeader(request: SessionRequest): boolean {
    return this.#byRequest.get(request)?.viaHeader ?? false;
  }

  #stateOf(session: Session<object>): OpenSession {
    const state = this.#bySession.get(session);
    if (!state) throw new Error(`this session was not opened by ${this.constructor.name}`);
    return state;
  }

  /** What is kept about a request's open session, for the hooks of subclasses. */
  protected openStateOf(request: SessionRequest): OpenSession | undefined {
    return this.#byRequest.get(request);
  }

  /** What is kept about an open session, by the session. */
  protected openStateOfSession(session: Session<object>): OpenSession | undefined {
    return this.#bySession.get(session);
  }

  /**
   * Adds what the client needs to keep its session (the cookie) to the
   * response. Called once, just before the response headers go out.
   */
  beforeHead(session: Session<object>): void {
    const state = this.#bySession.get(session);
    if (!state) return;
    const { request } = state;
    const expiry = session.expiry ?? readExpiry(request);
    if (state.readOnly) {
      // Nothing was written: the client's id and lifetime stand, unless the session is gone or touch() moved it.
      if (state.storedExpires === undefined) {
        if (state.fromClient) this.sendSessionId(request, session, 0, true);
      } else if ((expiry.kind !== 'browser' && state.storedExpires !== state.loadedExpires) || this.reissueId(request)) {
        this.sendSessionId(request, session, expiry.kind === 'browser' ? undefined : state.storedExpires, false);
      }
      return;
    }
    const expires = plannedExpires(session, state, expiry, (e, now) => this.expiresAt(request, e, now));
    if (expires <= state.now || keepsNothing(session, request)) {
      // Nothing is (or stays) stored: tell a client that sent an id to forget it.
      if (state.fromClient) this.sendSessionId(request, session, 0, true);
      return;
    }
    if (cookieNeeded(session, state, expiry, expires) || this.reissueId(request)) this.sendSessionId(request, session, expiry.kind === 'browser' ? undefined : expires, false);
  }

  #freshId(request: SessionRequest): string {
    const id = this.newSessionId(request);
    if (!this.isValidSessionId(id)) {
      throw new Error(`${this.constructor.name}.newSessionId() returned ${JSON.stringify(id)}, which isValidSessionId() refuses`);
    }
    return id;
  }

  async #persist(session: Session<object>, state: OpenSession): Promise<void> {
    const { request } = state;
    const dataJson = session.serializeData();
    // Ids regenerate() replaced lead to the new one for a grace period; a login's or a logout's end now.
    const retired = session.retiredIds;
    let forwards: readonly string[] = [];
    let grace = 0;
    if (retired.length) {
      grace = (await this.keepsForwards(request)) ? graceMs(request) : 0;
      forwards = retired.filter((old) => grace > 0 && !session.isHardRetired(old));
      for (const old of retired) {
        if (!forwards.includes(old)) await this.#wrap('delete', () => this.remove(request, old));
        if (old === state.openedId) state.storedExpires = undefined;
      }
      await this.#wrap('save', () => this.#users.unbind(state, session, retired));
      session.clearRetired();
    }
    const expiry = session.expiry ?? readExpiry(request);
    const expires = plannedExpires(session, state, expiry, (e, now) => this.expiresAt(request, e, now));
    if (expires <= state.now || keepsNothing(session, request)) {
      // Nothing is kept for them to lead to.
      for (const old of forwards) await this.#wrap('delete', () => this.remove(request, old));
      if (state.storedExpires !== undefined) await this.#wrap('delete', () => this.remove(request, session.id));
      state.storedExpires = undefined;
      session.markSaved(dataJson);
      return;
    }
    const over = sizeOver(dataJson, this.#maxBytes(request));
    if (over !== undefined) throw new SessionStoreError(`the session holds ${over} bytes of data, more than PSOSessionMaxSize (${this.#maxBytes(request)} bytes): it was not saved; keep less in it, or raise the limit`);
    const dataChanged = state.storedExpires === undefined || dataJson !== session.snapshot || this.#users.wantsWrite(session, state.now);
    if (dataChanged || expires !== state.storedExpires || session.lifeChanged) {
      const record: SessionRecord = { data: JSON.parse(dataJson), expires, created: session.created };
      if (session.expiry) record.expiry = session.expiry;
      if (session.timeouts) record.timeouts = session.timeouts;
      if (session.idBorn !== session.created) record.born = session.idBorn;
      if (session.userBinding) await this.#wrap('save', () => this.#users.stamp(state, session, record));
      // The last write of the request frees the lock with it: the forward under the locked id, if any.
      const hints = { final: state.closed && forwards.length === 0 };
      if (dataChanged) await this.#wrap('save', () => this.save(request, session.id, record, hints));
      else await this.#wrap('touch', () => this.touch(request, session.id, record, hints));
      state.storedExpires = expires;
    }
    // Written once the new session is: whoever follows a forward finds it.
    for (const [i, old] of forwards.entries()) {
      const hints = { final: state.closed && i === forwards.length - 1 };
      await this.#wrap('save', () => this.save(request, old, forwardRecord(old, session.id, session.created, state.now, grace), hints));
    }
    session.markSaved(dataJson);
  }

  #maxBytes(request: SessionRequest): number {
    return readBytes(request, 'PSOSessionMaxSize', DEFAULT_MAX_SESSION_BYTES);
  }

  /** A storage hook's failure as a session error (what it is, or a storage failure naming the policy). */
  async #wrap<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (e instanceof SessionError || e instanceof ConfigurationError) throw e;
      throw new SessionStoreError(`cannot ${what} the session (${this.constructor.name}): ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * A stored session and its data as JSON, or nothing for a session that
   * cannot be read back or is larger than `PSOSessionMaxSize`: the client gets
   * a new session and the log says why (the id shortened).
   */
  async #loadUsable(request: SessionRequest, id: string): Promise<{ record?: SessionRecord | undefined; snapshot?: string }> {
    let why: string;
    try {
      const record = await this.#wrap('load', () => this.load(request, id));
      if (!record) return {};
      const snapshot = JSON.stringify(record.data);
      const over = sizeOver(snapshot, this.#maxBytes(request));
      if (over === undefined) return { record, snapshot };
      why = `holds ${over} bytes, more than PSOSessionMaxSize`;
    } catch (e) {
      if (!(e instanceof CorruptSessionError)) throw e;
      why = `cannot be read (${e.message})`;
    }
    request.logWith('warn', `stored session ${id.slice(0, 6)}... of ${this.getServiceId(request)} ${why}; starting a new session`);
    return {};
  }

}
