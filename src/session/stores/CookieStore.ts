import { ConfigurationError } from '../../config/ConfigurationError.js';
import { cookieKeys, openText, sealText, type CookieKey } from '../identity/cookieSeal.js';
import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import type { SessionRequest } from '../SessionRequest.js';
import { SessionStoreError } from '../SessionStoreError.js';
import { redactText } from './redact.js';
import type { SessionStore } from './SessionStore.js';

/**
 * Longest `name=value` of the session cookie: browsers keep at most 4,096
 * bytes of a cookie's name and value, and drop a longer one without a word.
 */
export const MAX_COOKIE_BYTES = 4096;

/** Options of {@link CookieStore}. */
export interface CookieStoreOptions {
  /**
   * The keys (at least 32 characters each): the first seals, every one
   * opens. Default: the `PSOSessionCookieKeys` directive of each request.
   */
  keys?: readonly string[];
}

/** A session opened from its cookie. */
export interface OpenedCookie {
  id: string;
  record: SessionRecord;
  /** Sealed with a key other than the first: it should be sealed again. */
  older: boolean;
}

/**
 * Sessions kept in their own cookie (`PSOSessionStore cookie:`): the record
 * and the id, sealed with AES-256-GCM under the first of a list of keys
 * (every listed key opens, so keys can be rotated), bound to the cookie's
 * name. Nothing is kept on the server, so it suits hosts with no writable
 * directory and fetch runtimes.
 *
 * What it cannot do: there is no lock across a visitor's parallel requests
 * (each carries the cookie it was sent, and the last response wins), and no
 * revocation but by rotating keys out (which ends every session sealed with
 * them); an old cookie stays valid until its session's expiry, which is
 * sealed in it and checked. It keeps no index of users' sessions. A session
 * must fit in 4,096 bytes of cookie, sealed and encoded: a bigger one is a
 * {@link SessionStoreError} that says so, before a browser drops it.
 *
 * The session policy (`CookieStoreImpl`, and `CookieFileImpl` which extends
 * it) reads and writes the cookie; the key-value methods of the store
 * contract are not for it.
 *
 * @example
 * ```ts
 * // SetEnv PSOSessionStore cookie:
 * // SetEnv PSOSessionCookieKeys "k1-of-at-least-32-characters...... k0-the-old-one-until-it-expires...."
 * container.bind(TOKENS.SessionStore).toConstantValue(new CookieStore({ keys: [process.env.COOKIE_KEY!] }));
 * ```
 */
export class CookieStore implements SessionStore {
  readonly name = 'cookie:';
  /** Sessions live with the client: no index, no forwards, no lock. */
  readonly clientSide = true;
  readonly #keys: CookieKey[] | undefined;

  constructor(options: CookieStoreOptions = {}) {
    this.#keys = options.keys ? cookieKeys(options.keys, 'CookieStore keys') : undefined;
  }

  /**
   * The cookie value of a session: its id and record, sealed for the cookie
   * `name`.
   *
   * @throws SessionStoreError when the cookie would be over 4,096 bytes;
   *   ConfigurationError when no key is configured.
   */
  seal(request: SessionRequest, name: string, id: string, record: SessionRecord): string {
    const value = sealText(this.keys(request), context(name), `${id}\n${serializeRecord(record)}`);
    const size = name.length + 1 + value.length;
    if (size > MAX_COOKIE_BYTES) {
      throw new SessionStoreError(
        `the session holds ${Buffer.byteLength(JSON.stringify(record.data))} bytes of data, which sealed in its cookie make a cookie of ${size} bytes, ` +
          `more than the ${MAX_COOKIE_BYTES} browsers keep (they would drop it): it was not saved; keep less in the session (ids rather than objects), ` +
          'or keep sessions on the server (PSOSessionStore)',
      );
    }
    return value;
  }

  /** The session sealed in a cookie value for `name`, or `undefined` (another key, altered, not one of ours). */
  open(request: SessionRequest, name: string, value: string): OpenedCookie | undefined {
    const opened = openText(this.keys(request), context(name), value);
    if (opened === undefined) return undefined;
    const { text, older } = opened;
    const nl = text.indexOf('\n');
    if (nl < 1) return undefined;
    try {
      return { id: text.slice(0, nl), record: parseRecord(text.slice(nl + 1)), older };
    } catch {
      return undefined;
    }
  }

  /** The keys: the store's own, else the request's `PSOSessionCookieKeys`. @throws ConfigurationError when there are none. */
  keys(request: SessionRequest): CookieKey[] {
    if (this.#keys) return this.#keys;
    const raw = request.getEnviron('PSOSessionCookieKeys');
    return cookieKeys(raw === undefined ? [] : raw.trim().split(/\s+/).filter((s) => s !== ''));
  }

  get(): Promise<SessionRecord | undefined> {
    return Promise.reject(notByKey());
  }

  set(): Promise<void> {
    return Promise.reject(notByKey());
  }

  destroy(): Promise<void> {
    return Promise.reject(notByKey());
  }
}

function context(name: string): string {
  return `pso cookie\0${name}`;
}

function notByKey(): Error {
  return new Error('the cookie store keeps each session in its own cookie: it is read and written by the session policy (CookieStoreImpl), not by key');
}

const made = new Map<string, CookieStore>();

/**
 * The store a `cookie:` URL names, one per URL text. The URL takes nothing
 * after the scheme: the keys come from `PSOSessionCookieKeys`.
 *
 * @throws ConfigurationError for anything after `cookie:`.
 */
export function cookieStoreFor(url: string): CookieStore {
  let store = made.get(url);
  if (store) return store;
  if (!/^cookie:\/*$/i.test(url.trim())) {
    throw new ConfigurationError('PSOSessionStore', redactText(url), 'a cookie: store takes nothing after "cookie:" (its keys are PSOSessionCookieKeys)');
  }
  store = new CookieStore();
  made.set(url, store);
  return store;
}
