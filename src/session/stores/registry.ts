import { ConfigurationError } from '../../config/ConfigurationError.js';
import { cookieStoreFor } from './CookieStore.js';
import { MemoryStore } from './MemoryStore.js';
import type { SessionStore } from './SessionStore.js';
import { redact, redactText } from './redact.js';
import type { StoreFactory } from './StoreFactory.js';
import { STORE_TABLE } from './storeTable.js';

export type { StoreFactory } from './StoreFactory.js';

const factories = new Map<string, StoreFactory>([
  ['memory:', () => new MemoryStore()],
  ['cookie:', (url) => cookieStoreFor(url.href)],
]);
const open = new Map<string, Promise<SessionStore>>();
/** The stores of `open` once made, for answers without waiting. */
const made = new Map<string, SessionStore>();

/**
 * Teaches `PSOSessionStore` a URL scheme of your own (pso's stores are in
 * its store table, loaded on first use).
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
    store = (async () => (await factoryOf(url))(url))();
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

/** The factory of a URL's scheme: one registered, else pso's own from the store table. */
async function factoryOf(url: URL): Promise<StoreFactory> {
  const registered = factories.get(url.protocol);
  if (registered) return registered;
  const builtIn = STORE_TABLE[url.protocol];
  if (!builtIn) {
    const known = [...new Set(['file:', ...factories.keys(), ...Object.keys(STORE_TABLE)])].join(', ');
    throw new ConfigurationError('PSOSessionStore', redact(url), `no store for ${url.protocol} URLs (known: ${known})`);
  }
  try {
    return await builtIn.load();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' && (e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    const missing = /Store\.js/.test((e as Error).message)
      ? `this program was bundled without the ${builtIn.store} store: bundle it with pso bundle --store ${builtIn.store}`
      : `the ${builtIn.store} store needs its database driver, which cannot be loaded (${(e as Error).message.split('\n')[0]})`;
    throw new ConfigurationError('PSOSessionStore', redact(url), missing);
  }
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
