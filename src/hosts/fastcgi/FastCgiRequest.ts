import { DirectiveIndex } from '../../config/DirectiveIndex.js';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import { variableOfHeader } from '../../service/cgiVariables.js';
import { cgiHead } from '../cgi/cgiHead.js';
import { HttpError } from '../../service/errors.js';
import { ServiceRequest, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import type { SessionData } from '../../session/json.js';
import { FastCgiAbortedError } from './FastCgiAbortedError.js';
import type { FastCgiExchange } from './FastCgiExchange.js';

/** What a FastCGI request is made of. */
export interface FastCgiRequestInit extends ServiceRequestInit {
  /** The request on its connection: params, body, response. */
  exchange: FastCgiExchange;
  /**
   * Directives of the server (given in code, `-D`, the `PSO*` variables of
   * its environment): defaults that the request's params (`SetEnv`,
   * `fastcgi_param`) override, as the environment overrides them under CGI.
   * A server makes its {@link ServerDirectives} once and gives it to every request.
   */
  directives?: ServerDirectives | Readonly<Record<string, string>>;
}

/** Defaults that a param of the same name in another case hides, as `withDefaults` does for CGI: the cookie attributes. */
const COOKIE_DIRECTIVE = /^psocookiesession_/i;

/**
 * The FastCGI host: a persistent process that a web server (Apache
 * mod_fcgid or mod_proxy_fcgi, nginx `fastcgi_pass`) hands requests to. The
 * params are the CGI environment, so this reads a request as
 * {@link CgiRequest} does; the response is a CGI head (`Status:`, headers, a
 * blank line) and the body, written as FCGI_STDOUT.
 *
 * @example
 * ```ts
 * new FastCgiConnection(socket, { logger, onRequest: (exchange) => {
 *   void serviceHandler.handle(new FastCgiRequest({ exchange, moduleName: 'app', logger }), handler);
 * } });
 * ```
 */
export class FastCgiRequest<D extends object = SessionData> extends ServiceRequest<D> {
  /** The request on its connection. */
  readonly exchange: FastCgiExchange;
  readonly #params: ReadonlyMap<string, string>;
  readonly #defaults: ServerDirectives | undefined;
  /** The params named `PSO...`, as directive names compare, once a directive is looked up by another case. */
  #directiveParams: DirectiveIndex | undefined;
  /** The head, held until the first body bytes so that both go in one record. */
  #head: Buffer | undefined;

  constructor(init: FastCgiRequestInit) {
    super(init);
    this.exchange = init.exchange;
    this.#params = init.exchange.params;
    const d = init.directives;
    this.#defaults = d === undefined ? undefined : d instanceof ServerDirectives ? d : new ServerDirectives(d, {});
  }

  override get method(): string {
    return (this.#env('REQUEST_METHOD') || 'GET').toUpperCase();
  }

  override get path(): string {
    return `${this.#env('SCRIPT_NAME') ?? ''}${this.#env('PATH_INFO') ?? ''}` || '/';
  }

  override get queryString(): string {
    return this.#env('QUERY_STRING') ?? '';
  }

  override get persistent(): boolean {
    return true;
  }

  protected override transportSecure(): boolean {
    const https = (this.#env('HTTPS') ?? '').toLowerCase();
    return https === 'on' || https === '1' || (this.#env('REQUEST_SCHEME') ?? '').toLowerCase() === 'https';
  }

  protected override environValue(key: string): string | undefined {
    return this.#env(key);
  }

  protected override environNames(): Iterable<string> {
    const names = new Set(this.#params.keys());
    for (const name of Object.keys(this.#defaults?.values ?? {})) if (this.#default(name) !== undefined) names.add(name);
    return names;
  }

  /**
   * A directive: a param of that name, else a default of that name, else
   * the same by case-insensitive name (`-` as `_`), params first.
   */
  override getDirective(name: string): string | undefined {
    const exact = this.environValue(name);
    if (exact !== undefined) return exact;
    const param = this.#directiveParamNames().find(name);
    if (param !== undefined) return this.#params.get(param);
    return this.#defaults?.get(name);
  }

  /**
   * FCGI_STDIN until the web server ends it, at most CONTENT_LENGTH bytes
   * when it says one; fewer than it says is a request cut short. Without
   * CONTENT_LENGTH the stream's end is the body's (FastCGI marks it, where
   * CGI cannot).
   */
  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    const declared = this.#env('CONTENT_LENGTH')?.trim();
    if (declared && !/^\d+$/.test(declared)) throw new HttpError(400, `invalid CONTENT_LENGTH ${JSON.stringify(declared)}`);
    const total = declared ? Number(declared) : Infinity;
    let left = total;
    try {
      for await (const chunk of this.exchange.body()) {
        if (left <= 0) continue;
        if (chunk.byteLength > left) {
          yield chunk.subarray(0, left);
          left = 0;
          continue;
        }
        left -= chunk.byteLength;
        yield chunk;
      }
    } catch (e) {
      if (e instanceof FastCgiAbortedError) throw new HttpError(400, `the request body was not complete: ${e.message}`);
      throw e;
    }
    if (left > 0 && total !== Infinity) throw new HttpError(400, `request body ended after ${total - left} of ${total} bytes`);
  }

  protected override headerValue(name: string): string | undefined {
    if (name === 'content-type') return this.#env('CONTENT_TYPE');
    if (name === 'content-length') return this.#env('CONTENT_LENGTH') || undefined;
    return this.#env(variableOfHeader(name));
  }

  protected override get lengthName(): string {
    return 'CONTENT_LENGTH';
  }

  protected override emitHead(status: number, reason: string, headers: readonly [string, string][]): void {
    this.#head = cgiHead(`Status: ${status} ${reason}`, headers, '\r\n');
  }

  protected override emitBody(chunk: Uint8Array): void | Promise<void> {
    return this.exchange.write(this.#withHead(chunk) ?? chunk);
  }

  protected override emitEnd(): Promise<void> {
    return this.exchange.end(this.#withHead(undefined));
  }

  /** The head, the last body bytes, the end of the stream and FCGI_END_REQUEST in one write. */
  protected override emitLast(chunk: Uint8Array | string): Promise<void> {
    return this.exchange.end(this.#withHead(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk));
  }

  /** `chunk` after the head, when the head has not gone out yet. */
  #withHead(chunk: Uint8Array | undefined): Uint8Array | undefined {
    const head = this.#head;
    if (head === undefined) return chunk;
    this.#head = undefined;
    return chunk === undefined || chunk.byteLength === 0 ? head : Buffer.concat([head, chunk]);
  }

  /** A param, else a server directive of that exact name. */
  #env(key: string): string | undefined {
    return this.#params.get(key) ?? this.#default(key);
  }

  /** A server directive of that exact name, unless a param names it in another case (cookie attributes only, as under CGI). */
  #default(key: string): string | undefined {
    const d = this.#defaults;
    if (d === undefined || !Object.hasOwn(d.values, key)) return undefined;
    if (COOKIE_DIRECTIVE.test(key) && this.#directiveParamNames().find(key) !== undefined) return undefined;
    return d.values[key];
  }

  #directiveParamNames(): DirectiveIndex {
    return (this.#directiveParams ??= new DirectiveIndex(this.#params.keys()));
  }
}
