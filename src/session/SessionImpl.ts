import { inject, injectable } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { readExpiry, readFlag, readOptionalSeconds, readProbability, readSeconds } from '../config/directives.js';
import type { Expiry } from '../config/expiry.js';
import { TOKENS } from '../container/tokens.js';
import type { ServiceRequest } from '../service/ServiceRequest.js';
import { CorruptSessionError, type SessionRecord } from './SessionRecord.js';
import { Session, type SessionHost, type SessionTimeouts } from './Session.js';
import { HeadersSentError, HttpError } from '../service/errors.js';
import { kHeadCommitted } from '../service/internal.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import type { KeyedMutex, Release } from './locks/KeyedMutex.js';

/** RFC 6265 §4.1.1 cookie-name = token (RFC 2616 §2.2). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A session id forced by a directive: safe in file names and cookies. */
const FORCED_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** CGI meta-variables (RFC 3875 §4.1): a service id must not collide with them. */
const CGI_VARIABLES = new Set([
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'GATEWAY_INTERFACE', 'PATH_INFO', 'PATH_TRANSLATED',
  'QUERY_STRING', 'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_IDENT', 'REMOTE_USER', 'REQUEST_METHOD',
  'SCRIPT_NAME', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SOFTWARE', 'PATH', 'HTTPS',
  'DOCUMENT_ROOT', 'SCRIPT_FILENAME', 'REQUEST_URI', 'REMOTE_PORT', 'SERVER_ADDR',
]);
/** A stored expiry is moved only when it is this far behind, so unchanged sessions are not rewritten on every request. */
const TOUCH_MS = 60_000;
/** A server collects expired sessions at most this often. */
const GC_INTERVAL_MS = 60_000;
/** Default: a browser-lifetime session is kept one day after its last request. */
export const DEFAULT_IDLE_SECONDS = 24 * 3600;
/** Default wait for a busy session. */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10;

/** A storage failure (unwritable directory, full disk, ...): the request fails with 500 and nothing is lost. */
export class SessionStoreError extends Error {
  override name = 'SessionStoreError';
}

/** What {@link SessionImpl.save} is told about a save. */
export interface SaveHints {
  /** The save that ends the request; the lock is released right after it. */
  final: boolean;
}

/** The state of one open session. */
interface OpenState {
  /** The policy that opened the session. */
  owner: SessionImpl;
  request: ServiceRequest<any>;
  release: Release | undefined;
  now: number;
  /** The id the session had when it was opened. */
  openedId: string;
  /** Expiry stored with the session, or undefined when nothing is stored. */
  storedExpires: number | undefined;
  storedExpiry: Expiry | undefined;
  storedTimeouts: SessionTimeouts | undefined;
  /** Expiry as loaded: what the client's cookie reflects (saving during the request does not change it). */
  loadedExpires: number | undefined;
  loadedExpiry: Expiry | undefined;
  loadedTimeouts: SessionTimeouts | undefined;
  /** Whether the client sent this id (so a clearing cookie makes sense). */
  fromClient: boolean;
  closed: boolean;
}

/**
 * The session policy: how a request's session is found, created, stored,
 * locked and sent back. The algorithm of How-To section 4, made safe, lives in
 * {@link open} and {@link close}; subclasses fill in the primitives:
 *
 * - identification: {@link getSessionId} and {@link sendSessionId} ({@link CookieSession} uses a cookie);
 * - storage: {@link load}, {@link save}, {@link remove} ({@link CookieFileImpl} uses files);
 * - optionally {@link newSessionId}, {@link isValidSessionId}, {@link lock}, {@link collectGarbage}.
 *
 * @example
 * ```ts
 * // The How-To's database recipe: identification by cookie, storage of your own.
 * class MySQLImpl extends CookieSession {
 *   async load(request: ServiceRequest, id: string) { ... }
 *   async save(request: ServiceRequest, id: string, record: SessionRecord) { ... }
 *   async remove(request: ServiceRequest, id: string) { ... }
 * }
 * new ServiceHandler().run(handler, { sessionImpl: MySQLImpl });
 * ```
 */
@injectable()
export abstract class SessionImpl implements SessionHost {
  #serviceIds = new Map<string, string>();
  /** Service ids made from module names, asked on every request. */
  #moduleIds = new Map<string, string>();
  #gcRunning = false;
  #lastGc = 0;

  constructor(
    @inject(TOKENS.SessionIdGenerator) protected readonly ids: SessionIdGenerator,
    @inject(TOKENS.SessionMutex) protected readonly mutex: KeyedMutex,
  ) {}

  // ---- identification -------------------------------------------------------

  /**
   * The service id: the `PSOServiceId` directive, else the handler module's
   * name made a valid cookie name. It names the cookie and the session's namespace.
   *
   * @throws ConfigurationError when `PSOServiceId` is not a valid cookie name.
   */
  getServiceId(request: ServiceRequest<any>): string {
    const raw = request.getEnviron('PSOServiceId');
    if (raw === undefined || raw === '') {
      let fromModule = this.#moduleIds.get(request.moduleName);
      if (fromModule === undefined) {
        fromModule = cookieNameFrom(request.moduleName);
        if (this.#moduleIds.size > 64) this.#moduleIds.clear();
        this.#moduleIds.set(request.moduleName, fromModule);
      }
      return fromModule;
    }
    let id = this.#serviceIds.get(raw);
    if (id === undefined) {
      id = raw.trim().replace(/^(["'])(.*)\1$/, '$2');
      if (!COOKIE_NAME.test(id) || id.length > 64) {
        throw new ConfigurationError('PSOServiceId', raw, 'a service id must be a cookie name: up to 64 letters, digits and !#$%&\'*+-.^_`|~');
      }
      if (/^HTTP_/i.test(id) || CGI_VARIABLES.has(id.toUpperCase())) {
        throw new ConfigurationError('PSOServiceId', raw, 'a service id must not be a CGI variable name, which a client could set');
      }
      if (this.#serviceIds.size > 64) this.#serviceIds.clear();
      this.#serviceIds.set(raw, id);
    }
    return id;
  }

  /**
   * The session id the client presented, or `undefined`. It is checked with
   * {@link isValidSessionId} and looked up before it is used.
   */
  abstract getSessionId(request: ServiceRequest<any>): string | undefined | Promise<string | undefined>;

  /**
   * Tells the client its session id (a cookie, for {@link CookieSession}).
   * `expires` is when the session ends (`undefined`: when the browser closes);
   * `clear` asks the client to forget the id.
   */
  abstract sendSessionId(request: ServiceRequest<any>, session: Session<any>, expires: number | undefined, clear: boolean): void;

  /**
   * Checks the directives this policy depends on, before a session is opened,
   * so that a configuration error fails every request alike and nothing is
   * stored first. The default checks the expiry directives.
   *
   * @throws ConfigurationError naming the directive and value.
   */
  checkConfiguration(request: ServiceRequest<any>): void {
    readExpiry(request);
  }

  /**
   * The id forced by a directive named by the service id (the How-To's
   * "Forcing the session id": `SetEnv MyService 0123abc`), or `undefined`.
   *
   * @throws ConfigurationError when the forced id is not 1 to 128 letters, digits, `-` or `_`.
   */
  getForcedSessionId(request: ServiceRequest<any>): string | undefined {
    const serviceId = this.getServiceId(request);
    // A client can set HTTP_* variables (and some CGI ones): never take an id from those.
    if (/^HTTP_/i.test(serviceId) || CGI_VARIABLES.has(serviceId.toUpperCase())) return undefined;
    const raw = request.getEnviron(serviceId);
    if (raw === undefined || raw === '') return undefined;
    if (!FORCED_ID.test(raw)) {
      throw new ConfigurationError(serviceId, raw, 'a forced session id must be 1 to 128 letters, digits, "-" or "_"');
    }
    return raw;
  }

  /**
   * A new session id. The default has 160 random bits.
   *
   * @example
   * ```ts
   * class MyImpl extends CookieFileImpl {
   *   override newSessionId() { return `u-${randomUUID()}`; }
   *   override isValidSessionId(id: string) { return /^u-[0-9a-f-]{36}$/.test(id); }
   * }
   * ```
   */
  newSessionId(_request: ServiceRequest<any>): string {
    return this.ids.generate();
  }

  /** Whether `id` has the exact shape of the ids this policy makes (anything else is ignored). */
  isValidSessionId(id: string): boolean {
    return this.ids.isWellFormed(id);
  }

  // ---- storage ------------------------------------------------------------------

  /**
   * Reads a stored session, or `undefined` when there is none. Throw
   * {@link CorruptSessionError} for stored data that cannot be read back: the
   * client then gets a new session and the log says why.
   */
  abstract load(request: ServiceRequest<any>, id: string): Promise<SessionRecord | undefined>;

  /**
   * Stores a session (creating or replacing it). `hints.final` is set for the
   * save that ends the request, just before the lock is released.
   */
  abstract save(request: ServiceRequest<any>, id: string, record: SessionRecord, hints?: SaveHints): Promise<void>;

  /** Deletes a stored session; no error if there is none. */
  abstract remove(request: ServiceRequest<any>, id: string): Promise<void>;

  /**
   * Moves a stored session's expiry when its data did not change. The
   * default saves the whole record; stores with a cheaper way (a TTL) override it.
   */
  touch(request: ServiceRequest<any>, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    return this.save(request, id, record, hints);
  }

  /**
   * Holds the session for this request, from load to save, so that concurrent
   * requests never lose each other's writes. The default is a lock inside this
   * process; stores shared by several processes override it.
   *
   * @throws SessionBusyError when the session stays locked longer than `PSOSessionLockTimeout`.
   */
  lock(request: ServiceRequest<any>, id: string): Promise<Release> {
    return this.mutex.acquire(`${this.getServiceId(request)}\0${id}`, this.lockTimeoutMs(request));
  }

  /** Deletes expired sessions; returns how many. The default stores expire by themselves. */
  async collectGarbage(_request: ServiceRequest<any>): Promise<number> {
    return 0;
  }

  /** The lock timeout from `PSOSessionLockTimeout`, in milliseconds. */
  protected lockTimeoutMs(request: ServiceRequest<any>): number {
    return readSeconds(request, 'PSOSessionLockTimeout', DEFAULT_LOCK_TIMEOUT_SECONDS) * 1000;
  }

  /**
   * When a session ends, given its expiry (set in code, else from
   * `PSOSessionExpire`), in milliseconds since the epoch. A browser-lifetime
   * session is kept `PSOSessionIdleTimeout` after its last request.
   */
  expiresAt(request: ServiceRequest<any>, expiry: Expiry, now: number): number {
    switch (expiry.kind) {
      case 'browser':
        return now + readSeconds(request, 'PSOSessionIdleTimeout', DEFAULT_IDLE_SECONDS) * 1000;
      case 'after':
        return now + expiry.seconds * 1000;
      case 'at':
        return expiry.time;
    }
  }

  // ---- the algorithm (How-To section 4) -------------------------------------------

  /**
   * Finds or creates the session of a request: the client's id is used only
   * if it is well formed, stored and unexpired; anything else gets a new
   * session with a fresh id. The session stays locked until {@link close}.
   */
  async open<D extends object>(request: ServiceRequest<D>): Promise<Session<D>> {
    if (!this.ids || !this.mutex) {
      throw new Error(
        `${this.constructor.name} was constructed without its dependencies: give it as options.sessionImpl, ` +
          `or bind injectableSubclass(${this.constructor.name}) in the container`,
      );
    }
    this.checkConfiguration(request);
    const now = Date.now();
    const forced = this.getForcedSessionId(request);
    let id = forced;
    let fromClient = false;
    const presented = await this.getSessionId(request);
    if (id === undefined) {
      if (presented !== undefined) fromClient = true;
      if (presented !== undefined && this.isValidSessionId(presented)) id = presented;
    } else {
      // A client that already holds the forced id need not be told it again.
      fromClient = presented === forced;
    }
    let release: Release | undefined;
    let record: SessionRecord | undefined;
    if (id !== undefined) {
      release = await this.lock(request, id);
      try {
        record = await this.#loadChecked(request, id);
        // The absolute limit counts from creation whatever was stored (it may have been lowered since).
        const absolute = record ? record.timeouts?.absolute ?? readOptionalSeconds(request, 'PSOSessionAbsoluteTimeout') : undefined;
        if (record && (record.expires <= now || (absolute !== undefined && record.created + absolute * 1000 <= now))) {
          await this.remove(request, id);
          record = undefined;
        }
      } catch (e) {
        await release();
        throw e;
      }
      if (!record && forced === undefined) {
        await release();
        release = undefined;
        id = undefined;
      }
    }
    if (id === undefined) id = this.#freshId(request);
    const session = new Session<D>({
      id,
      isNew: !record,
      data: record?.data ?? {},
      created: record?.created ?? now,
      expiry: record?.expiry,
      timeouts: record?.timeouts,
      host: this,
    });
    session.openState = {
      owner: this,
      request,
      release,
      now,
      openedId: id,
      storedExpires: record?.expires,
      storedExpiry: record?.expiry,
      storedTimeouts: record?.timeouts,
      loadedExpires: record?.expires,
      loadedExpiry: record?.expiry,
      loadedTimeouts: record?.timeouts,
      fromClient,
      closed: false,
    };
    return session;
  }

  /** The state of a session this policy opened (kept on the session: cheaper than a WeakMap on every request). */
  #stateOf(session: Session<any>): OpenState | undefined {
    const state = session.openState as OpenState | undefined;
    return state?.owner === this ? state : undefined;
  }

  #freshId(request: ServiceRequest<any>): string {
    const id = this.newSessionId(request);
    if (!this.isValidSessionId(id)) {
      throw new Error(`${this.constructor.name}.newSessionId() returned ${JSON.stringify(id)}, which isValidSessionId() refuses`);
    }
    return id;
  }

  /**
   * Ends a request's use of its session: saves it (when `commit`) and releases
   * the lock. Called before the response completes, so a redirect never
   * outruns the save. A session that expired during the request is deleted.
   */
  async close(session: Session<any>, commit: boolean): Promise<void> {
    const state = this.#stateOf(session);
    if (!state || state.closed) return;
    state.closed = true;
    try {
      if (commit) await this.#persist(session, state);
    } finally {
      await state.release?.();
    }
    if (commit && !state.request.persistent) await this.#maybeCollect(state.request);
    else if (commit) void this.#maybeCollect(state.request);
  }

  /** Saves a session now, keeping it open (`session.save()`). */
  async saveSession(session: Session<any>): Promise<void> {
    const state = this.#stateOf(session);
    if (!state || state.closed) throw new Error('this session is closed: it was saved when its request ended');
    await this.#persist(session, state);
  }

  /**
   * Adds what a URL needs to carry the session (`request.mkurl()`); the
   * default adds nothing. {@link CookieSession} adds the id when
   * `PSOSessionUrl` says so.
   */
  decorateUrl(_request: ServiceRequest<any>, _session: Session<any>, _params: URLSearchParams): void {}

  /** The request a session was opened for, while it is open. */
  protected requestOf(session: Session<any>): ServiceRequest<any> | undefined {
    return this.#stateOf(session)?.request;
  }

  /** A new id for a session that regenerates or is destroyed. */
  renewSessionId(session: Session<any>): string {
    const state = this.#stateOf(session);
    if (!state || state.closed) throw new Error('this session is closed: its id can no longer change');
    if (state.request[kHeadCommitted]) {
      throw new HeadersSentError('cannot change the session id: the response headers have already been sent');
    }
    return this.#freshId(state.request);
  }

  /**
   * Adds what the client needs to keep its session (the cookie) to the
   * response. Called once, just before the response headers go out.
   */
  beforeHead(session: Session<any>): void {
    const state = this.#stateOf(session);
    if (!state) return;
    const { request } = state;
    const expiry = this.#expiryOf(session, request);
    const expires = this.#plannedExpires(session, state, expiry);
    if (expires <= state.now || (session.destroyed && session.isEmpty) || this.#keepsNothing(session, request)) {
      // Nothing is (or stays) stored: tell a client that sent an id to forget it.
      if (state.fromClient) this.sendSessionId(request, session, 0, true);
      return;
    }
    // Compared with what was loaded: the head usually goes out after close() has saved.
    const send =
      session.isNew ||
      session.id !== state.openedId ||
      !state.fromClient ||
      !sameExpiry(session.expiry, state.loadedExpiry) ||
      (expiry.kind !== 'browser' && expires !== state.loadedExpires) ||
      this.reissueId(request);
    if (send) this.sendSessionId(request, session, expiry.kind === 'browser' ? undefined : expires, false);
  }

  /**
   * Whether the client must be sent its id again though nothing changed; the
   * default never. {@link CookieSession}: it was signed with an older secret.
   */
  reissueId(_request: ServiceRequest<any>): boolean {
    return false;
  }

  /**
   * A new session that holds no data is neither stored nor sent a cookie,
   * unless the handler asked for it (`save()`, `regenerate()`, `expire()`) or
   * `PSOSessionLazy off` says every visitor gets one: an anonymous flood
   * stores nothing.
   */
  #keepsNothing(session: Session<any>, request: ServiceRequest<any>): boolean {
    return session.isNew && session.isEmpty && !session.keepAsked && readFlag(request, 'PSOSessionLazy', true);
  }

  #expiryOf(session: Session<any>, request: ServiceRequest<any>): Expiry {
    return session.expiry ?? readExpiry(request);
  }

  /**
   * When the session ends: its expiry, capped by the idle timeout (always for
   * browser-lifetime sessions, for the others when one is set) and by the
   * absolute timeout counted from creation.
   */
  #expiresFor(session: Session<any>, state: OpenState, expiry: Expiry): number {
    const { request, now } = state;
    const ownIdle = session.timeouts?.idle;
    // An idle limit set in code replaces PSOSessionIdleTimeout for a browser-lifetime session too.
    let expires = ownIdle !== undefined && expiry.kind === 'browser' ? now + ownIdle * 1000 : this.expiresAt(request, expiry, now);
    const idle = ownIdle ?? readOptionalSeconds(request, 'PSOSessionIdleTimeout');
    if (idle !== undefined && expiry.kind !== 'browser') expires = Math.min(expires, now + idle * 1000);
    const absolute = session.timeouts?.absolute ?? readOptionalSeconds(request, 'PSOSessionAbsoluteTimeout');
    if (absolute !== undefined) expires = Math.min(expires, session.created + absolute * 1000);
    return expires;
  }

  /** The expiry to store and to advertise: the same number for both. */
  #plannedExpires(session: Session<any>, state: OpenState, expiry: Expiry): number {
    const expires = this.#expiresFor(session, state, expiry);
    if (
      state.storedExpires !== undefined &&
      session.id === state.openedId &&
      sameExpiry(session.expiry, state.storedExpiry) &&
      sameTimeouts(session.timeouts, state.storedTimeouts) &&
      expires >= state.storedExpires &&
      expires - state.storedExpires < TOUCH_MS
    ) {
      return state.storedExpires;
    }
    return expires;
  }

  async #persist(session: Session<any>, state: OpenState): Promise<void> {
    const { request } = state;
    const dataJson = session.serializeData();
    for (const old of session.retiredIds) {
      await this.#wrap('delete', () => this.remove(request, old));
      if (old === state.openedId) state.storedExpires = undefined;
    }
    session.clearRetired();
    const expiry = this.#expiryOf(session, request);
    const expires = this.#plannedExpires(session, state, expiry);
    if (expires <= state.now || (session.destroyed && session.isEmpty) || this.#keepsNothing(session, request)) {
      if (state.storedExpires !== undefined) await this.#wrap('delete', () => this.remove(request, session.id));
      state.storedExpires = undefined;
      session.markSaved(dataJson);
      return;
    }
    const dataChanged = state.storedExpires === undefined || dataJson !== session.snapshot;
    const lifeChanged =
      expires !== state.storedExpires || !sameExpiry(session.expiry, state.storedExpiry) || !sameTimeouts(session.timeouts, state.storedTimeouts);
    if (dataChanged || lifeChanged) {
      const record: SessionRecord = { data: JSON.parse(dataJson), expires, created: session.created };
      if (session.expiry) record.expiry = session.expiry;
      if (session.timeouts) record.timeouts = session.timeouts;
      const hints = { final: state.closed };
      if (dataChanged) await this.#wrap('save', () => this.save(request, session.id, record, hints));
      else await this.#wrap('touch', () => this.touch(request, session.id, record, hints));
      state.storedExpires = expires;
      state.storedExpiry = session.expiry;
      state.storedTimeouts = session.timeouts;
    }
    session.markSaved(dataJson);
  }

  async #wrap(what: string, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      if (e instanceof SessionStoreError || e instanceof ConfigurationError || e instanceof HttpError) throw e;
      throw new SessionStoreError(`cannot ${what} the session (${this.constructor.name}): ${(e as Error).message}`, { cause: e });
    }
  }

  async #loadChecked(request: ServiceRequest<any>, id: string): Promise<SessionRecord | undefined> {
    try {
      return await this.load(request, id);
    } catch (e) {
      if (e instanceof CorruptSessionError) {
        request.logWith('warn', `stored session ${id.slice(0, 6)}... of ${this.getServiceId(request)} cannot be read (${e.message}); starting a new session`);
        return undefined;
      }
      if (e instanceof SessionStoreError || e instanceof ConfigurationError || e instanceof HttpError) throw e;
      throw new SessionStoreError(`cannot load the session (${this.constructor.name}): ${(e as Error).message}`, { cause: e });
    }
  }

  async #maybeCollect(request: ServiceRequest<any>): Promise<void> {
    if (this.#gcRunning) return;
    let probability: number;
    try {
      probability = readProbability(request, 'PSOSessionGCProbability', 0.01);
    } catch (e) {
      request.logWith('error', (e as Error).message);
      return;
    }
    if (Math.random() >= probability) return;
    // A server sees many requests: one sweep a minute is plenty, however busy it is.
    if (request.persistent && Date.now() - this.#lastGc < GC_INTERVAL_MS) return;
    this.#lastGc = Date.now();
    this.#gcRunning = true;
    try {
      const n = await this.collectGarbage(request);
      if (n > 0) request.logWith('info', `collected ${n} expired session(s)`);
    } catch (e) {
      request.logWith('warn', `collecting expired sessions failed: ${(e as Error).message}`);
    } finally {
      this.#gcRunning = false;
    }
  }
}

/** Timeouts compare by value: a handler that sets the same ones on every request changes nothing. */
function sameTimeouts(a: SessionTimeouts | undefined, b: SessionTimeouts | undefined): boolean {
  return a?.idle === b?.idle && a?.absolute === b?.absolute;
}

function sameExpiry(a: Expiry | undefined, b: Expiry | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.kind !== b.kind) return false;
  if (a.kind === 'after') return a.seconds === (b as typeof a).seconds;
  if (a.kind === 'at') return a.time === (b as typeof a).time;
  return true;
}

/**
 * Makes a cookie name out of a module name: characters a cookie name cannot
 * hold become `_`.
 *
 * @example
 * ```ts
 * cookieNameFrom('my page'); // 'my_page'
 * ```
 */
export function cookieNameFrom(name: string): string {
  const cleaned = name.replace(/[^!#$%&'*+\-.^_`|~0-9A-Za-z]/g, '_').slice(0, 64);
  return cleaned === '' ? 'PSO_SESSION' : cleaned;
}
