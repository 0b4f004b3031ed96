import { parse as parseCookie, serialize as serializeCookie, type SerializeOptions } from 'cookie';
import { FileLogger } from '../logging/FileLogger.js';
import type { Logger, LogLevel } from '../logging/Logger.js';
import type { Session } from '../session/Session.js';
import type { SessionData } from '../session/json.js';
import { HeadersSentError, HttpError, InvalidHeaderError, ServiceReturn } from './errors.js';
import { kAttachSession, kBeforeHead, kCleanup, kFinish, kHeadCommitted, kPrepare, kSendError, kStoreLock } from './internal.js';
import { FormInput } from './forms/FormInput.js';
import { FORM_DEFAULTS, readFormLimits, type FormLimits } from './forms/limits.js';
import { kDiscard, type UploadedFile } from './forms/UploadedFile.js';
import { charsetOf, decodeFields, splitUrlencoded, type RawField } from './forms/urlencoded.js';
import { reasonPhrase } from './status.js';
import { checkField, locationOf } from './fieldValue.js';
import { prefixRules } from '../util/cookiePrefix.js';
import { readFlag, readBytes } from '../config/directives.js';
import { directiveKey } from '../config/ServerDirectives.js';

/** Output is held back until the handler ends, up to this size, so that a failed save can still answer 500. */
const BUFFER_LIMIT = 64 * 1024;

/** The statuses {@link ServiceRequest.redirect} sends. */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308;
const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

/** What a host knows of the connection, for the CGI variables it derives. */
export interface ConnectionFacts {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: string | undefined;
  readonly serverAddress?: string | undefined;
  readonly serverPort?: string | undefined;
  readonly serverName?: string | undefined;
  readonly protocol?: string | undefined;
}

/** What every host gives a request when it makes one. */
export interface ServiceRequestInit {
  /** The handler module's name, the default service id. */
  moduleName: string;
  /** Where `log()` and pso's messages go. */
  logger: Logger;
}

/**
 * The bridge between a handler and the server it runs under: one API for CGI,
 * the command line, node:http and the other hosts. Hosts subclass it and
 * implement the protected primitives; handlers use the public members.
 *
 * `pso()` returns the request itself, so the How-To's
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

  #session: Session<D> | undefined;
  #status = 200;
  #headers: [string, string][] = [];
  #headersSent = false;
  #headCommitted = false;
  /** Output held back; text stays text until it goes out (a host may send it with the head in one piece). */
  #buffer: (Uint8Array | string)[] = [];
  #buffered = 0;
  #cookies: Record<string, string | undefined> | undefined;
  #beforeHead: (() => void) | undefined;
  #decorateUrl: ((params: URLSearchParams) => void) | undefined;
  #body: Promise<Uint8Array> | undefined;
  #bodyTaken = false;
  #form: Promise<FormInput> | undefined;
  #formInput: FormInput | undefined;
  #uploads: UploadedFile[] = [];
  #directiveNames: Map<string, string> | undefined;
  #sending: Promise<void> = Promise.resolve();
  /** @internal The store lock the session policy holds for this request, with what it read. */
  [kStoreLock]: unknown = undefined;

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
  /**
   * The request body as it arrives, read once by the core. It ends early
   * only by throwing: an {@link HttpError} 400 when the client went away or
   * sent less than it declared. Limits are the core's business.
   */
  protected abstract bodyChunks(): AsyncIterable<Uint8Array>;
  /** A request header by lower-case name, multiple values joined with ", ". */
  protected abstract headerValue(name: string): string | undefined;
  /**
   * Form fields that something in front of pso parsed already (Express's
   * `express.urlencoded()`, say), when the body itself is gone; `undefined`
   * when pso reads the body.
   */
  protected parsedBody(): Iterable<[string, string]> | undefined {
    return undefined;
  }

  /** What the host calls the body's declared length, for error messages. */
  protected get lengthName(): string {
    return 'Content-Length';
  }
    /** Sends status and headers. Called once. */
  protected abstract emitHead(status: number, reason: string, headers: readonly [string, string][]): void;
  /** Sends part of the body. */
  protected abstract emitBody(chunk: Uint8Array): void | Promise<void>;
  /** Ends the response. */
  protected abstract emitEnd(): Promise<void>;
  /**
   * Sends the last part of the body and ends the response. The default is
   * {@link emitBody} then {@link emitEnd}; a host that can do both in one
   * write overrides it (most responses are one piece).
   */
  protected async emitLast(chunk: Uint8Array | string): Promise<void> {
    await this.emitBody(asBytes(chunk));
    await this.emitEnd();
  }

  // ---- the bridge -------------------------------------------------------------

  /**
   * The request itself: the How-To's `serviceRequest.pso()` proxy.
   *
   * @example
   * ```ts
   * request.pso().session.get('user');
   * ```
   */
  pso(): this {
    return this;
  }

  /**
   * This request's session, loaded before the handler was called.
   *
   * @example
   * ```ts
   * request.session.set('seen', true);
   * ```
   */
  get session(): Session<D> {
    if (!this.#session) throw new Error('the session is not open yet (it opens before the handler is called)');
    return this.#session;
  }

  /**
   * A variable of the request's environment: a CGI meta-variable
   * (`REMOTE_ADDR`, `HTTP_USER_AGENT`, ...) or a directive (`PSOServiceId`, ...).
   *
   * @example
   * ```ts
   * const agent = request.getEnviron('HTTP_USER_AGENT', 'unknown');
   * ```
   */
  getEnviron(key: string): string | undefined;
  getEnviron(key: string, fallback: string): string;
  getEnviron(key: string, fallback?: string): string | undefined {
    return this.environValue(key) ?? fallback;
  }

  /**
   * A directive, by case-insensitive name (`PSOCookieSession_path` finds
   * `PSOCookieSession_Path`); an exact match wins. `-` and `_` match each
   * other: Apache passes `SetEnv PSOCookieSession_Max-Age` to CGIs as `..._Max_Age`.
   *
   * @example
   * ```ts
   * request.getDirective('PSOCookieSession_Domain');
   * ```
   */
  getDirective(name: string): string | undefined {
    const exact = this.environValue(name);
    if (exact !== undefined) return exact;
    if (!this.#directiveNames) {
      this.#directiveNames = new Map();
      for (const n of this.environNames()) if (/^pso/i.test(n)) this.#directiveNames.set(directiveKey(n), n);
    }
    const actual = this.#directiveNames.get(directiveKey(name));
    return actual === undefined ? undefined : this.environValue(actual);
  }

  /**
   * Whether the request came over HTTPS: the connection is encrypted, or a
   * trusted proxy (`PSOTrustProxy on`) says so in `X-Forwarded-Proto`.
   */
  isSecure(): boolean {
    if (this.transportSecure()) return true;
    const forwarded = this.headerValue('x-forwarded-proto');
    if (forwarded === undefined) return false;
    return readFlag(this, 'PSOTrustProxy') && forwarded.split(',')[0]!.trim().toLowerCase() === 'https';
  }

  /**
   * The request body as bytes (read once; at most `PSOMaxBodySize` bytes,
   * default 1 MiB, or `limit`). A `multipart/form-data` body is not kept
   * whole: read its fields and files with {@link getInput} and {@link getFile}.
   *
   * @throws HttpError 413 when the body is larger; 400 when it is cut short.
   * @example
   * ```ts
   * const payload = JSON.parse(Buffer.from(await request.body()).toString('utf8'));
   * ```
   */
  body(limit?: number): Promise<Uint8Array> {
    return (this.#body ??= this.#readWhole(limit ?? readBytes(this, 'PSOMaxBodySize', FORM_DEFAULTS.maxBodySize)));
  }

  /**
   * The form input: the fields of the query string, then those of an
   * `application/x-www-form-urlencoded` or `multipart/form-data` body, and
   * the files uploaded with it. pso reads a form body before the handler
   * runs (unless `PSOFormParse off`), so this resolves at once; the sync
   * {@link getInput}, {@link getInputs}, {@link hasInputs}, {@link getFile}
   * read the same.
   *
   * Text is decoded as UTF-8, or as the charset the request names (its
   * Content-Type, or HTML's `_charset_` field); bytes that are not valid in
   * it give a 400, never silently altered text.
   *
   * @throws HttpError 413 naming the limit (`PSOMaxBodySize`, `PSOMaxUploadSize`,
   *   `PSOMaxFileSize`, `PSOMaxFiles`, `PSOMaxFields`, `PSOMaxFieldSize`), 400 for
   *   a malformed, truncated or wrongly encoded body.
   * @example
   * ```ts
   * const name = (await request.form()).get('name') ?? 'stranger';
   * ```
   */
  form(): Promise<FormInput> {
    return (this.#form ??= this.#readForm().then((f) => (this.#formInput = f)));
  }

  /**
   * A form field's value (the query string's or the body's): the first, or
   * the `index`-th of repeated ones; `fallback` when there is none. The
   * original's `getInput(key, default, index)`.
   *
   * @example
   * ```ts
   * const qty = Number(request.getInput('qty', '1'));
   * ```
   */
  getInput(name: string, fallback: string, index?: number): string;
  getInput(name: string, fallback?: string, index?: number): string | undefined;
  getInput(name: string, fallback?: string, index = 0): string | undefined {
    return this.#formNow().get(name, fallback, index);
  }

  /**
   * Every value of a form field, in order; empty when there is none.
   *
   * @example
   * ```ts
   * for (const tag of request.getInputs('tag')) request.write(`#${tag} `);
   * ```
   */
  getInputs(name: string): string[] {
    return this.#formNow().getAll(name);
  }

  /**
   * Whether a form field (or file) named `name` came with the request.
   *
   * @example
   * ```ts
   * if (request.hasInput('search')) runSearch(request.getInput('search')!);
   * ```
   */
  hasInput(name: string): boolean {
    return this.#formNow().has(name);
  }

  /**
   * Whether every one of `names` came with the request.
   *
   * @example
   * ```ts
   * if (!request.hasInputs('user', 'password')) request.sendStatus(400);
   * ```
   */
  hasInputs(...names: string[]): boolean {
    return this.#formNow().has(...names);
  }

  /**
   * The whole form as a dictionary: each field name with its values in
   * order (an object without prototype, so no name is special).
   *
   * @example
   * ```ts
   * request.write(JSON.stringify(request.getInputDict())); // {"a":["1","2"],"b":["x"]}
   * ```
   */
  getInputDict(): Record<string, string[]> {
    return this.#formNow().toDict();
  }

  /**
   * A file uploaded in field `name` (the `index`-th when several were), or
   * `undefined`. Its temporary file is removed when the request ends unless
   * you `keep()` or `save()` it.
   *
   * @example
   * ```ts
   * const upload = request.getFile('document');
   * if (upload) await upload.save(`/srv/docs/${randomUUID()}.pdf`);
   * ```
   */
  getFile(name: string, index = 0): UploadedFile | undefined {
    return this.#formNow().file(name, index);
  }

  /**
   * The files uploaded in field `name`, or all of them.
   *
   * @example
   * ```ts
   * const total = request.getFiles().reduce((n, f) => n + f.size, 0);
   * ```
   */
  getFiles(name?: string): UploadedFile[] {
    return this.#formNow().files(name);
  }

  /** The client's address (`REMOTE_ADDR`), when the host knows it. */
  get remoteAddress(): string | undefined {
    return this.getEnviron('REMOTE_ADDR') || undefined;
  }

  /**
   * The query string's fields (without the body's).
   *
   * @example
   * ```ts
   * request.query.get('page');
   * ```
   */
  get query(): URLSearchParams {
    return new URLSearchParams(this.queryString);
  }

  /**
   * A URL to `path` with `params` added to its query string and, when the
   * session travels in URLs (`PSOSessionUrl`), the session id: the How-To's
   * `mkurl`, for visitors who block cookies.
   *
   * @example
   * ```ts
   * request.write(`<a href="${request.mkurl('/cart', { add: 42 })}">add</a>`);
   * ```
   */
  mkurl(path: string, params: Record<string, string | number | boolean | readonly (string | number)[]> | URLSearchParams = {}): string {
    const hashAt = path.indexOf('#');
    const hash = hashAt < 0 ? '' : path.slice(hashAt);
    const beforeHash = hashAt < 0 ? path : path.slice(0, hashAt);
    const queryAt = beforeHash.indexOf('?');
    const base = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? '' : beforeHash.slice(queryAt + 1));
    const entries = params instanceof URLSearchParams ? [...params] : Object.entries(params);
    for (const [k, v] of entries) {
      for (const one of Array.isArray(v) ? v : [v]) query.append(k, String(one));
    }
    this.#decorateUrl?.(query);
    const q = query.toString();
    return `${base}${q ? `?${q}` : ''}${hash}`;
  }

  /**
   * A request header, by case-insensitive name.
   *
   * @example
   * ```ts
   * request.getRequestHeader('Accept-Language');
   * ```
   */
  getRequestHeader(name: string): string | undefined {
    return this.headerValue(name.toLowerCase());
  }

  /**
   * The value of a cookie the browser sent, or `undefined`. Malformed cookie
   * headers never throw: what cannot be read is ignored.
   *
   * @example
   * ```ts
   * const theme = request.getCookie('theme');
   * ```
   */
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

  /**
   * Adds a `Set-Cookie` header. Attributes are those of the `cookie` package
   * (`path`, `domain`, `expires`, `maxAge`, `httpOnly`, `secure`, `sameSite`, ...).
   *
   * A name starting with `__Secure-` or `__Host-` gets what browsers require
   * of it: `Secure` (and, for `__Host-`, `Path=/`), added when not given.
   *
   * @throws TypeError for an invalid name, value or attribute, or attributes
   *   the name's prefix forbids (`secure: false`; a `domain` or another path for `__Host-`).
   * @example
   * ```ts
   * request.setCookie('theme', 'dark', { path: '/', maxAge: 3600, sameSite: 'lax' });
   * request.setCookie('__Host-csrf', token, { httpOnly: true }); // Secure; Path=/
   * ```
   */
  setCookie(name: string, value: string, attrs: SerializeOptions = {}): void {
    const ruled = prefixRules(name, attrs);
    if (ruled.problem) throw new TypeError(`setCookie(${JSON.stringify(name)}): ${ruled.problem.reason}`);
    this.addHeader('Set-Cookie', serializeCookie(name, value, ruled.options));
  }

  /** The status code that will be sent (200 unless changed). */
  get status(): number {
    return this.#status;
  }

  /**
   * Sets the response status.
   *
   * @throws RangeError unless `status` is an integer from 100 to 599.
   * @example
   * ```ts
   * request.setStatus(201);
   * ```
   */
  setStatus(status: number): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`invalid HTTP status ${status}: expected an integer from 100 to 599`);
    }
    this.#assertHeadOpen('status');
    this.#status = status;
  }

  /**
   * The first value of a response header, or `undefined`.
   *
   * @example
   * ```ts
   * request.getHeader('content-type');
   * ```
   */
  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#headers.find(([n]) => n.toLowerCase() === lower)?.[1];
  }

  /**
   * Sets a response header, replacing earlier values.
   *
   * @throws InvalidHeaderError when the name is not a token or the value holds a character HTTP does not allow (RFC 9110: tab, space, visible ASCII and U+0080-U+00FF only).
   * @example
   * ```ts
   * request.setHeader('Cache-Control', 'no-store');
   * ```
   */
  setHeader(name: string, value: string | number): void {
    this.removeHeader(name);
    this.addHeader(name, value);
  }

  /**
   * Adds a response header, keeping earlier values (as needed for `Set-Cookie`).
   *
   * @throws InvalidHeaderError when the name is not a token or the value holds a character HTTP does not allow (RFC 9110: tab, space, visible ASCII and U+0080-U+00FF only).
   */
  addHeader(name: string, value: string | number): void {
    const text = String(value);
    checkField(name, text);
    if (name.toLowerCase() === 'status') throw new InvalidHeaderError('set the status with setStatus(), not a Status header');
    this.#assertHeadOpen(`header ${name}`);
    this.#headers.push([name, text]);
  }

  /** Removes every value of a response header. */
  removeHeader(name: string): void {
    this.#assertHeadOpen(`header ${name}`);
    const lower = name.toLowerCase();
    this.#headers = this.#headers.filter(([n]) => n.toLowerCase() !== lower);
  }

  /** Whether the headers have been sent (by `sendHttpHeaders()` or a first write). */
  get headersSent(): boolean {
    return this.#headersSent;
  }

  /**
   * Sends the response headers, with the content type (default `text/html`)
   * and the session cookie. Writing also sends them if the handler has not.
   *
   * @example
   * ```ts
   * request.sendHttpHeaders('text/plain');
   * ```
   */
  sendHttpHeaders(contentType = 'text/html'): void {
    if (this.#headersSent) return;
    if (this.getHeader('Content-Type') === undefined) {
      const type = /^text\//i.test(contentType) && !/charset=/i.test(contentType) ? `${contentType}; charset=utf-8` : contentType;
      this.setHeader('Content-Type', type);
    }
    this.#headersSent = true;
  }

  /**
   * Writes to the response body (text is sent as UTF-8). Output is held back
   * and sent in 64 KiB pieces, or at the end; `await request.flush()` sends it
   * at once and waits for the client to take it (for streaming large bodies).
   *
   * @example
   * ```ts
   * request.write('<p>hello</p>');
   * ```
   */
  write(data: string | Uint8Array): void {
    if (!this.#headersSent) this.sendHttpHeaders();
    this.#append(data);
    if (this.#buffered >= BUFFER_LIMIT) void this.flush();
  }

  #append(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
    if (bytes === 0) return;
    this.#buffer.push(chunk);
    this.#buffered += bytes;
  }

  /**
   * Sends what has been written so far and waits until it is handed to the
   * client. Afterwards the status and headers can no longer change.
   */
  flush(): Promise<void> {
    this.#commitHead();
    const chunks = this.#buffer;
    this.#buffer = [];
    this.#buffered = 0;
    if (this.method === 'HEAD' || chunks.length === 0) return this.#sending;
    // Chained, so that pieces go out in order even when flushes overlap.
    this.#sending = this.#sending.then(async () => {
      for (const chunk of chunks) await this.emitBody(asBytes(chunk));
    });
    this.#sending.catch(() => {});
    return this.#sending;
  }

  /**
   * Redirects and ends the handler (like the original's `SERVER_RETURN`).
   * The session is saved before the response completes.
   *
   * @param status - the status: 302 (Found) by default; `true` for 301, the
   *   original's `permanent`; or 301, 302, 303 (See Other: after a POST, the
   *   browser GETs `url`), 307 or 308 (the method and body are repeated).
   * @throws InvalidHeaderError when `url` holds a control character (CR, LF,
   *   NUL, ...). Characters a URL cannot carry as they are (non-ASCII text,
   *   spaces) are percent-encoded as UTF-8.
   * @throws RangeError for another status.
   * @example
   * ```ts
   * if (!request.session.has('user')) request.redirect('/login');
   * request.redirect('/orders/42', 303); // after handling a POST
   * ```
   */
  redirect(url: string, status: boolean | RedirectStatus = false): never {
    const location = locationOf(url);
    const code = status === true ? 301 : status === false ? 302 : status;
    if (!REDIRECT_STATUSES.includes(code)) {
      throw new RangeError(`redirect status must be one of ${REDIRECT_STATUSES.join(', ')} (or true for 301); got ${String(status)}`);
    }
    this.#discardBody();
    this.setStatus(code);
    this.setHeader('Location', location);
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.#headersSent = true;
    this.#append(Buffer.from(`Redirecting to ${location}\n`));
    throw new ServiceReturn();
  }

  /**
   * Answers with `status` and a short body naming it, and ends the handler.
   *
   * @example
   * ```ts
   * if (!found) request.sendStatus(404);
   * ```
   */
  sendStatus(status: number): never {
    this.#discardBody();
    this.setStatus(status);
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.#headersSent = true;
    this.#append(Buffer.from(`${reasonPhrase(status)}\n`));
    throw new ServiceReturn();
  }

  /**
   * Writes a line to the log (standard error under CGI, which is Apache's
   * error log; the container's logger otherwise).
   *
   * @example
   * ```ts
   * request.log('cart emptied', request.session.id);
   * ```
   */
  log(...args: unknown[]): void {
    this.logWith('info', ...args);
  }

  /**
   * Writes a line to the log at a given level: to the file `PSOLog` names
   * when it is set, to the container's logger otherwise. A log file that
   * cannot be written never fails the request: the line and the reason go to
   * the container's logger instead.
   *
   * @example
   * ```ts
   * request.logWith('warn', 'payment provider slow:', ms, 'ms');
   * ```
   */
  logWith(level: LogLevel, ...args: unknown[]): void {
    const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : safeJson(a))).join(' ');
    const line = `${this.method} ${this.path}: ${text}`;
    let file: string | undefined;
    try {
      file = this.getDirective('PSOLog')?.trim() || undefined;
      if (file !== undefined) {
        FileLogger.for(file).log(level, line);
        return;
      }
    } catch (e) {
      this.logger.log('error', `PSOLog ${JSON.stringify(file ?? '')}: ${(e as Error).message}`);
    }
    this.logger.log(level, line);
  }

  /**
   * A CGI meta-variable (RFC 3875 §4.1) derived from the request, for hosts
   * that are not CGI, so that `getEnviron('HTTP_USER_AGENT')` or
   * `getEnviron('REMOTE_ADDR')` read alike everywhere. `connection` gives
   * what only the host knows; it is asked only for the variables that need it.
   */
  protected cgiVariable(key: string, connection: () => ConnectionFacts): string | undefined {
    if (key.startsWith('HTTP_')) return this.headerValue(key.slice(5).toLowerCase().replace(/_/g, '-'));
    switch (key) {
      case 'REQUEST_METHOD': return this.method;
      case 'QUERY_STRING': return this.queryString;
      case 'PATH_INFO': return this.path;
      case 'SCRIPT_NAME': return '';
      case 'REQUEST_URI': return this.queryString ? `${this.path}?${this.queryString}` : this.path;
      case 'CONTENT_TYPE': return this.headerValue('content-type');
      case 'CONTENT_LENGTH': return this.headerValue('content-length');
      case 'REMOTE_ADDR': return connection().remoteAddress;
      case 'REMOTE_PORT': return connection().remotePort;
      case 'SERVER_ADDR': return connection().serverAddress;
      case 'SERVER_PORT': return connection().serverPort;
      case 'SERVER_NAME': return connection().serverName ?? (this.headerValue('host') ?? 'localhost').replace(/:\d+$/, '');
      case 'SERVER_PROTOCOL': return connection().protocol;
      case 'HTTPS': return this.transportSecure() ? 'on' : undefined;
    }
    return undefined;
  }

  // ---- used by the core ------------------------------------------------------

  /** @internal */
  [kAttachSession](session: Session<D>, beforeHead: () => void, decorateUrl?: (params: URLSearchParams) => void): void {
    this.#session = session;
    this.#beforeHead = beforeHead;
    this.#decorateUrl = decorateUrl;
  }

  /**
   * @internal Reads a form body before the handler runs (the handler's
   * getInput() is sync, as the original's), unless `PSOFormParse off`.
   */
  async [kPrepare](): Promise<void> {
    if (this.#formBodyType() !== undefined && readFlag(this, 'PSOFormParse', true)) await this.form();
  }

  /** @internal Removes the uploads the handler did not keep; called when the request ends. */
  async [kCleanup](): Promise<void> {
    const uploads = this.#uploads;
    this.#uploads = [];
    const results = await Promise.allSettled(uploads.map((u) => u[kDiscard]()));
    for (const r of results) if (r.status === 'rejected') this.logWith('warn', `removing an upload: ${(r.reason as Error).message}`);
  }

  /** @internal Whether status and headers have gone out. */
  get [kHeadCommitted](): boolean {
    return this.#headCommitted;
  }

  /** @internal Lets the core add late headers (the session cookie) just before the head goes out. */
  set [kBeforeHead](fn: (() => void) | undefined) {
    this.#beforeHead = fn;
  }

  /** @internal Sends whatever is left and ends the response. */
  async [kFinish](): Promise<void> {
    if (!this.#headersSent) this.sendHttpHeaders();
    if (!this.#headCommitted && this.getHeader('Content-Length') === undefined && this.#status !== 204 && this.#status !== 304) {
      // The whole body is known: say its length, so no chunked encoding is needed.
      this.#headers.push(['Content-Length', String(this.#buffered)]);
    }
    // Uploads go before the last bytes, so a client that has the whole answer never finds them.
    await this[kCleanup]();
    if (this.#buffer.length === 1 && this.method !== 'HEAD') {
      this.#commitHead();
      const last = this.#buffer[0]!;
      this.#buffer = [];
      this.#buffered = 0;
      // Pieces flushed before go first.
      await this.#sending;
      await this.emitLast(last);
      return;
    }
    await this.flush();
    await this.emitEnd();
  }

  /**
   * @internal Replaces the response with an error. Only possible while
   * nothing has been sent; otherwise the response is just ended.
   */
  async [kSendError](status: number, body: string, headers: Readonly<Record<string, string>> = {}): Promise<void> {
    if (this.#headCommitted) {
      await this.emitEnd();
      return;
    }
    this.#beforeHead = undefined;
    this.#headers = [];
    this.#discardBody();
    this.#status = status;
    for (const [name, value] of Object.entries(headers)) {
      // An HttpError thrown by a handler brings its own headers: they pass the same check as any other.
      try {
        checkField(name, value);
        this.#headers.push([name, value]);
      } catch (e) {
        this.logWith('error', `left out of the error response: ${(e as Error).message}`);
      }
    }
    this.#headers.push(['Content-Type', 'text/plain; charset=utf-8'], ['Cache-Control', 'no-store']);
    this.#headersSent = true;
    this.#append(Buffer.from(body));
    await this[kCleanup]();
    await this.flush();
    await this.emitEnd();
  }

  /** The request body, handed out once. */
  #takeBody(): AsyncIterable<Uint8Array> {
    if (this.#bodyTaken) throw new Error('the request body has already been read (as a form or by body())');
    this.#bodyTaken = true;
    return this.bodyChunks();
  }

  /** The length the request declares, if any. */
  #declaredLength(): number | undefined {
    const raw = this.headerValue('content-length')?.trim();
    if (!raw) return undefined;
    if (!/^\d+$/.test(raw)) throw new HttpError(400, `invalid ${this.lengthName} ${JSON.stringify(raw)}`);
    return Number(raw);
  }

  async #readWhole(limit: number, directive = 'PSOMaxBodySize'): Promise<Uint8Array> {
    const declared = this.#declaredLength();
    if (declared !== undefined && declared > limit) {
      throw new HttpError(413, `request body of ${declared} bytes is larger than the limit of ${limit} bytes (${directive})`);
    }
    const chunks: Uint8Array[] = [];
    let got = 0;
    for await (const chunk of this.#takeBody()) {
      got += chunk.byteLength;
      if (got > limit) throw new HttpError(413, `request body larger than the limit of ${limit} bytes (${directive})`);
      chunks.push(chunk);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** The form type of the body, when there is a body to read as a form. */
  #formBodyType(): 'urlencoded' | 'multipart' | undefined {
    if (this.method === 'GET' || this.method === 'HEAD') return undefined;
    const type = (this.headerValue('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/x-www-form-urlencoded') return 'urlencoded';
    if (type === 'multipart/form-data') return 'multipart';
    return undefined;
  }

  #queryFields(limits: Pick<FormLimits, 'maxFields' | 'maxFieldSize'>): RawField[] {
    return splitUrlencoded(Buffer.from(this.queryString, 'latin1'), limits);
  }

  async #readForm(): Promise<FormInput> {
    const limits = readFormLimits(this);
    const query = this.#queryFields(limits);
    const fields = decodeFields(query, 'utf-8', 'query string');
    const kind = this.#formBodyType();
    const contentType = this.headerValue('content-type') ?? '';
    const parsed = kind === undefined ? undefined : this.parsedBody();
    if (parsed) {
      for (const field of parsed) {
        if (fields.length >= limits.maxFields) throw new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`);
        fields.push(field);
      }
      return new FormInput(fields);
    }
    if (kind === 'urlencoded') {
      const raw = splitUrlencoded(await this.body(limits.maxBodySize), limits, query.length);
      fields.push(...decodeFields(raw, charsetOf(contentType), 'request body'));
      return new FormInput(fields);
    }
    if (kind === 'multipart') {
      const declared = this.#declaredLength();
      if (declared !== undefined && declared > limits.maxUploadSize) {
        throw new HttpError(413, `request body of ${declared} bytes is larger than the limit of ${limits.maxUploadSize} bytes (PSOMaxUploadSize)`);
      }
      // Loaded with the first multipart request: other requests never pay for it.
      const { parseMultipart } = await import('./forms/multipart.js');
      const parsed = await parseMultipart(this.#takeBody(), contentType, limits);
      this.#uploads.push(...parsed.files);
      if (query.length + parsed.fields.length > limits.maxFields) {
        throw new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`);
      }
      fields.push(...decodeFields(parsed.fields, undefined, 'request body'));
      return new FormInput(fields, parsed.files);
    }
    return new FormInput(fields);
  }

  /** The form, for the sync accessors: parsed already, or only the query string to read. */
  #formNow(): FormInput {
    if (this.#formInput) return this.#formInput;
    if (this.#formBodyType() !== undefined) {
      throw new Error('the form body has not been read: call `await request.form()` first (PSOFormParse is off)');
    }
    const limits = readFormLimits(this);
    this.#formInput = new FormInput(decodeFields(this.#queryFields(limits), 'utf-8', 'query string'));
    this.#form = Promise.resolve(this.#formInput);
    return this.#formInput;
  }

  #discardBody(): void {
    if (this.#headCommitted) throw new HeadersSentError('the response has started; it can no longer be replaced');
    this.#buffer = [];
    this.#buffered = 0;
  }

  #assertHeadOpen(what: string): void {
    if (this.#headCommitted) {
      throw new HeadersSentError(`cannot set ${what}: the response headers have already been sent`);
    }
  }

  #commitHead(): void {
    if (this.#headCommitted) return;
    const before = this.#beforeHead;
    this.#beforeHead = undefined;
    before?.();
    // Committed only once the host took the head: a head it refuses (a header Node will not
    // send, say) can still be replaced by an error response.
    this.emitHead(this.#status, reasonPhrase(this.#status), this.#headers);
    this.#headCommitted = true;
  }
}

/** Text as UTF-8 bytes. */
function asBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
