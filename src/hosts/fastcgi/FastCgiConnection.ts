import type { Duplex } from 'node:stream';
import type { Logger } from '../../logging/Logger.js';
import { FastCgiAbortedError } from './FastCgiAbortedError.js';
import { FastCgiExchange, type ExchangeOwner } from './FastCgiExchange.js';
import { FastCgiProtocolError } from './FastCgiProtocolError.js';
import { decodeNameValuePairs, encodeNameValuePairs } from './nameValuePairs.js';
import {
  FCGI_KEEP_CONN, FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, FCGI_NULL_REQUEST_ID,
  ProtocolStatus, RecordType, Role, recordTypeName,
} from './protocol.js';
import { encodeRecord, encodeStream, endRequestBody, unknownTypeBody } from './records.js';
import { RecordReader } from './RecordReader.js';
import { TIMEOUT_DEFAULTS } from '../ServerTimeouts.js';
import { watchSending } from '../watchSending.js';

/** Limits of one connection, and what FCGI_GET_VALUES is told. */
export interface FastCgiLimits {
  /** Bytes of params (names, values and their lengths) one request may have; default 64 KiB. */
  maxParamsBytes?: number;
  /** Requests one connection may have at once; more are refused with FCGI_OVERLOADED. Default 64. */
  maxRequests?: number;
  /** Connections the process takes at once, as FCGI_GET_VALUES reports it (FCGI_MAX_CONNS). Default 1024. */
  maxConnections?: number;
  /** Body bytes held for one request that is not reading them before the connection stops reading. Default 64 KiB. */
  bodyHighWaterMark?: number;
  /** Milliseconds a closing connection keeps reading what the web server still sends, so that the answer is not lost to a reset. Default 2000. */
  lingerMs?: number;
  /** Milliseconds the web server may take none of the output waiting for it before the connection is closed (0: no limit). Default 60000. */
  sendTimeoutMs?: number;
}

/** Options of {@link FastCgiConnection}. */
export interface FastCgiConnectionOptions extends FastCgiLimits {
  /** Called for each request once its params are complete; its body may still be arriving. */
  onRequest(exchange: FastCgiExchange): void;
  /** Where protocol errors are told, one line each. */
  logger: Logger;
}

/** The defaults of {@link FastCgiLimits}. */
export const FASTCGI_DEFAULTS: Readonly<Required<FastCgiLimits>> = {
  maxParamsBytes: 64 * 1024,
  maxRequests: 64,
  maxConnections: 1024,
  bodyHighWaterMark: 64 * 1024,
  lingerMs: 2000,
  sendTimeoutMs: TIMEOUT_DEFAULTS.sendMs,
};

/** Params of a request, as they come, until the empty FCGI_PARAMS. */
interface PendingParams {
  chunks: Buffer[];
  bytes: number;
}

/**
 * One connection from a web server, speaking FastCGI as a responder: it
 * reads records, keeps each request (by request id, several at once when the
 * web server multiplexes) as a {@link FastCgiExchange}, answers management
 * records itself (FCGI_GET_VALUES, FCGI_UNKNOWN_TYPE), and writes the
 * responses back as records. A request's body is handed on as it arrives;
 * while a request holds more than `bodyHighWaterMark` bytes it has not taken,
 * the connection stops reading. Without FCGI_KEEP_CONN the connection is
 * closed after its request. What FastCGI does not allow closes the
 * connection with one log line, never the process.
 *
 * @example
 * ```ts
 * net.createServer({ allowHalfOpen: true }, (socket) => {
 *   new FastCgiConnection(socket, { logger, onRequest: (exchange) => void answer(exchange) });
 * });
 * ```
 */
export class FastCgiConnection implements ExchangeOwner {
  readonly #socket: Duplex;
  readonly #options: FastCgiConnectionOptions;
  readonly #limits: Required<FastCgiLimits>;
  readonly #reader: RecordReader;
  readonly #exchanges = new Map<number, FastCgiExchange>();
  readonly #params = new Map<number, PendingParams>();
  /** Request ids begun on this connection: records for one that has ended are ignored (FastCGI §3.3). */
  readonly #begun = new Set<number>();
  #paused = false;
  /** No more requests: the connection ends once its requests have. */
  #closing = false;
  /** The connection is ending or gone: records are no longer read. */
  #done = false;
  #linger: NodeJS.Timeout | undefined;
  readonly #closed: Promise<void>;

  constructor(socket: Duplex, options: FastCgiConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#limits = { ...FASTCGI_DEFAULTS, ...definedOnly(options) };
    this.#reader = new RecordReader((type, id, content) => this.#onRecord(type, id, content));
    this.#closed = new Promise((resolve) => socket.once('close', () => {
      this.#gone('the web server closed the connection');
      resolve();
    }));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') this.#log('warn', `${e.message}`);
    });
  }

  /**
   * Requests begun and not yet ended.
   *
   * @example
   * ```ts
   * if (connection.activeRequests === 0) void connection.close();
   * ```
   */
  get activeRequests(): number {
    return this.#exchanges.size;
  }

  /**
   * Resolves when the socket is closed.
   *
   * @example
   * ```ts
   * void connection.closed.then(() => connections.delete(connection));
   * ```
   */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Takes no more requests: the connection ends as soon as the requests it
   * has are answered (at once when it has none).
   *
   * @example
   * ```ts
   * await Promise.all([...connections].map((c) => c.close()));
   * ```
   */
  close(): Promise<void> {
    this.#closing = true;
    if (this.#exchanges.size === 0) this.#finish();
    return this.#closed;
  }

  /**
   * Closes the socket now; requests still running are aborted (their bodies
   * fail, their answers are dropped).
   *
   * @example
   * ```ts
   * setTimeout(() => connection.destroy(), 10_000).unref();
   * ```
   */
  destroy(): void {
    this.#done = true;
    this.#socket.destroy();
  }

  // ---- ExchangeOwner ---------------------------------------------------------

  /** @internal */
  sendStdout(exchange: FastCgiExchange, data: Uint8Array): void | Promise<void> {
    if (this.#socket.destroyed) return;
    if (!this.#write(encodeStream(RecordType.STDOUT, exchange.id, data))) return this.#drained();
  }

  /** @internal */
  sendEnd(exchange: FastCgiExchange, last: Uint8Array | undefined, appStatus: number): Promise<void> {
    this.#forget(exchange);
    let flushed: Promise<void> = Promise.resolve();
    if (!this.#socket.destroyed) {
      const pieces = last && last.byteLength > 0 ? encodeStream(RecordType.STDOUT, exchange.id, last) : [];
      // An aborted request's stream is not ended: only FCGI_END_REQUEST answers the abort.
      if (!exchange.aborted) pieces.push(...encodeRecord(RecordType.STDOUT, exchange.id));
      pieces.push(...encodeRecord(RecordType.END_REQUEST, exchange.id, endRequestBody(appStatus, ProtocolStatus.REQUEST_COMPLETE)));
      if (!this.#write(pieces)) flushed = this.#drained();
    }
    if (!exchange.keepConnection || (this.#closing && this.#exchanges.size === 0)) this.#finish();
    return flushed;
  }

  /** @internal */
  bodyTaken(exchange: FastCgiExchange): void {
    if (this.#paused && exchange.queuedBytes <= this.#limits.bodyHighWaterMark) this.#resumeIfDrained();
  }

  // ---- reading ---------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    try {
      this.#reader.push(chunk);
    } catch (e) {
      // A fault of pso's own is logged with its stack; either way only this connection pays.
      this.#fail(e instanceof FastCgiProtocolError ? e.message : `reading records failed: ${(e as Error)?.stack ?? e}`);
    }
  }

  #onRecord(type: number, id: number, content: Buffer): void {
    if (this.#done) return;
    if (id === FCGI_NULL_REQUEST_ID) return this.#onManagement(type, content);
    switch (type) {
      case RecordType.BEGIN_REQUEST: return this.#onBegin(id, content);
      case RecordType.PARAMS: return this.#onParams(id, content);
      case RecordType.STDIN: return this.#onStdin(id, content);
      case RecordType.ABORT_REQUEST: return this.#onAbort(id);
      case RecordType.DATA:
        if (this.#active(id, 'FCGI_DATA')) throw new FastCgiProtocolError(`an FCGI_DATA record for request ${id}: it belongs to the filter role, and pso is a responder`);
        return;
      default:
        throw new FastCgiProtocolError(`a ${recordTypeName(type)} record for request ${id}: a web server sends only FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_PARAMS and FCGI_STDIN`);
    }
  }

  #onManagement(type: number, content: Buffer): void {
    if (type === RecordType.GET_VALUES) {
      const answers: [string, string][] = [];
      decodeNameValuePairs(content, (name) => {
        const value = this.#value(name);
        if (value !== undefined) answers.push([name, value]);
      });
      this.#write(encodeRecord(RecordType.GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, encodeNameValuePairs(answers)));
      return;
    }
    if (type >= RecordType.BEGIN_REQUEST && type <= RecordType.DATA) {
      throw new FastCgiProtocolError(`a ${recordTypeName(type)} record with request id 0, which is kept for management records`);
    }
    this.#write(encodeRecord(RecordType.UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, unknownTypeBody(type)));
  }

  /** What FCGI_GET_VALUES is told about `name`, or undefined for a name pso does not know (left out of the answer, §4.1). */
  #value(name: string): string | undefined {
    const l = this.#limits;
    if (name === FCGI_MAX_CONNS) return String(l.maxConnections);
    if (name === FCGI_MAX_REQS) return String(l.maxConnections * l.maxRequests);
    if (name === FCGI_MPXS_CONNS) return '1';
    return undefined;
  }

  #onBegin(id: number, content: Buffer): void {
    if (content.byteLength !== 8) throw new FastCgiProtocolError(`an FCGI_BEGIN_REQUEST record of ${content.byteLength} bytes for request ${id}; its body has 8`);
    if (this.#exchanges.has(id)) throw new FastCgiProtocolError(`an FCGI_BEGIN_REQUEST for request ${id}, which is already active`);
    const role = content.readUInt16BE(0);
    const keep = (content[2]! & FCGI_KEEP_CONN) !== 0;
    this.#begun.add(id);
    if (role !== Role.RESPONDER) return this.#refuse(id, keep, ProtocolStatus.UNKNOWN_ROLE);
    if (this.#exchanges.size >= this.#limits.maxRequests) {
      this.#log('warn', `refused request ${id} with FCGI_OVERLOADED: the connection has ${this.#exchanges.size} requests running, the most it takes (maxRequests)`);
      return this.#refuse(id, keep, ProtocolStatus.OVERLOADED);
    }
    this.#exchanges.set(id, new FastCgiExchange(id, keep, this));
    this.#params.set(id, { chunks: [], bytes: 0 });
  }

  #refuse(id: number, keep: boolean, status: number): void {
    this.#write(encodeRecord(RecordType.END_REQUEST, id, endRequestBody(0, status)));
    if (!keep) this.#finish();
  }

  #onParams(id: number, content: Buffer): void {
    const exchange = this.#active(id, 'FCGI_PARAMS');
    if (!exchange) return;
    const pending = this.#params.get(id);
    if (!pending) throw new FastCgiProtocolError(`an FCGI_PARAMS record for request ${id} after the end of its params`);
    if (content.byteLength > 0) {
      pending.bytes += content.byteLength;
      if (pending.bytes > this.#limits.maxParamsBytes) return this.#paramsTooLarge(exchange);
      pending.chunks.push(content);
      return;
    }
    this.#params.delete(id);
    const params = new Map<string, string>();
    decodeNameValuePairs(pending.chunks.length === 1 ? pending.chunks[0]! : Buffer.concat(pending.chunks), (name, value) => params.set(name, value));
    exchange.params = params;
    try {
      this.#options.onRequest(exchange);
    } catch (e) {
      this.#log('error', `request ${id}: ${(e as Error)?.stack ?? e}`);
      void exchange.end(Buffer.from('Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n500 Internal Server Error\n'), 1);
    }
  }

  /** Params over the limit: the request is answered 431 and its other records are ignored; the connection goes on. */
  #paramsTooLarge(exchange: FastCgiExchange): void {
    this.#log('warn', `request ${exchange.id}: its params are larger than ${this.#limits.maxParamsBytes} bytes (maxParamsBytes); answered 431`);
    void exchange.end(Buffer.from('Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n431 Request Header Fields Too Large\n'));
  }

  #onStdin(id: number, content: Buffer): void {
    const exchange = this.#active(id, 'FCGI_STDIN');
    if (!exchange) return;
    if (exchange.bodyComplete) throw new FastCgiProtocolError(`an FCGI_STDIN record for request ${id} after the end of its body`);
    if (content.byteLength === 0) return exchange.endBody();
    exchange.pushBody(content);
    if (!this.#paused && exchange.queuedBytes > this.#limits.bodyHighWaterMark) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #onAbort(id: number): void {
    const exchange = this.#exchanges.get(id);
    if (!exchange) return;
    exchange.abort();
    // Not handed on yet: no one else will end it.
    if (this.#params.has(id)) void exchange.end();
    else this.#resumeIfDrained();
  }

  /** The active request `id`; undefined for one that has ended (its records are ignored); a protocol error for one never begun. */
  #active(id: number, what: string): FastCgiExchange | undefined {
    const exchange = this.#exchanges.get(id);
    if (exchange) return exchange;
    if (this.#begun.has(id)) return undefined;
    throw new FastCgiProtocolError(`an ${what} record for request ${id}, which was never begun on this connection`);
  }

  /** The web server will send no more (it half-closed the connection). */
  #onEnd(): void {
    for (const [id, exchange] of this.#exchanges) {
      if (this.#params.has(id) || !exchange.bodyComplete) exchange.abort(new FastCgiAbortedError('the web server closed the connection before the request was complete'));
      if (this.#params.has(id)) void exchange.end();
    }
    this.#closing = true;
    if (this.#exchanges.size === 0) this.#finish();
  }

  // ---- writing and closing ------------------------------------------------------

  /** Writes records in one go; false when the socket asks to wait for 'drain'. */
  #write(pieces: readonly Uint8Array[]): boolean {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return true;
    let ok = true;
    if (pieces.length === 1) ok = socket.write(pieces[0]!);
    else {
      socket.cork();
      for (const piece of pieces) ok = socket.write(piece);
      socket.uncork();
    }
    // A web server that stops reading would hold this connection's requests (and their handlers) for ever.
    if (!ok) watchSending(socket, this.#limits.sendTimeoutMs, () => this.#log('warn', `the web server took none of the output for ${this.#limits.sendTimeoutMs / 1000} s; closing the connection`));
    return ok;
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  #forget(exchange: FastCgiExchange): void {
    if (this.#exchanges.get(exchange.id) === exchange) this.#exchanges.delete(exchange.id);
    this.#params.delete(exchange.id);
    this.#resumeIfDrained();
  }

  #resumeIfDrained(): void {
    if (!this.#paused || this.#done) return;
    for (const e of this.#exchanges.values()) if (e.queuedBytes > this.#limits.bodyHighWaterMark) return;
    this.#paused = false;
    this.#socket.resume();
  }

  /**
   * Ends the connection after what is written: the web server gets its
   * answers and then the end of the stream. What it still sends is read and
   * dropped for a while: a socket closed with unread bytes is reset, and a
   * reset can lose the answer on its way.
   */
  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#paused = false;
    this.#loseAll('the connection was closed');
    const socket = this.#socket;
    socket.end();
    socket.resume();
    this.#linger = setTimeout(() => socket.destroy(), this.#limits.lingerMs);
    this.#linger.unref();
  }

  /** A protocol error: one log line, and the connection is closed at once. */
  #fail(reason: string): void {
    this.#log('error', `${reason}; closing the connection`);
    this.#done = true;
    this.#socket.destroy();
  }

  /** The socket closed: every request still running is aborted and can write no more. */
  #gone(why: string): void {
    this.#done = true;
    if (this.#linger) clearTimeout(this.#linger);
    this.#loseAll(why);
  }

  /** Ends every request still open, which can write no more; the error (and its stack) is made only when there is one. */
  #loseAll(why: string): void {
    if (this.#exchanges.size > 0) {
      const reason = new FastCgiAbortedError(why);
      for (const exchange of this.#exchanges.values()) exchange.lose(reason);
    }
    this.#exchanges.clear();
    this.#params.clear();
  }

  #log(level: 'error' | 'warn', message: string): void {
    const from = (this.#socket as { remoteAddress?: string }).remoteAddress;
    this.#options.logger.log(level, `FastCGI${from ? ` connection from ${from}` : ''}: ${message}`);
  }
}

/** The limits given, without those left undefined (which take their defaults). */
function definedOnly(options: FastCgiLimits): FastCgiLimits {
  const out: Record<string, number> = {};
  for (const key of Object.keys(FASTCGI_DEFAULTS) as (keyof FastCgiLimits)[]) {
    const value = options[key];
    if (value !== undefined) {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`FastCGI limit ${key} must be a number of at least 0; got ${value}`);
      out[key] = value;
    }
  }
  return out;
}
