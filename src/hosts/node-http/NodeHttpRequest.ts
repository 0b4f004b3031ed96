import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ServiceRequest, type ConnectionFacts, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import { HttpError } from '../../service/errors.js';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import type { SessionData } from '../../session/json.js';
import { watchSending } from '../watchSending.js';

/** A character that is one byte of 0x80-0xFF on the wire (checked header values hold nothing higher). */
const EIGHT_BIT = /[\x80-\xff]/;

/** What a node:http request is made of. */
export interface NodeHttpRequestInit extends ServiceRequestInit {
  req: IncomingMessage;
  res: ServerResponse;
  /** Directives of this server (the `SetEnv` of a persistent server), or a plain record of them. */
  directives: ServerDirectives | Readonly<Record<string, string>>;
  /**
   * Milliseconds the client may take none of a response that waits to be
   * sent before its connection is closed (see `watchSending`); none: no limit.
   */
  sendTimeoutMs?: number;
}

/**
 * The node:http host: a persistent server's request and response. Directives
 * are the server's (see `createRequestListener`: its options over the
 * `PSO*` variables of its environment); CGI meta-variables are derived from the request, so
 * `getEnviron('HTTP_USER_AGENT')` reads the same as under CGI.
 */
export class NodeHttpRequest<D extends object = SessionData> extends ServiceRequest<D> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly #directives: ServerDirectives;
  readonly #url: string;
  readonly #queryAt: number;
  readonly #sendTimeoutMs: number | undefined;
  /** Whether a header value holds a byte 0x80-0xFF. */
  #eightBitHead = false;

  constructor(init: NodeHttpRequestInit) {
    super(init);
    this.req = init.req;
    this.res = init.res;
    this.#directives = init.directives instanceof ServerDirectives ? init.directives : new ServerDirectives(init.directives, {});
    this.#url = init.req.url ?? '/';
    this.#queryAt = this.#url.indexOf('?');
    this.#sendTimeoutMs = init.sendTimeoutMs;
  }

  override get method(): string {
    return this.req.method ?? 'GET';
  }

  override get path(): string {
    return this.#queryAt < 0 ? this.#url : this.#url.slice(0, this.#queryAt);
  }

  override get queryString(): string {
    return this.#queryAt < 0 ? '' : this.#url.slice(this.#queryAt + 1);
  }

  override get persistent(): boolean {
    return true;
  }

  protected override transportSecure(): boolean {
    return Boolean((this.req.socket as TLSSocket).encrypted);
  }

  protected override environNames(): Iterable<string> {
    return Object.keys(this.#directives.values);
  }

  override getDirective(name: string): string | undefined {
    return this.#directives.get(name);
  }

  protected override parsedBody(): Iterable<[string, string]> | undefined {
    const body = (this.req as { body?: unknown }).body;
    if (!this.req.readableEnded || body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined;
    const fields: [string, string][] = [];
    for (const [name, value] of Object.entries(body)) {
      for (const one of Array.isArray(value) ? value : [value]) {
        fields.push([name, typeof one === 'string' ? one : JSON.stringify(one) ?? String(one)]);
      }
    }
    return fields;
  }

  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    const req = this.req;
    if (req.readableEnded || req.destroyed) {
      // Earlier middleware (a body parser) read it already.
      if (req.readableEnded && (req as { complete?: boolean }).complete && this.headerValue('content-length') === '0') return;
      throw new HttpError(500, 'the request body was read before pso could: mount pso before body-parsing middleware for its routes', false);
    }
    let done = false;
    try {
      for await (const chunk of req) yield chunk as Buffer;
      done = true;
    } catch {
      throw new HttpError(400, 'the client closed the connection before the request body was complete');
    } finally {
      if (!done && !req.destroyed) {
        // The rest is not wanted (a limit was reached): drop it, and the connection after the answer.
        this.res.shouldKeepAlive = false;
        req.resume();
      }
    }
  }

  protected override environValue(key: string): string | undefined {
    if (Object.hasOwn(this.#directives.values, key)) return this.#directives.values[key];
    return this.cgiVariable(key, this.#connection);
  }

  /** The connection's part of the CGI variables; made once, asked for only by the variables that need it. */
  readonly #connection = (): ConnectionFacts => {
    const socket = this.req.socket;
    return {
      remoteAddress: socket.remoteAddress,
      remotePort: String(socket.remotePort ?? ''),
      serverAddress: socket.localAddress,
      serverPort: String(socket.localPort ?? ''),
      protocol: `HTTP/${this.req.httpVersion}`,
    };
  };

  protected override headerValue(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  protected override emitHead(status: number, reason: string, headers: readonly [string, string][]): void {
    try {
      this.#writeHead(status, reason, headers);
    } catch (e) {
      // Refused (Node checks the head too): leave nothing of it behind for the error response.
      if (!this.res.headersSent) for (const [name] of headers) this.res.removeHeader(name);
      throw e;
    }
  }

  #writeHead(status: number, reason: string, headers: readonly [string, string][]): void {
    this.#eightBitHead = headers.some(([, value]) => EIGHT_BIT.test(value));
    if (this.res.getHeaderNames().length === 0) {
      // writeHead takes names and values in one list.
      const flat: string[] = new Array(headers.length * 2);
      for (let i = 0; i < headers.length; i++) {
        flat[2 * i] = headers[i]![0];
        flat[2 * i + 1] = headers[i]![1];
      }
      this.res.writeHead(status, reason, flat);
      return;
    }
    // A framework set headers first (Express: X-Powered-By). Given a list then,
    // Node 20's writeHead sets its headers one by one, and of a repeated name
    // (two Set-Cookie) only the last would go out. pso's headers replace the
    // framework's of the same name; repeated ones are all kept.
    for (const [name] of headers) this.res.removeHeader(name);
    for (const [name, value] of headers) this.res.appendHeader(name, value);
    this.res.writeHead(status, reason);
  }

  protected override emitBody(chunk: Uint8Array): Promise<void> | void {
    if (this.res.destroyed) return;
    if (!this.res.write(chunk)) {
      this.#watchSending();
      return new Promise((resolve) => {
        const done = () => {
          this.res.off('drain', done);
          this.res.off('close', done);
          resolve();
        };
        this.res.on('drain', done);
        this.res.on('close', done);
      });
    }
  }

  protected override emitEnd(): Promise<void> {
    this.res.end();
    this.#watchSending();
    return Promise.resolve();
  }

  /** The head, the body and the end in one write (text joins the head in one buffer). */
  protected override emitLast(chunk: Uint8Array | string): Promise<void> {
    // Node writes a head joined with text in the text's encoding: UTF-8 would turn a header's
    // byte 0xE9 into two. Such a head goes as latin1, before the body's bytes.
    if (!this.res.destroyed) this.res.end(typeof chunk === 'string' && this.#eightBitHead ? Buffer.from(chunk, 'utf8') : chunk);
    else this.res.end();
    this.#watchSending();
    return Promise.resolve();
  }

  /**
   * When more waits to go out than the connection holds, closes it if the
   * client takes none of it for the send timeout: nothing (a handler
   * awaiting `flush()`, the connection itself) waits on a client that
   * stopped reading for longer.
   */
  #watchSending(): void {
    const socket = this.res.socket;
    const ms = this.#sendTimeoutMs;
    if (ms === undefined || !socket?.writableNeedDrain) return;
    watchSending(socket, ms, () => this.logWith('warn', `the client took none of the response for ${ms / 1000} s: connection closed (the send timeout)`));
  }
}
