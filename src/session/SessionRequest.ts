import type { LogLevel } from '../logging/Logger.js';

/**
 * What the session layer sees of a request: a narrow port that every host's
 * request (a `ServiceRequest`) offers, so that sessions depend on no host and
 * on no generic request type.
 */
export interface SessionRequest {
  /** The handler module's name (the default service id). */
  readonly moduleName: string;
  readonly method: string;
  readonly queryString: string;
  /** True when the process serves many requests (a server), false for CGI and scripts. */
  readonly persistent: boolean;
  /** Whether status and headers have gone out: the session cookie can no longer change. */
  readonly responseStarted: boolean;
  /** A CGI variable or directive, by exact name. */
  getEnviron(key: string): string | undefined;
  /** A directive, by name compared without case. */
  getDirective(name: string): string | undefined;
  getRequestHeader(name: string): string | undefined;
  getCookie(name: string): string | undefined;
  /** Whether the request came over HTTPS. */
  isSecure(): boolean;
  /** The form (for a session id in a POST field). */
  form(): Promise<{ get(name: string): string | undefined }>;
  addHeader(name: string, value: string): void;
  setHeader(name: string, value: string): void;
  logWith(level: LogLevel, ...args: unknown[]): void;
}
