import { ServiceRequest, type ConnectionFacts, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import { HttpError } from '../../service/errors.js';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import type { SessionData } from '../../session/json.js';

/** What a fetch-style request is made of. */
export interface FetchRequestInit extends ServiceRequestInit {
  request: Request;
  /** Directives, as `SetEnv` would give them to a CGI script. */
  directives: ServerDirectives | Readonly<Record<string, string>>;
  /** The client's address, when the runtime tells it. */
  remoteAddress?: string | undefined;
}

/**
 * The fetch host: a `Request` in, a `Response` out, for runtimes and
 * frameworks built on the web platform's fetch API (Hono, Node's
 * fetch-style servers, and others). The response is made when the head is
 * sent; its body streams what follows.
 */
export class FetchRequest<D extends object = SessionData> extends ServiceRequest<D> {
  readonly request: Request;
  readonly #url: URL;
  /** Read once: the Request's getter checks its receiver on every call, and a request asks several times. */
  readonly #method: string;
  readonly #directives: ServerDirectives;
  readonly #remoteAddress: string | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #resolve!: (response: Response) => void;
  /** The response, once the head has been sent. */
  readonly response: Promise<Response>;

  constructor(init: FetchRequestInit) {
    super(init);
    this.request = init.request;
    this.#url = new URL(init.request.url);
    this.#method = init.request.method.toUpperCase();
    this.#directives = init.directives instanceof ServerDirectives ? init.directives : new ServerDirectives(init.directives, {});
    this.#remoteAddress = init.remoteAddress;
    this.response = new Promise((resolve) => (this.#resolve = resolve));
  }

  override get method(): string {
    return this.#method;
  }

  override get path(): string {
    return this.#url.pathname;
  }

  override get queryString(): string {
    return this.#url.search.slice(1);
  }

  override get persistent(): boolean {
    return true;
  }

  protected override transportSecure(): boolean {
    return this.#url.protocol === 'https:';
  }

  protected override environValue(key: string): string | undefined {
    if (Object.hasOwn(this.#directives.values, key)) return this.#directives.values[key];
    return this.cgiVariable(key, this.#connection);
  }

  /** The connection's part of the CGI variables; made once, asked for only by the variables that need it. */
  readonly #connection = (): ConnectionFacts => ({
    remoteAddress: this.#remoteAddress,
    serverName: this.#url.hostname,
    serverPort: this.#url.port || (this.#url.protocol === 'https:' ? '443' : '80'),
  });

  protected override environNames(): Iterable<string> {
    return Object.keys(this.#directives.values);
  }

  override getDirective(name: string): string | undefined {
    return this.#directives.get(name);
  }

  protected override headerValue(name: string): string | undefined {
    return this.request.headers.get(name) ?? undefined;
  }

  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    if (!this.request.body) return;
    const reader = this.request.body.getReader();
    let done = false;
    try {
      for (;;) {
        const part = await reader.read().catch(() => {
          throw new HttpError(400, 'the request body could not be read to its end');
        });
        if (part.done) break;
        yield part.value;
      }
      done = true;
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  protected override emitHead(status: number, reason: string, headers: readonly [string, string][]): void {
    const h = new Headers();
    for (const [name, value] of headers) h.append(name, value);
    const noBody = this.method === 'HEAD' || status === 204 || status === 304;
    const body = noBody
      ? null
      : new ReadableStream<Uint8Array>({
          start: (controller) => {
            this.#controller = controller;
          },
        });
    this.#resolve(new Response(body, { status, statusText: reason, headers: h }));
  }

  protected override emitBody(chunk: Uint8Array): void {
    this.#controller?.enqueue(chunk);
  }

  protected override async emitEnd(): Promise<void> {
    try {
      this.#controller?.close();
    } catch {
      // Already closed: the client went away.
    }
  }
}
