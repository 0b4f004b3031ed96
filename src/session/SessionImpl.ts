import { inject, injectable } from 'inversify';
import { DEFAULT_IDLE_SECONDS, DEFAULT_LOCK_TIMEOUT_SECONDS } from '../config/defaults.js';
import { readExpiry, readSeconds } from '../config/directives.js';
import type { Expiry } from '../config/expiry.js';
import { TOKENS } from '../container/tokens.js';
import { sha256Recent } from '../util/sha256.js';
import { HeadersSentError } from './HeadersSentError.js';
import type { KeyedMutex, Release } from './locks/KeyedMutex.js';
import { GcSchedule } from './GcSchedule.js';
import { endOf } from './lifetime.js';
import { OpenSessions, type OpenSession } from './OpenSession.js';
import { openSession } from './opening.js';
import { persistSession } from './persisting.js';
import { freshId, type OpenOptions, type PolicyHooks, type SaveHints } from './policyHooks.js';
import type { Session, SessionHost } from './Session.js';
import { sendIdBeforeHead } from './sendIdBeforeHead.js';
import { releaseEarly, reloadStored, touchStored } from './sessionOperations.js';
import { SessionReadOnlyError } from './SessionReadOnlyError.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import type { SessionData } from './json.js';
import type { SessionRecord } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';
import { forcedIdOf, ServiceIds } from './serviceIds.js';
import type { SessionStore } from './stores/SessionStore.js';
import { StoreAccess } from './stores/StoreAccess.js';
import type { RevokeOptions, UserSessionInfo } from './users/liveSessions.js';
import { UserSessions } from './users/UserSessions.js';

export type { OpenOptions, SaveHints };

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
export abstract class SessionImpl implements SessionHost, PolicyHooks {
  readonly #serviceIds = new ServiceIds();
  /** The open session of each request, found by request (hooks) or by session. */
  readonly #open = new OpenSessions();
  readonly #gc = new GcSchedule();
  readonly #storage: StoreAccess;
  readonly #users: UserSessions;

  constructor(
    @inject(TOKENS.SessionIdGenerator) protected readonly ids: SessionIdGenerator,
    @inject(TOKENS.SessionMutex) protected readonly mutex: KeyedMutex,
  ) {
    this.#storage = new StoreAccess({
      name: this.constructor.name,
      storeFor: (request) => this.storeFor(request),
      storeKey: (request, id) => this.storeKey(request, id),
      legacyKey: (request, id) => `${this.getServiceId(request)}:${id}`,
      stateOf: (request) => this.#open.ofRequest(request),
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
    const state = this.#open.ofRequest(request);
    return state !== undefined && (state.resign || state.forwardedFrom.length > 0);
  }

  /** Adds what a URL needs to carry the session (`request.mkurl()`); the default adds nothing. */
  decorateUrl(_request: SessionRequest, _session: Session<object>, _params: URLSearchParams): void {}

  // ---- storage ------------------------------------------------------------------

  /** The store this request's sessions are kept in (for the default storage hooks), or `undefined`; asked once a request. */
  storeFor(_request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined> {
    return undefined;
  }

  /**
   * The store key of a session: `<service id>:~<hash>`, the SHA-256 of the id,
   * so that a copy of the store (a backup, a leaked dump) gives no live id.
   */
  storeKey(request: SessionRequest, id: string): string {
    return `${this.getServiceId(request)}:~${sha256Recent(id)}`;
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
   * Finds or creates the session of a request: the client's id is used only if it is well formed,
   * stored and unexpired; anything else gets a new session with a fresh id. The session stays locked
   * until {@link close}, unless opened read-only (`options.readOnly`): no lock, nothing saved.
   */
  open<D extends object = SessionData>(request: SessionRequest, options: OpenOptions = {}): Promise<Session<D>> {
    try {
      if (!this.ids || !this.mutex) throw new Error(`${this.constructor.name} was constructed without its dependencies: give it as options.sessionImpl, or bind injectableSubclass(${this.constructor.name}) in the container`);
      this.checkConfiguration(request);
      const state = this.#open.opening(request);
      state.readOnly = options.readOnly === true;
      return openSession<D>({ hooks: this, users: this.#users, track: (session) => this.#open.track(session, state) }, request, state);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Ends a request's use of its session: saves it (when `commit`) and releases
   * the lock, before the response completes, so a redirect never outruns the
   * save. A session that expired during the request is deleted.
   */
  async close(session: Session<object>, commit: boolean): Promise<void> {
    const state = this.#open.ofSession(session);
    if (!state) return;
    if (state.closed) {
      // Released early: a change made since through a value taken before (session.get('cart').push(x)) would be lost without a word.
      if (commit && session.readOnly && session.isModified) throw new SessionReadOnlyError('released', 'change the session data through a value taken from it before release()');
      return;
    }
    state.closed = true;
    if (state.readOnly) return;
    try {
      if (commit) await persistSession(this, this.#users, session, state);
    } finally {
      await state.release?.();
    }
    if (!commit) return;
    const sweep = this.#gc.maybeRun(state.request, () => this.collectGarbage(state.request));
    if (sweep && !state.request.persistent) await sweep;
  }

  /** Saves a session now, keeping it open (`session.save()`). */
  async saveSession(session: Session<object>): Promise<void> {
    await persistSession(this, this.#users, session, this.#open.live(session, 'it was saved when its request ended'));
  }

  /** The live sessions of a user (`session.userSessions()`). */
  userSessions(session: Session<object>, userId?: string | number): Promise<UserSessionInfo[]> {
    return this.#users.list(this.#open.live(session, 'its request has ended'), session, userId);
  }

  /** Ends a user's sessions (`session.revokeUserSessions()`). */
  revokeUserSessions(session: Session<object>, options?: RevokeOptions): Promise<number> {
    return this.#users.revoke(this.#open.live(session, 'its request has ended'), session, options);
  }

  /** A new id for a session that regenerates or is destroyed. */
  renewSessionId(session: Session<object>): string {
    const state = this.#open.live(session, 'its id can no longer change');
    if (state.request.responseStarted) throw new HeadersSentError('cannot change the session id: the response headers have already been sent');
    return freshId(this, state.request);
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
    return releaseEarly((s, commit) => this.close(s, commit), session, this.#open.opened(session, this.constructor.name));
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
    return this.#open.ofSession(session)?.storedExpires !== undefined;
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
    return reloadStored(this, session, this.#open.opened(session, this.constructor.name));
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
    return touchStored(this, session, this.#open.opened(session, this.constructor.name));
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
    return this.#open.ofRequest(request)?.viaHeader ?? false;
  }

  /**
   * The ids this request presented that led to its session but are no longer
   * its id: ids `regenerate()` replaced, followed within
   * `PSOSessionRotateGrace`, and the id `PSOSessionRotate` replaced as the
   * session opened. A page made before the change carries their CSRF tokens.
   *
   * @example
   * ```ts
   * impl.formerIds(request); // [] unless the id changed under the client
   * ```
   */
  formerIds(request: SessionRequest): readonly string[] {
    const state = this.#open.ofRequest(request);
    if (!state) return [];
    return state.rotatedFrom === undefined ? state.forwardedFrom : [...state.forwardedFrom, state.rotatedFrom];
  }

  /** What is kept about a request's open session, for the hooks of subclasses. */
  protected openStateOf(request: SessionRequest): OpenSession | undefined {
    return this.#open.ofRequest(request);
  }

  /** What is kept about an open session, by the session. */
  protected openStateOfSession(session: Session<object>): OpenSession | undefined {
    return this.#open.ofSession(session);
  }

  /**
   * Adds what the client needs to keep its session (the cookie) to the
   * response. Called once, just before the response headers go out.
   */
  beforeHead(session: Session<object>): void {
    const state = this.#open.ofSession(session);
    if (state) sendIdBeforeHead(this, session, state);
  }
}
