import { HeadersSentError, InvalidHeaderError } from '../errors.js';
import { checkField } from '../fieldValue.js';
import { reasonPhrase } from '../status.js';

/** Output is held back until the handler ends, up to this size, so that a failed save can still answer 500. */
const BUFFER_LIMIT = 64 * 1024;

/** Where a response goes: the host's primitives. */
export interface ResponseSink {
  /** Sends status and headers; throws when the host refuses them. Called once, unless it threw. */
  head(status: number, reason: string, headers: readonly [string, string][]): void;
  /** Sends part of the body. */
  body(chunk: Uint8Array): void | Promise<void>;
  /** Sends the last part of the body and ends the response. */
  last(chunk: Uint8Array | string): Promise<void>;
  /** Ends the response. */
  end(): Promise<void>;
}

/**
 * The response of one request: status, headers and a body held back (up to
 * 64 KiB) until the handler ends, so that a failed save can still be answered
 * with an error. The head goes out with the first flush or at the end, after
 * the session adds its cookie ({@link beforeHead}).
 *
 * @example
 * ```ts
 * const response = new OutgoingResponse(sink, false);
 * response.setHeader('Content-Type', 'text/plain');
 * response.write('hello');
 * await response.finish();
 * ```
 */
export class OutgoingResponse {
  readonly #sink: ResponseSink;
  /** A HEAD request: headers, never a body. */
  readonly #headOnly: boolean;
  #status = 200;
  #headers: [string, string][] = [];
  #headersSent = false;
  #committed = false;
  /** Output held back; text stays text until it goes out (a host may send it with the head in one piece). */
  #buffer: (Uint8Array | string)[] = [];
  #buffered = 0;
  #sending: Promise<void> = Promise.resolve();
  /** Whether anything was flushed before the end (then {@link finish} waits for it). */
  #flushed = false;
  /** Counts changes to the headers, so that a caller can tell whether something it ran set one. */
  #revision = 0;
  /** Called once, just before the head goes out (the session cookie). */
  beforeHead: (() => void) | undefined;

  constructor(sink: ResponseSink, headOnly: boolean) {
    this.#sink = sink;
    this.#headOnly = headOnly;
  }

  get status(): number {
    return this.#status;
  }

  /** Whether the handler sent its headers (they may still be held back). */
  get headersSent(): boolean {
    return this.#headersSent;
  }

  /** Whether status and headers have gone out to the client. */
  get committed(): boolean {
    return this.#committed;
  }

  setStatus(status: number): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`invalid HTTP status ${status}: expected an integer from 100 to 599`);
    }
    this.#assertOpen('status');
    this.#status = status;
  }

  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#headers.find(([n]) => n.toLowerCase() === lower)?.[1];
  }

  addHeader(name: string, value: string): void {
    checkField(name, value);
    if (name.toLowerCase() === 'status') throw new InvalidHeaderError('set the status with setStatus(), not a Status header');
    this.#assertOpen(`header ${name}`);
    this.#headers.push([name, value]);
    this.#revision++;
  }

  /** Goes up with every header added or removed. */
  get revision(): number {
    return this.#revision;
  }

  removeHeader(name: string): void {
    this.#assertOpen(`header ${name}`);
    const lower = name.toLowerCase();
    this.#headers = this.#headers.filter(([n]) => n.toLowerCase() !== lower);
    this.#revision++;
  }

  /** Marks the headers sent, with a content type (text gets `charset=utf-8`) unless one is set. */
  sendHeaders(contentType: string): void {
    if (this.#headersSent) return;
    if (this.getHeader('Content-Type') === undefined) {
      const type = /^text\//i.test(contentType) && !/charset=/i.test(contentType) ? `${contentType}; charset=utf-8` : contentType;
      this.addHeader('Content-Type', type);
    }
    this.#headersSent = true;
  }

  write(data: string | Uint8Array): void {
    if (!this.#headersSent) this.sendHeaders('text/html');
    this.#append(data);
    if (this.#buffered >= BUFFER_LIMIT) void this.flush();
  }

  /** Sends what was written so far, in order, and waits until the host took it. */
  flush(): Promise<void> {
    this.#commit();
    const chunks = this.#buffer;
    this.#buffer = [];
    this.#buffered = 0;
    if (this.#headOnly || chunks.length === 0) return this.#sending;
    // Chained, so that pieces go out in order even when flushes overlap.
    this.#flushed = true;
    this.#sending = this.#sending.then(async () => {
      for (const chunk of chunks) await this.#sink.body(asBytes(chunk));
    });
    this.#sending.catch(() => {});
    return this.#sending;
  }

  /**
   * Replaces what was written with a short plain-text answer (redirects,
   * `sendStatus()`); only while nothing has gone out.
   *
   * @throws HeadersSentError once the response has started.
   */
  replace(status: number, text: string, headers: readonly [string, string][] = []): void {
    this.#discardBody();
    this.setStatus(status);
    for (const [name, value] of headers) {
      this.removeHeader(name);
      this.addHeader(name, value);
    }
    this.removeHeader('Content-Type');
    this.addHeader('Content-Type', 'text/plain; charset=utf-8');
    this.#headersSent = true;
    this.#append(Buffer.from(text));
  }

  /** Sends whatever is left and ends the response. */
  async finish(): Promise<void> {
    if (!this.#headersSent) this.sendHeaders('text/html');
    if (!this.#committed && this.getHeader('Content-Length') === undefined && this.#status !== 204 && this.#status !== 304) {
      // The whole body is known: say its length, so no chunked encoding is needed.
      this.#headers.push(['Content-Length', String(this.#buffered)]);
    }
    if (this.#buffer.length === 1 && !this.#headOnly) {
      this.#commit();
      const last = this.#buffer[0]!;
      this.#buffer = [];
      this.#buffered = 0;
      // Pieces flushed before go first.
      if (this.#flushed) await this.#sending;
      await this.#sink.last(last);
      return;
    }
    await this.flush();
    await this.#sink.end();
  }

  /**
   * Replaces the response with an error, if nothing has gone out yet
   * (otherwise it is just ended). Headers that HTTP cannot carry are left out
   * and reported to `refused`.
   */
  async fail(status: number, body: string, headers: Readonly<Record<string, string>>, refused: (e: Error) => void): Promise<void> {
    if (this.#committed) {
      await this.#sink.end();
      return;
    }
    this.beforeHead = undefined;
    this.#headers = [];
    this.#discardBody();
    this.#status = status;
    for (const [name, value] of Object.entries(headers)) {
      // An HttpError thrown by a handler brings its own headers: they pass the same check as any other.
      try {
        checkField(name, value);
        this.#headers.push([name, value]);
      } catch (e) {
        refused(e as Error);
      }
    }
    this.#headers.push(['Content-Type', 'text/plain; charset=utf-8'], ['Cache-Control', 'no-store']);
    this.#headersSent = true;
    this.#append(Buffer.from(body));
    await this.flush();
    await this.#sink.end();
  }

  #append(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
    if (bytes === 0) return;
    this.#buffer.push(chunk);
    this.#buffered += bytes;
  }

  #discardBody(): void {
    if (this.#committed) throw new HeadersSentError('the response has started; it can no longer be replaced');
    this.#buffer = [];
    this.#buffered = 0;
  }

  #assertOpen(what: string): void {
    if (this.#committed) throw new HeadersSentError(`cannot set ${what}: the response headers have already been sent`);
  }

  #commit(): void {
    if (this.#committed) return;
    const before = this.beforeHead;
    this.beforeHead = undefined;
    before?.();
    // Committed only once the host took the head: a head it refuses (a header Node will not
    // send, say) can still be replaced by an error response.
    this.#sink.head(this.#status, reasonPhrase(this.#status), this.#headers);
    this.#committed = true;
  }
}

/** Text as UTF-8 bytes. */
function asBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}
