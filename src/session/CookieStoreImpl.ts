import { inject, injectable, optional } from 'inversify';
import { TOKENS } from '../container/tokens.js';
import { CookieSession } from './CookieSession.js';
import type { KeyedMutex } from './locks/KeyedMutex.js';
import type { SessionIdGenerator } from './SessionIdGenerator.js';
import type { SessionRequest } from './SessionRequest.js';
import { openedStore, openStore } from './stores/registry.js';
import type { SessionStore } from './stores/SessionStore.js';

/**
 * Cookie sessions kept in a {@link SessionStore}: the one bound under
 * `TOKENS.SessionStore`, else the one the `PSOSessionStore` directive names
 * by URL (`memory:`, `sqlite:///path`, `redis://…`, `postgres://…`,
 * `mysql://…`), so a CGI deployment switches stores from `.htaccess`.
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
    // A file: URL names the directory of the file policy, not a store.
    return trimmed === '' || trimmed.startsWith('file:') ? undefined : openStore(trimmed);
  }
}
