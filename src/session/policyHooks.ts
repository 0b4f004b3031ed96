import { ConfigurationError } from '../config/ConfigurationError.js';
import type { Expiry } from '../config/expiry.js';
import type { Release } from './locks/KeyedMutex.js';
import { SessionError } from './SessionError.js';
import type { SessionRecord } from './SessionRecord.js';
import type { SessionRequest } from './SessionRequest.js';
import { SessionStoreError } from './SessionStoreError.js';

/** How {@link SessionImpl.open} opens a session. */
export interface OpenOptions {
  /**
   * Read-only: no lock is taken and nothing is saved, so the same visitor's
   * other requests never wait for this one; a change is a `SessionReadOnlyError`.
   */
  readOnly?: boolean | undefined;
}

/** What {@link SessionImpl.save} is told about a save. */
export interface SaveHints {
  /** The save that ends the request; the lock is released right after it. */
  final: boolean;
}

/**
 * A session policy's hooks as the parts of its algorithm call them
 * (`opening.ts`, `persisting.ts`, `sessionOperations.ts`). The policy is
 * a {@link SessionImpl} that passes itself: what runs is its own hook, a
 * subclass's override included.
 */
export interface PolicyHooks {
  getServiceId(request: SessionRequest): string;
  getForcedSessionId(request: SessionRequest): string | undefined;
  getSessionId(request: SessionRequest): string | undefined | Promise<string | undefined>;
  newSessionId(request: SessionRequest): string;
  isValidSessionId(id: string): boolean;
  load(request: SessionRequest, id: string): Promise<SessionRecord | undefined>;
  save(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void>;
  touch(request: SessionRequest, id: string, record: SessionRecord, hints?: SaveHints): Promise<void>;
  remove(request: SessionRequest, id: string): Promise<void>;
  lock(request: SessionRequest, id: string): Promise<Release>;
  keepsForwards(request: SessionRequest): Promise<boolean>;
  expiresAt(request: SessionRequest, expiry: Expiry, now: number): number;
}

/**
 * A new id from the policy's `newSessionId()`, checked with its
 * `isValidSessionId()`: an override that disagrees with itself is a bug to
 * report, not an id to hand out.
 *
 * @example
 * ```ts
 * const id = freshId(impl, request);
 * ```
 */
export function freshId(hooks: PolicyHooks, request: SessionRequest): string {
  const id = hooks.newSessionId(request);
  if (!hooks.isValidSessionId(id)) {
    throw new Error(`${hooks.constructor.name}.newSessionId() returned ${JSON.stringify(id)}, which isValidSessionId() refuses`);
  }
  return id;
}

/**
 * Runs a storage hook; its failure comes out as a session error: what it
 * is when it is one already (or a configuration error), else a
 * {@link SessionStoreError} naming the step and the policy.
 *
 * @example
 * ```ts
 * await storageStep(impl, 'save', () => impl.save(request, id, record));
 * ```
 */
export function storageStep<T>(hooks: PolicyHooks, what: string, op: () => Promise<T>): Promise<T> {
  // A promise chain, not an async function: a request takes several steps, each one promise less.
  const failure = (e: unknown): unknown =>
    e instanceof SessionError || e instanceof ConfigurationError ? e : new SessionStoreError(`cannot ${what} the session (${hooks.constructor.name}): ${(e as Error).message}`, { cause: e });
  try {
    return Promise.resolve(op()).then(undefined, (e: unknown) => {
      throw failure(e);
    });
  } catch (e) {
    return Promise.reject(failure(e));
  }
}
