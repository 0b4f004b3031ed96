import type { Session } from '../session/Session.js';
import type { FormReader } from './forms/FormReader.js';
import type { OutgoingResponse } from './response/OutgoingResponse.js';

/** How a request's session is tied to it: set by the core once the session is open. */
export interface SessionBinding<D extends object> {
  readonly session: Session<D>;
  /** Adds the session cookie; called once, just before the head goes out. */
  beforeHead(): void;
  /** Adds what a URL needs to carry the session (`mkurl`). */
  decorateUrl(params: URLSearchParams): void;
}

/** What the core (not handlers) reaches of a request. @internal */
export interface RequestInternals {
  readonly response: OutgoingResponse;
  readonly forms: FormReader;
  bind(binding: SessionBinding<object>): void;
  /** Whether the handler has used `request.session` (or asked for a CSRF token): the response may show it. */
  sessionUsed(): boolean;
  drainInput(): Promise<void> | void;
}
