import type { Expiry } from '../config/expiry.js';
import type { Release } from './locks/KeyedMutex.js';
import type { Session } from './Session.js';
import type { SessionRequest } from './SessionRequest.js';
import type { LockedRecord, SessionStore } from './stores/SessionStore.js';

/** A store lock taken with `lockAndGet` for one request. */
export interface HeldLock {
  key: string;
  locked: LockedRecord;
  /** The record read with the lock, until `load()` takes it. */
  unread: boolean;
  /** `setAndRelease` already gave the lock back. */
  released: boolean;
}

/**
 * Everything a session policy keeps about one request while its session is
 * open, in one place: made when {@link SessionImpl.open} starts, dropped with
 * the request.
 */
export interface OpenSession {
  readonly request: SessionRequest;
  /** When the request began, for every expiry computed during it (`session.touch()` moves it to the touch). */
  now: number;
  session: Session<object> | undefined;
  release: Release | undefined;
  /** The id the session had when it was opened. */
  openedId: string;
  /** The expiry stored with the session (ms), or undefined when nothing is stored. */
  storedExpires: number | undefined;
  /** Expiry as loaded: what the client's cookie reflects. */
  loadedExpires: number | undefined;
  loadedExpiry: Expiry | undefined;
  /** Whether the client sent an id (so a clearing cookie makes sense). */
  fromClient: boolean;
  /** The id came in a URL: the page gets `Referrer-Policy: no-referrer`. */
  viaUrl: boolean;
  /** The id was signed with an older secret: it is sent again, signed with the first. */
  resign: boolean;
  /** A store lock held with the record read under it. */
  held: HeldLock | undefined;
  /** The store this request's session is kept in, once the policy's `storeFor` named it (asked once a request). */
  store: SessionStore | undefined;
  /** The store key a session was found under in the format before hashed keys: deleted once saved under the new one. */
  legacyKey: string | undefined;
  closed: boolean;
  /** Opened read-only: no lock was taken and nothing is saved. */
  readOnly: boolean;
  /** The id came in the `PSOSessionHeader` request header: it goes back in a header, not a cookie. */
  viaHeader: boolean;
  /** Ids the client presented that `regenerate()` had replaced, followed within the grace to this session, in order. */
  forwardedFrom: string[];
  /** The id the client presented, replaced as the session opened (`PSOSessionRotate`): it leads here for the grace. */
  rotatedFrom: string | undefined;
}

/** The state of a request whose session is being opened. */
export function openingState(request: SessionRequest): OpenSession {
  return {
    request, now: Date.now(), session: undefined, release: undefined, openedId: '', storedExpires: undefined,
    loadedExpires: undefined, loadedExpiry: undefined, fromClient: false, viaUrl: false, resign: false,
    held: undefined, store: undefined, legacyKey: undefined, closed: false, readOnly: false, viaHeader: false, forwardedFrom: [], rotatedFrom: undefined,
  };
}

/**
 * The open session of each request, found by request (the policy's hooks)
 * or by session (the session's calls back): a policy's per-request state,
 * in one table, dropped with the request.
 *
 * The state is kept on the request and on the session themselves, under a
 * symbol only this table knows (not enumerable), rather than in WeakMaps.
 * A WeakMap lives long, so it sits in V8's old generation, and its entries
 * whose key is young are kept through young-generation collections: each
 * state holds its request, so every request's graph (request, response,
 * session, record) outlived two of them and was copied to the old
 * generation. With the memory store that was about 5 KB a request, ten
 * times what a request leaves behind without it, and a third more CPU per
 * request (bench/builds.ts, against the build before the table existed).
 *
 * @example
 * ```ts
 * const state = table.opening(request);
 * table.track(session, state);
 * table.live(session, 'its request has ended'); // state, until closed
 * ```
 */
export class OpenSessions {
  /** Where this table keeps a request's (and its session's) state. */
  readonly #slot = Symbol('pso open session');

  /** The state of a request whose session is being opened, found by request from now on. */
  opening(request: SessionRequest): OpenSession {
    const state = openingState(request);
    this.#put(request, state);
    return state;
  }

  /** Finds `state` by its session too, once the session is made. */
  track(session: Session<object>, state: OpenSession): void {
    this.#put(session, state);
  }

  ofRequest(request: SessionRequest): OpenSession | undefined {
    return this.#get(request);
  }

  ofSession(session: Session<object>): OpenSession | undefined {
    return this.#get(session);
  }

  /** The state of a session opened here. @throws Error naming `policy` for any other session. */
  opened(session: Session<object>, policy: string): OpenSession {
    const state = this.#get(session);
    if (!state) throw new Error(`this session was not opened by ${policy}`);
    return state;
  }

  /** The state of a session still open. @throws Error, "this session is closed: " and `why`, for one closed or unknown. */
  live(session: Session<object>, why: string): OpenSession {
    const state = this.#get(session);
    if (!state || state.closed) throw new Error(`this session is closed: ${why}`);
    return state;
  }

  #put(owner: object, state: OpenSession): void {
    Object.defineProperty(owner, this.#slot, { value: state, writable: true, configurable: true, enumerable: false });
  }

  #get(owner: object): OpenSession | undefined {
    return (owner as { [slot: symbol]: OpenSession | undefined })[this.#slot];
  }
}
