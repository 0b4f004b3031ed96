import { inject, injectable, optional } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { TOKENS } from '../container/tokens.js';
import { CookieSession } from './CookieSession.js';
import type { KeyedMutex, Release } from './locks/KeyedMutex.js';
import type { Session } from './Session.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import type { SaveHints } from './SessionImpl.js';
import type { SessionRecord } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';
import { SessionStoreError } from './SessionStoreError.js';
import { CookieStore, cookieStoreFor } from './stores/CookieStore.js';
import { openedStore, openStore } from './stores/registry.js';
import type { SessionStore } from './stores/SessionStore.js';

/** What the cookie store keeps about one request: the session its cookie held, and the value to send. */
interface SealedState {
  loaded?: { key: string; record: SessionRecord; value: string };
  sealed?: { key: string; value: string };
  sent?: boolean;
}

const noLock: Release = async () => {};

/**
 * Cookie sessions kept in a {@link SessionStore}: the one bound under
 * `TOKENS.SessionStore`, else the one the `PSOSessionStore` directive names
 * by URL (`memory:`, `sqlite:///path`, `redis://…`, `postgres://…`,
 * `mysql://…`), so a CGI deployment switches stores from `.htaccess`.
 *
 * With the cookie store (`PSOSessionStore cookie:`, or a bound
 * {@link CookieStore}) the session itself travels in its cookie, sealed:
 * this policy then reads it from the cookie and writes it back into the
 * cookie, and takes no lock.
 *
 * Every store operation is bounded by `PSOSessionStoreTimeout` (default 5 s);
 * a store that fails or does not answer gives the request a 503 and a log
 * line naming the store, and the next request tries again.
 *
 * @example
 * ```ts
 * const container = createContainer();
 * container.bind(TOKENS.SessionStore).toConstantValue(new MemoryStore());
 * container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
 * ```
 */
@injectable()
export class CookieStoreImpl extends CookieSession {
  readonly #bound: SessionStore | undefined;
  readonly #sealed = new WeakMap<SessionRequest, SealedState>();

  constructor(
    @inject(TOKENS.SessionIdGenerator) ids: SessionIdGenerator,
    @inject(TOKENS.SessionMutex) mutex: KeyedMutex,
    @inject(TOKENS.SessionStore) @optional() store?: SessionStore,
  ) {
    super(ids, mutex);
    this.#bound = store;
  }

  /**
   * The store of this request: the bound one, else `PSOSessionStore`'s;
   * `undefined` when neither names one (or it is a `file:` URL). Answered
   * without waiting once the store is open: a server asks on every request.
   */
  override storeFor(request: SessionRequest): SessionStore | undefined | Promise<SessionStore | undefined> {
    if (this.#bound) return this.#bound;
    const url = request.getEnviron('PSOSessionStore');
    if (url === undefined) return undefined;
    const known = openedStore(url);
    if (known) return known;
    const trimmed = url.trim();
    // The cookie store is known at once: identification needs it before anything is awaited.
    if (/^cookie:/i.test(trimmed)) return cookieStoreFor(trimmed);
    // A file: URL names the directory of the file policy, not a store.
    return trimmed === '' || trimmed.startsWith('file:') ? undefined : openStore(trimmed);
  }

  /** The cookie store, when this request's sessions are kept in their cookies. */
  #cookieStore(request: SessionRequest): CookieStore | undefined {
    if (this.#bound) return this.#bound instanceof CookieStore ? this.#bound : undefined;
    const url = request.getEnviron('PSOSessionStore')?.trim();
    return url !== undefined && /^cookie:/i.test(url) ? cookieStoreFor(url) : undefined;
  }

  #state(request: SessionRequest): SealedState {
    let state = this.#sealed.get(request);
    if (!state) this.#sealed.set(request, (state = {}));
    return state;
  }

  override checkConfiguration(request: SessionRequest): void {
    super.checkConfiguration(request);
    const store = this.#cookieStore(request);
    if (!store) return;
    store.keys(request);
    if (this.urlSessionMode(request) !== 'off') {
      throw new ConfigurationError('PSOSessionUrl', request.getEnviron('PSOSessionUrl'), 'the cookie store keeps the session in its cookie, which cannot travel in URLs: set PSOSessionUrl off');
    }
  }

  /**
   * With the cookie store: the session sealed in the cookie, opened (its
   * record kept for {@link load}); one sealed with an older key is sealed
   * again with the first, and sent back.
   */
  override decodeId(request: SessionRequest, value: string): string | undefined {
    const store = this.#cookieStore(request);
    if (!store) return super.decodeId(request, value);
    const name = this.getServiceId(request);
    const opened = store.open(request, name, value);
    if (!opened || !this.isValidSessionId(opened.id)) return undefined;
    const key = this.storeKey(request, opened.id);
    const state = this.#state(request);
    state.loaded = { key, record: opened.record, value };
    if (opened.older) {
      state.sealed = { key, value: store.seal(request, name, opened.id, opened.record) };
      state.sent = false;
    }
    return opened.id;
  }

  /** With the cookie store: the session sealed, as last saved (or as it came, when it was not written). */
  override encodeId(request: SessionRequest, id: string): string {
    if (!this.#cookieStore(request)) return super.encodeId(request, id);
    const value = this.#valueOf(request, id);
    if (value === undefined) throw new Error('the session was not sealed: nothing to send');
    return value;
  }

  #valueOf(request: SessionRequest, id: string): string | undefined {
    const state = this.#sealed.get(request);
    const key = this.storeKey(request, id);
    if (state?.sealed?.key === key) return state.sealed.value;
    return state?.loaded?.key === key ? state.loaded.value : undefined;
  }

  /** With the cookie store, a session written during the request goes back in its cookie. */
  override reissueId(request: SessionRequest): boolean {
    const state = this.#cookieStore(request) ? this.#sealed.get(request) : undefined;
    return super.reissueId(request) || (state?.sealed !== undefined && !state.sent);
  }

  /** With the cookie store, a session never sealed (the head went out before it was saved) sends no cookie. */
  override sendSessionId(request: SessionRequest, session: Session<object>, expires: number | undefined, clear: boolean): void {
    if (!clear && this.#cookieStore(request)) {
      if (this.#valueOf(request, session.id) === undefined) return;
      this.#state(request).sent = true;
    }
    super.sendSessionId(request, session, expires, clear);
  }

  override load(request: SessionRequest, id: string): Promise<SessionRecord | undefined> {
    if (!this.#cookieStore(request)) return super.load(request, id);
    const loaded = this.#sealed.get(request)?.loaded;
    return Promise.resolve(loaded?.key === this.storeKey(request, id) ? loaded.record : undefined);
  }

  override save(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    const store = this.#cookieStore(request);
    return store ? this.#seal(store, request, id, record) : super.save(request, id, record, hints);
  }

  async #seal(store: CookieStore, request: SessionRequest, id: string, record: SessionRecord): Promise<void> {
    if (request.responseStarted) {
      throw new SessionStoreError(
        'the session is kept in its cookie (PSOSessionStore cookie:), and the response headers went out before it was saved, so its changes cannot be sent: ' +
          'save it before the response starts (await request.session.save() before flush() or a write of more than 64 KiB)',
      );
    }
    const state = this.#state(request);
    state.sealed = { key: this.storeKey(request, id), value: store.seal(request, this.getServiceId(request), id, record) };
    state.sent = false;
  }

  /** With the cookie store, a later expiry is sealed again; once the head is out the cookie keeps the one it has. */
  override touch(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void> {
    if (!this.#cookieStore(request)) return super.touch(request, id, record, hints);
    return request.responseStarted ? Promise.resolve() : this.save(request, id, record, hints);
  }

  override remove(request: SessionRequest, id: string): Promise<void> {
    if (!this.#cookieStore(request)) return super.remove(request, id);
    const state = this.#sealed.get(request);
    if (state?.sealed?.key === this.storeKey(request, id)) state.sealed = undefined;
    return Promise.resolve();
  }

  /** With the cookie store there is nothing to lock: each request carries its own copy. */
  override lock(request: SessionRequest, id: string): Promise<Release> {
    return this.#cookieStore(request) ? Promise.resolve(noLock) : super.lock(request, id);
  }

  override collectGarbage(request: SessionRequest): Promise<number> {
    return this.#cookieStore(request) ? Promise.resolve(0) : super.collectGarbage(request);
  }
}
