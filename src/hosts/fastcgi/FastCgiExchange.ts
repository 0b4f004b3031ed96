import { FastCgiAbortedError } from './FastCgiAbortedError.js';

/** What an exchange asks of the connection it belongs to. */
export interface ExchangeOwner {
  /** Writes `data` as the request's FCGI_STDOUT; resolves when more may follow (the socket drained). */
  sendStdout(exchange: FastCgiExchange, data: Uint8Array): void | Promise<void>;
  /** Writes the rest of FCGI_STDOUT, its end, and FCGI_END_REQUEST. */
  sendEnd(exchange: FastCgiExchange, last: Uint8Array | undefined, appStatus: number): Promise<void>;
  /** The exchange took body bytes: the connection may read again. */
  bodyTaken(exchange: FastCgiExchange): void;
}

/** Where the body of an exchange is. */
type BodyState = 'open' | 'ended' | 'failed';

/**
 * One request and its response on a FastCGI connection, as the record layer
 * sees them: the params (the CGI environment), the body (FCGI_STDIN) as it
 * arrives, and the response written as FCGI_STDOUT, ended by
 * FCGI_END_REQUEST. A request the web server aborts (FCGI_ABORT_REQUEST, or
 * its connection closes) fails its body and drops what is written; it still
 * ends as any other, so that what it holds (a session lock) is let go.
 *
 * @example
 * ```ts
 * connection = new FastCgiConnection(socket, { onRequest: async (exchange) => {
 *   for await (const chunk of exchange.body()) size += chunk.byteLength;
 *   await exchange.end(Buffer.from(`Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n${size}\n`));
 * } });
 * ```
 */
export class FastCgiExchange {
  /** The request id, unique among the connection's active requests. */
  readonly id: number;
  /** Whether the web server asked to keep the connection after this request (FCGI_KEEP_CONN). */
  readonly keepConnection: boolean;
  /** The params: CGI meta-variables and the server's directives (`SetEnv`, `fastcgi_param`), by name. */
  params: ReadonlyMap<string, string> = new Map();

  readonly #owner: ExchangeOwner;
  /** Body bytes that came and were not taken yet. */
  #queue: Buffer[] = [];
  #queued = 0;
  #bodyState: BodyState = 'open';
  #bodyError: Error | undefined;
  #bodyTaken = false;
  /** Wakes the body's reader when bytes, the end or an abort come. */
  #wake: (() => void) | undefined;
  #aborted: Error | undefined;
  #ended = false;

  constructor(id: number, keepConnection: boolean, owner: ExchangeOwner) {
    this.id = id;
    this.keepConnection = keepConnection;
    this.#owner = owner;
  }

  /**
   * Bytes of the body that came and are not taken yet.
   *
   * @example
   * ```ts
   * if (exchange.queuedBytes > 65536) socket.pause();
   * ```
   */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Why the request was aborted (the web server asked, or the connection went), or undefined.
   *
   * @example
   * ```ts
   * if (exchange.aborted) return exchange.end();
   * ```
   */
  get aborted(): Error | undefined {
    return this.#aborted;
  }

  /**
   * Whether FCGI_END_REQUEST has been written (or the connection is gone).
   *
   * @example
   * ```ts
   * if (!exchange.ended) await exchange.end();
   * ```
   */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Whether the web server has sent the whole body (the empty FCGI_STDIN came).
   *
   * @example
   * ```ts
   * if (exchange.bodyComplete && exchange.queuedBytes === 0) answerAtOnce();
   * ```
   */
  get bodyComplete(): boolean {
    return this.#bodyState === 'ended';
  }

  /**
   * The body, chunk by chunk as FCGI_STDIN brings it, until the web server
   * ends it. Taken once.
   *
   * @throws FastCgiAbortedError when the request is aborted before its body is complete.
   * @example
   * ```ts
   * for await (const chunk of exchange.body()) file.write(chunk);
   * ```
   */
  async *body(): AsyncGenerator<Buffer, void, undefined> {
    if (this.#bodyTaken) throw new Error('the body of a FastCGI request can be read once');
    this.#bodyTaken = true;
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk) {
        this.#queued -= chunk.byteLength;
        this.#owner.bodyTaken(this);
        yield chunk;
        continue;
      }
      if (this.#bodyState === 'ended') return;
      if (this.#bodyState === 'failed') throw this.#bodyError!;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /**
   * Writes part of the response (the CGI head, then the body) as
   * FCGI_STDOUT; resolves when the connection can take more. Dropped once the
   * request is aborted or ended.
   *
   * @example
   * ```ts
   * await exchange.write(Buffer.from('Status: 200 OK\r\n\r\n'));
   * ```
   */
  write(data: Uint8Array): void | Promise<void> {
    if (this.#ended || this.#aborted || data.byteLength === 0) return;
    return this.#owner.sendStdout(this, data);
  }

  /**
   * Ends the response: `last` as FCGI_STDOUT, the empty FCGI_STDOUT that
   * closes the stream and FCGI_END_REQUEST with `appStatus`, in one write.
   * An aborted request gets FCGI_END_REQUEST alone. Only the first call counts.
   *
   * @example
   * ```ts
   * await exchange.end(Buffer.from('Status: 204 No Content\r\n\r\n'));
   * ```
   */
  end(last?: Uint8Array, appStatus = 0): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#ended = true;
    this.#queue = [];
    this.#queued = 0;
    return this.#owner.sendEnd(this, this.#aborted ? undefined : last, appStatus);
  }

  /** @internal The connection hands on body bytes. */
  pushBody(chunk: Buffer): void {
    if (this.#bodyState !== 'open' || this.#ended) return;
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    this.#wakeReader();
  }

  /** @internal The empty FCGI_STDIN came. */
  endBody(): void {
    if (this.#bodyState !== 'open') return;
    this.#bodyState = 'ended';
    this.#wakeReader();
  }

  /** @internal The web server aborted the request, or the connection is gone. */
  abort(reason: Error = new FastCgiAbortedError('the web server aborted the request (FCGI_ABORT_REQUEST)')): void {
    if (this.#aborted) return;
    this.#aborted = reason;
    // A body that came whole but was not read is dropped: its reader must not take the part it got for all of it.
    if (this.#bodyState === 'open' || this.#queue.length > 0) {
      this.#bodyState = 'failed';
      this.#bodyError = reason;
    }
    this.#queue = [];
    this.#queued = 0;
    this.#wakeReader();
  }

  /** @internal The connection is gone: nothing more can be written. */
  lose(reason: Error): void {
    this.abort(reason);
    this.#ended = true;
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
