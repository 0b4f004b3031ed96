import { ConfigurationError } from '../../config/ConfigurationError.js';
import type { SessionStore } from '../stores/SessionStore.js';
import type { UserIndex } from '../stores/UserIndex.js';

/**
 * The index of users' sessions a store keeps.
 *
 * @throws ConfigurationError naming the store when it keeps none: the cookie
 *   store (sessions live in the browsers), a connect store, your own store
 *   without `users`, or a policy that keeps sessions itself.
 * @example
 * ```ts
 * const index = userIndexOf(await policy.storeFor(request), policy.constructor.name);
 * ```
 */
export function userIndexOf(store: SessionStore | undefined, policy: string): UserIndex {
  if (store?.users) return store.users;
  if (store && (store as { clientSide?: boolean }).clientSide) {
    throw new ConfigurationError(
      'PSOSessionStore', store.name,
      'the cookie store keeps each session in its browser: a user\'s sessions cannot be listed or revoked one by one (changing PSOSessionCookieKeys ends every session at once); use a server-side store for this',
    );
  }
  throw new ConfigurationError(
    'PSOSessionStore', store?.name ?? `(${policy} keeps sessions itself)`,
    'this store keeps no index of users\' sessions: sessions are bound to users, but cannot be listed or revoked; use files, memory:, sqlite:, redis:, postgres: or mysql:',
  );
}
