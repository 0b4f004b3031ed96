import type { SessionStore } from './SessionStore.js';

/**
 * Makes a store from its URL (the `PSOSessionStore` directive).
 *
 * @example
 * ```ts
 * const fromUrl: StoreFactory = (url) => new EtcdStore(url);
 * ```
 */
export type StoreFactory = (url: URL) => SessionStore | Promise<SessionStore>;
