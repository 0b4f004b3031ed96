import { ConfigurationError } from '../../config/ConfigurationError.js';
import { MemoryStore } from './MemoryStore.js';
import type { SessionStore } from './SessionStore.js';
import { redact, redactText } from './redact.js';

/** Makes a store from its URL (the `PSOSessionStore` directive). */
export type StoreFactory = (url: URL) => SessionStore | Promise<SessionStore>;

const factories = new Map<string, StoreFactory>([['memory:', () => new MemoryStore()]]);
const open = new Map<string, Promise<SessionStore>>();
/** The stores of `open` once made, for answers without waiting. */
const made = new Map<string, SessionStore>();

/**
 * Teaches `PSOSessionStore` a URL scheme. pso's own stores register
 * themselves when their module is imported; do the same for yours.
 *
 * @example
 * ```ts
 * registerStore('etcd:', (url) => new EtcdStore(url));
 * // SetEnv PSOSessionStore etcd://127.0.0.1:2379/
 * ```
 */
export function registerStore(scheme: string, factory: StoreFactory): void {
  factories.set(scheme.endsWith(':') ? scheme : `${scheme}:`, factory);
}

/**
 * pso's own stores, by scheme: modules beside this one that register
 * themselves when loaded, on first use, so that a process loads only the
 * store (and the database driver) it uses. A CGI bundle carries only the
 * stores named at bundle time (`pso bundle --store redis`).
 */
const BUILT_IN: Readonly<Record<string, { store: string; load: () => Promise<unknown> }>> = {
  'sqlite:': { store: 'sqlite', load: () => import('./SqliteStore.js') },
  'redis:': { store: 'redis', load: () => import('./RedisStore.js') },
  'rediss:': { store: 'redis', load: () => import('./RedisStore.js') },
  'postgres:': { store: 'postgres', load: () => import('./PostgresStore.js') },
  'postgresql:': { store: 'postgres', load: () => import('./PostgresStore.js') },
  'mysql:': { store: 'mysql', load: () => import('./MysqlStore.js') },
  'mariadb:': { store: 'mysql', load: () => import('./MysqlStore.js') },
};

/**
 * The store named by a URL, made once per process and URL. `file:` URLs are
 * not stores (the file policy handles them) and give `undefined`.
 *
 * @throws ConfigurationError for a URL pso cannot read or a scheme it does not know.
 */
export async function openStore(text: string): Promise<SessionStore | undefined> {
  // Per request in a server: the cache first, before any parsing.
  const known = open.get(text);
  if (known) return known;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigurationError('PSOSessionStore', redactText(text), 'expected a URL such as redis://127.0.0.1:6379/0 or sqlite:///var/lib/pso/sessions.db (the value is not shown: it may hold a password)');
  }
  if (url.protocol === 'file:') return undefined;
  let store = open.get(text);
  if (!store) {
    store = (async () => {
      const builtIn = BUILT_IN[url.protocol];
      if (!factories.has(url.protocol) && builtIn) {
        try {
          await builtIn.load();
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' && (e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
          const missing = /Store\.js/.test((e as Error).message)
            ? `this program was bundled without the ${builtIn.store} store: bundle it with pso bundle --store ${builtIn.store}`
            : `the ${builtIn.store} store needs its database driver, which cannot be loaded (${(e as Error).message.split('\n')[0]})`;
          throw new ConfigurationError('PSOSessionStore', redact(url), missing);
        }
      }
      const factory = factories.get(url.protocol);
      if (!factory) {
        throw new ConfigurationError('PSOSessionStore', redact(url), `no store for ${url.protocol} URLs (known: file:, ${[...factories.keys(), ...Object.keys(BUILT_IN)].filter((v, i, a) => a.indexOf(v) === i).join(', ')})`);
      }
      return factory(url);
    })();
    open.set(text, store);
    store.then(
      (s) => {
        if (open.get(text) === store) made.set(text, s);
      },
      () => open.delete(text),
    );
  }
  return store;
}

/**
 * The store {@link openStore} already made for this URL text, or
 * `undefined` (not made yet, being made, or none): a server asks on every
 * request, and need not wait for an answer it has.
 */
export function openedStore(text: string): SessionStore | undefined {
  return made.get(text);
}

/**
 * Closes every store opened by URL (their connection pools): a CGI process
 * calls it before it exits, a server when it stops.
 */
export async function closeStores(): Promise<void> {
  const stores = [...open.values()];
  open.clear();
  made.clear();
  await Promise.all(stores.map(async (p) => (await p.catch(() => undefined))?.close?.()));
}

export { redact } from './redact.js';
