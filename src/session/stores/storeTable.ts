import type { StoreFactory } from './StoreFactory.js';

/** A store pso has, by the name `pso bundle --store` takes. */
export type BuiltInStore = 'sqlite' | 'redis' | 'postgres' | 'mysql';

/**
 * pso's own database stores, by URL scheme: each module exports `fromUrl` and
 * is loaded on first use, so that a process loads only the store (and the
 * database driver) it uses. A CGI bundle carries only the stores named at
 * bundle time (`pso bundle --store redis`). `memory:` is always there.
 */
export const STORE_TABLE: Readonly<Record<string, { store: BuiltInStore; load: () => Promise<StoreFactory> }>> = {
  'sqlite:': { store: 'sqlite', load: () => import('./SqliteStore.js').then((m) => m.fromUrl) },
  'redis:': { store: 'redis', load: () => import('./RedisStore.js').then((m) => m.fromUrl) },
  'rediss:': { store: 'redis', load: () => import('./RedisStore.js').then((m) => m.fromUrl) },
  'postgres:': { store: 'postgres', load: () => import('./PostgresStore.js').then((m) => m.fromUrl) },
  'postgresql:': { store: 'postgres', load: () => import('./PostgresStore.js').then((m) => m.fromUrl) },
  'mysql:': { store: 'mysql', load: () => import('./MysqlStore.js').then((m) => m.fromUrl) },
  'mariadb:': { store: 'mysql', load: () => import('./MysqlStore.js').then((m) => m.fromUrl) },
};
