import { parse as parseCookie, serialize as serializeCookie, type SerializeOptions } from 'cookie';
import { DirectiveIndex } from '../config/DirectiveIndex.js';
import { readFlag } from '../config/directives.js';
import { logRequest } from '../logging/logRequest.js';
import type { Logger, LogLevel } from '../logging/Logger.js';
import type { SessionData } from '../session/json.js';
import type { Session } from '../session/Session.js';
import { prefixRules } from '../util/cookiePrefix.js';
import { cgiVariable, type ConnectionFacts } from './cgiVariables.js';
import { makeCsrfToken } from './csrf/csrfToken.js';
import { ServiceReturn } from './errors.js';
import { locationOf } from './fieldValue.js';
import { buildUrl, type UrlParams } from './buildUrl.js';
import type { FormInput } from './forms/FormInput.js';
import { FormReader } from './forms/FormReader.js';
import type { UploadedFile } from './forms/UploadedFile.js';
import { OutgoingResponse } from './response/OutgoingResponse.js';
import type { RequestInternals, SessionBinding } from './SessionBinding.js';

export type { RequestInternals, SessionBinding } from './SessionBinding.js';
import { reasonPhrase } from './status.js';

export type { ConnectionFacts } from './cgiVariables.js';

/** The statuses {@link ServiceRequest.redirect} sends. */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308;
const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

/** What every host gives a request when it makes one. */
export interface ServiceRequestInit {
  /** The handler module's name, the default service id. */
  moduleName: string;
  /** Where `log()` and pso's messages go. */
  logger: Logger;
}

let internals: (request: ServiceRequest<any>) => RequestInternals;

/** @internal The parts of a request the core drives (response, forms, session binding). */
export function internalsOf(request: ServiceRequest<any>): RequestInternals {
  return internals(request);
}

/**
 * The bridge between a handler and the server it runs under: one API for CGI,
 * the command line, node:http and the other hosts. Hosts subclass it and
 * implement the protected primitives; handlers use the public members, which
 * delegate to its response (status, headers, body) and its input (body,
 * form, uploads). `pso()` returns the request itself, so the How-To's
 * `serviceRequest.pso().session` reads the same.
 *
 * @typeParam D - the shape of the session data.
 * @example
 * ```ts
 * export function handler(request: ServiceRequest) {
 *   request.pso().sendHttpHeaders();
 *   const n = request.pso().session.increment('reloads');
 *   request.pso().write(`Hello World!  ~ You reloaded: ${n} times ~ Try Reload !\n`);
 * }
 * ```
 */
export abstract class ServiceRequest<D extends object = SessionData> {
  /** The handler module's name (the default service id). */
  readonly moduleName: string;
  /** The logger this request writes to. */
  protected readonly logger: Logger;
  #binding: SessionBinding<D> | undefined;
  #sessionUsed = false;
  #cookies: Record<string, string | undefined> | undefined;
  #directives: DirectiveIndex | undefined;
  #response: OutgoingResponse | undefined;
  #forms: FormReader | undefined;
  #internals: RequestInternals | undefined;

  static {
    // Made once per request: the core asks for them several times.
    internals = (r) => (r.#internals ??= {
      response: r.#out(),
      forms: r.#in(),
      bind: (b) => {
        r.#binding = b as SessionBinding<any>;
        r.#out().beforeHead = () => b.beforeHead();
      },
      drainInput: () => r.drainInput(),
      sessionUsed: () => r.#sessionUsed,
    });
  }

  constructor(init: ServiceRequestInit) {
    this.moduleName = init.moduleName;
    this.logger = init.logger;
  }

  // ---- what a host provides -------------------------------------------------
  /** The HTTP method, upper case. */
  abstract get method(): string;
  /** The request path, without the query string. */
  abstract get path(): string;
  /** The raw query string, without `?`. */
  abstract get queryString(): string;
  /** True when the host keeps running between requests (node:http), false for CGI and scripts. */
  abstract get persistent(): boolean;
  /** Whether the connection to this server is encrypted (HTTPS), proxies aside. */
  protected abstract transportSecure(): boolean;
  /** An environment variable or directive of this request (CGI meta-variables included). */
  protected abstract environValue(key: string): string | undefined;
  /** The names {@link environValue} knows, for case-insensitive directive names. */
  protected abstract environNames(): Iterable<string>;
  /** The body as it arrives, read once; it ends early only by throwing an `HttpError` 400. */
  protected abstract bodyChunks(): AsyncIterable<Uint8Array>;
  /** A request header by lower-case name, multiple values joined with ", ". */
  protected abstract headerValue(name: string): string | undefined;
  /** Sends status and headers; throws if the host refuses them. */
  protected abstract emitHead(status: number, reason: string, headers: readonly [string, string][]): void;
  /** Sends part of the body. */
  protected abstract emitBody(chunk: Uint8Array): void | Promise<void>;
  /** Ends the response. */
  protected abstract emitEnd(): Promise<void>;
  /** Sends the last part of the body and ends; a host that can do both in one write overrides it. */
  protected async emitLast(chunk: Uint8Array | string): Promise<void> {
    await this.emitBody(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    await this.emitEnd();
  }
  /** Form fields parsed by something in front of pso (Express's `express.urlencoded()`), when the body is gone. */
  protected parsedBody(): Iterable<[string, string]> | undefined { return undefined; }
  /** What the host calls the body's declared length, for error messages. */
  protected get lengthName(): string { return 'Content-Length'; }
  /** Reads what the handler left of the body before the response goes out (CGI); nothing by default. */
  protected drainInput(): Promise<void> | void {}
  /** A CGI meta-variable derived from the request, for hosts that are not CGI. */
  protected cgiVariable(key: string, connection: () => ConnectionFacts): string | undefined {
    // A directive that is not set (most are not, and each is asked for on every request): no CGI variable starts so.
    if (key.startsWith('PSO')) return undefined;
    return cgiVariable({ method: this.method, path: this.path, queryString: this.queryString, header: (n) => this.headerValue(n), secure: () => this.transportSecure() }, key, connection);
  }

  // ---- the bridge -------------------------------------------------------------
  /** The request itself: the How-To's `serviceRequest.pso()` proxy. @example `request.pso().session.get('user')` */
  pso(): this {
    return this;
  }

  /** This request's session, opened before the handler was called. @example `request.session.set('seen', true)` */
  get session(): Session<D> {
    if (!this.#binding) throw new Error('the session is not open yet (it opens before the handler is called)');
    this.#sessionUsed = true;
    return this.#binding.session;
  }

  /**
   * A CSRF token of this request's session, for a form's hidden field (named
   * by `PSOCsrfField`, default `csrf`) or a script's `X-CSRF-Token` header;
   * with `PSOCsrf on`, pso refuses an unsafe request without one (a 403).
   * Each call gives another string, all valid until the session id changes:
   * ask for it after `regenerate()`. The session is kept (stored, its cookie
   * sent) even while it holds no data.
   *
   * @throws SessionReadOnlyError for a read-only session that is not stored (it cannot be kept).
   * @example
   * ```ts
   * request.write(`<form method="post"><input type="hidden" name="csrf" value="${request.csrfToken()}">...</form>`);
   * ```
   */
  csrfToken(): string {
    const session = this.session;
    session.keep('keep the session for a CSRF token');
    return makeCsrfToken(session.id);
  }

  /**
   * Logs the session in as `userId` (`session.login()`): a new id, the session
   * bound to the user in the store's index, with this request's User-Agent
   * for the list of the user's sessions.
   *
   * @example
   * ```ts
   * if (await checkPassword(name, password)) request.login(name).set('name', name);
   * ```
   */
  login(userId: string | number): Session<D> {
    return this.session.login(userId, { userAgent: this.getRequestHeader('user-agent') });
  }

  /** A CGI meta-variable (`REMOTE_ADDR`, `HTTP_USER_AGENT`, ...) or a directive. @example `request.getEnviron('HTTP_USER_AGENT', 'unknown')` */
  getEnviron(key: string): string | undefined;
  getEnviron(key: string, fallback: string): string;
  getEnviron(key: string, fallback?: string): string | undefined {
    return this.environValue(key) ?? fallback;
  }

  /**
   * A directive by name, compared without case and with `-` as `_` (Apache
   * passes `PSOCookieSession_Max-Age` as `..._Max_Age`); an exact match wins.
   * @example `request.getDirective('PSOCookieSession_Domain')`
   */
  getDirective(name: string): string | undefined {
    const exact = this.environValue(name);
    if (exact !== undefined) return exact;
    const actual = (this.#directives ??= new DirectiveIndex(this.environNames())).find(name);
    return actual === undefined ? undefined : this.environValue(actual);
  }

  /** Whether the request came over HTTPS (or, with `PSOTrustProxy on`, `X-Forwarded-Proto` says so). */
  isSecure(): boolean {
    if (this.transportSecure()) return true;
    const forwarded = this.headerValue('x-forwarded-proto');
    return forwarded !== undefined && readFlag(this, 'PSOTrustProxy') && forwarded.split(',')[0]!.trim().toLowerCase() === 'https';
  }

  /** The client's address (`REMOTE_ADDR`), when the host knows it. */
  get remoteAddress(): string | undefined {
    return this.getEnviron('REMOTE_ADDR') || undefined;
  }

  /** The query string's fields. @example `request.query.get('page')` */
  get query(): URLSearchParams {
    return new URLSearchParams(this.queryString);
  }

  /** A request header, by case-insensitive name. @example `request.getRequestHeader('Accept-Language')` */
  getRequestHeader(name: string): string | undefined {
    return this.headerValue(name.toLowerCase());
  }

  /** A cookie the browser sent; a malformed Cookie header never throws. @example `request.getCookie('theme')` */
  getCookie(name: string): string | undefined {
    if (!this.#cookies) {
      const header = this.headerValue('cookie');
      try {
        this.#cookies = header ? parseCookie(header) : {};
      } catch {
        this.#cookies = {};
      }
    }
    return Object.hasOwn(this.#cookies, name) ? this.#cookies[name] : undefined;
  }

  // ---- input (see docs/recipes/forms.md) ---------------------------------------
  /** The body as bytes (at most `PSOMaxBodySize`, or `limit`). @throws HttpError 413, 400. @example `await request.body()` */
  body(limit?: number): Promise<Uint8Array> {
    return this.#in().body(limit);
  }
  /** The query string's and the body's fields and files. @throws HttpError 413 naming the limit, 400. @example `(await request.form()).get('name')` */
  form(): Promise<FormInput> {
    return this.#in().form();
  }
  /** A form field: the first, or the `index`-th of repeated ones; `fallback` when none. @example `request.getInput('qty', '1')` */
  getInput(name: string, fallback: string, index?: number): string;
  getInput(name: string, fallback?: string, index?: number): string | undefined;
  getInput(name: string, fallback?: string, index = 0): string | undefined {
    return this.#in().now().get(name, fallback, index);
  }
  /** Every value of a form field, in order. @example `request.getInputs('tag')` */
  getInputs(name: string): string[] {
    return this.#in().now().getAll(name);
  }
  /** Whether a form field (or file) named `name` came. @example `request.hasInput('search')` */
  hasInput(name: string): boolean {
    return this.#in().now().has(name);
  }
  /** Whether every one of `names` came. @example `request.hasInputs('user', 'password')` */
  hasInputs(...names: string[]): boolean {
    return this.#in().now().has(...names);
  }
  /** The whole form: each name with its values in order. @example `request.getInputDict()` */
  getInputDict(): Record<string, string[]> {
    return this.#in().now().toDict();
  }
  /** A file uploaded in field `name`, removed when the request ends unless kept or saved. @example `request.getFile('document')` */
  getFile(name: string, index = 0): UploadedFile | undefined {
    return this.#in().now().file(name, index);
  }
  /** The files uploaded in field `name`, or all of them. @example `request.getFiles()` */
  getFiles(name?: string): UploadedFile[] {
    return this.#in().now().files(name);
  }

  /**
   * A URL to `path` with `params` added and, when the session travels in URLs
   * (`PSOSessionUrl`), the session id: the How-To's `mkurl`.
   * @example `request.mkurl('/cart', { add: 42 })`
   */
  mkurl(path: string, params: UrlParams = {}): string {
    return buildUrl(path, params, this.#binding && ((query) => this.#binding!.decorateUrl(query)));
  }

  // ---- output -------------------------------------------------------------------
  /** The status that will be sent (200 unless changed). */
  get status(): number {
    return this.#out().status;
  }
  /** Sets the status. @throws RangeError unless 100 to 599. @example `request.setStatus(201)` */
  setStatus(status: number): void {
    this.#out().setStatus(status);
  }
  /** The first value of a response header. @example `request.getHeader('content-type')` */
  getHeader(name: string): string | undefined {
    return this.#out().getHeader(name);
  }
  /**
   * Sets a response header, replacing earlier values.
   * @throws InvalidHeaderError for a name that is not a token or a value HTTP cannot carry (RFC 9110: tab, space, visible ASCII, U+0080-U+00FF).
   * @example `request.setHeader('Cache-Control', 'no-store')`
   */
  setHeader(name: string, value: string | number): void {
    this.removeHeader(name);
    this.addHeader(name, value);
  }
  /** Adds a response header, keeping earlier values (`Set-Cookie`). @throws InvalidHeaderError as {@link setHeader}. */
  addHeader(name: string, value: string | number): void {
    this.#out().addHeader(name, String(value));
  }
  /** Removes every value of a response header. */
  removeHeader(name: string): void {
    this.#out().removeHeader(name);
  }
  /**
   * Adds a `Set-Cookie` header (attributes of the `cookie` package). A name
   * starting with `__Secure-` or `__Host-` gets `Secure` (and `Path=/` for `__Host-`).
   * @throws TypeError for an invalid name, value or attribute, or one the prefix forbids.
   * @example `request.setCookie('theme', 'dark', { maxAge: 3600, sameSite: 'lax' })`
   */
  setCookie(name: string, value: string, attrs: SerializeOptions = {}): void {
    const ruled = prefixRules(name, attrs);
    if (ruled.problem) throw new TypeError(`setCookie(${JSON.stringify(name)}): ${ruled.problem.reason}`);
    this.addHeader('Set-Cookie', serializeCookie(name, value, ruled.options));
  }
  /** Whether the headers were sent (by `sendHttpHeaders()` or a first write); they may still be held back. */
  get headersSent(): boolean {
    return this.#out().headersSent;
  }
  /** Whether status and headers have gone out to the client (after a `flush()`): they can no longer change. */
  get responseStarted(): boolean {
    return this.#response?.committed ?? false;
  }
  /** Sends the headers with a content type (default `text/html`) and the session cookie. @example `request.sendHttpHeaders('text/plain')` */
  sendHttpHeaders(contentType = 'text/html'): void {
    this.#out().sendHeaders(contentType);
  }
  /** Writes to the body (text as UTF-8), held back up to 64 KiB. @example `request.write('<p>hello</p>')` */
  write(data: string | Uint8Array): void {
    this.#out().write(data);
  }
  /** Sends what was written and waits until the client took it; the head can no longer change. */
  flush(): Promise<void> {
    return this.#out().flush();
  }

  /**
   * Redirects and ends the handler; the session is saved before the response
   * completes. A target a URL cannot carry as it is (non-ASCII, spaces) is
   * percent-encoded as UTF-8.
   * @param status - 302 by default; `true` for 301 (the original's `permanent`); or 301, 303, 307, 308.
   * @throws InvalidHeaderError for control characters in `url`; RangeError for another status.
   * @example `request.redirect('/orders/42', 303)`
   */
  redirect(url: string, status: boolean | RedirectStatus = false): never {
    const location = locationOf(url);
    const code = status === true ? 301 : status === false ? 302 : status;
    if (!REDIRECT_STATUSES.includes(code)) {
      throw new RangeError(`redirect status must be one of ${REDIRECT_STATUSES.join(', ')} (or true for 301); got ${String(status)}`);
    }
    this.#out().replace(code, `Redirecting to ${location}\n`, [['Location', location]]);
    throw new ServiceReturn();
  }

  /** Answers `status` with a short body naming it, and ends the handler. @example `request.sendStatus(404)` */
  sendStatus(status: number): never {
    this.#out().replace(status, `${reasonPhrase(status)}\n`);
    throw new ServiceReturn();
  }

  /** Writes a line to the log (`PSOLog`, else the container's logger). @example `request.log('cart emptied')` */
  log(...args: unknown[]): void {
    this.logWith('info', ...args);
  }
  /** Writes a line at a level; a log file that cannot be written never fails the request. @example `request.logWith('warn', 'slow')` */
  logWith(level: LogLevel, ...args: unknown[]): void {
    logRequest(this.logger, () => this.getDirective('PSOLog'), level, `${this.method} ${this.path}`, args);
  }

  #out(): OutgoingResponse {
    return (this.#response ??= new OutgoingResponse({
      head: (status, reason, headers) => this.emitHead(status, reason, headers),
      body: (chunk) => this.emitBody(chunk),
      last: (chunk) => this.emitLast(chunk),
      end: () => this.emitEnd(),
    }, this.method === 'HEAD'));
  }

  #in(): FormReader {
    return (this.#forms ??= new FormReader({
      method: this.method, queryString: this.queryString, lengthName: this.lengthName,
      header: (n) => this.headerValue(n), chunks: () => this.bodyChunks(), parsed: () => this.parsedBody(),
      getEnviron: (k) => this.getEnviron(k), getDirective: (k) => this.getDirective(k),
    }));
  }
}
