import { ServiceRequest, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import { FdOutput, StreamOutput, type CgiOutput } from './CgiOutput.js';
import { readSync } from 'node:fs';
import { HttpError } from '../../service/errors.js';
import { variableOfHeader } from '../../service/cgiVariables.js';
import { cgiHead } from './cgiHead.js';
import { releaseStdioBeforeExit } from './releaseStdio.js';
import type { SessionData } from '../../session/json.js';

/** What a CGI request is made of. */
export interface CgiRequestInit extends ServiceRequestInit {
  /** The CGI environment (RFC 3875 meta-variables plus `SetEnv` directives). */
  env: NodeJS.ProcessEnv;
  /** Where the response goes; default: file descriptor 1, the script's standard output. */
  stdout?: NodeJS.WritableStream | undefined;
  /** Where the request body comes from; default: file descriptor 0, standard input. */
  stdin?: NodeJS.ReadableStream | undefined;
}

/**
 * The CGI host (RFC 3875): the request is the environment, the response is
 * `Status:`, headers, a blank line and the body on standard output.
 */
export class CgiRequest<D extends object = SessionData> extends ServiceRequest<D> {
  protected readonly env: NodeJS.ProcessEnv;
  protected readonly output: CgiOutput;
  protected readonly stdin: NodeJS.ReadableStream | undefined;
  /** Bytes of standard input taken so far, by the body or by {@link drainInput}. */
  #inputTaken = 0;
  /** Whether the response goes to descriptor 1 and the body comes from 0, the process's own. */
  readonly #ownStdio: boolean;

  constructor(init: CgiRequestInit) {
    super(init);
    this.env = init.env;
    this.stdin = init.stdin;
    this.output = init.stdout
      ? new StreamOutput(init.stdout, (e) => this.logger.log('error', `writing the response failed: ${e.message}`))
      : new FdOutput(1);
    this.#ownStdio = !init.stdout && !init.stdin;
  }

  override get method(): string {
    return (this.env.REQUEST_METHOD || 'GET').toUpperCase();
  }

  override get path(): string {
    return `${this.env.SCRIPT_NAME ?? ''}${this.env.PATH_INFO ?? ''}` || '/';
  }

  override get queryString(): string {
    return this.env.QUERY_STRING ?? '';
  }

  override get persistent(): boolean {
    return false;
  }

  protected override transportSecure(): boolean {
    const https = (this.env.HTTPS ?? '').toLowerCase();
    return https === 'on' || https === '1' || (this.env.REQUEST_SCHEME ?? '').toLowerCase() === 'https';
  }

  protected override environValue(key: string): string | undefined {
    return this.env[key];
  }

  protected override environNames(): Iterable<string> {
    return Object.keys(this.env);
  }

  /**
   * Exactly CONTENT_LENGTH bytes of standard input (RFC 3875 §4.2): what
   * follows is not the request's; fewer is a request cut short.
   */
  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    const declared = this.env.CONTENT_LENGTH?.trim();
    // nginx passes an empty CONTENT_LENGTH with a GET: no body.
    if (!declared) return;
    if (!/^\d+$/.test(declared)) throw new HttpError(400, `invalid CONTENT_LENGTH ${JSON.stringify(declared)}`);
    const total = Number(declared);
    let left = total;
    if (this.stdin) {
      for await (const chunk of this.stdin) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        this.#inputTaken += Math.min(b.byteLength, left);
        if (b.byteLength >= left) {
          yield b.subarray(0, left);
          left = 0;
          break;
        }
        left -= b.byteLength;
        yield b;
      }
    } else {
      while (left > 0) {
        const chunk = await readFd(0, Math.min(left, 64 * 1024));
        if (chunk.byteLength === 0) break;
        left -= chunk.byteLength;
        this.#inputTaken += chunk.byteLength;
        yield chunk;
      }
    }
    if (left > 0) throw new HttpError(400, `request body ended after ${total - left} of ${total} bytes`);
  }

  protected override headerValue(name: string): string | undefined {
    if (name === 'content-type') return this.env.CONTENT_TYPE;
    if (name === 'content-length') return this.env.CONTENT_LENGTH || undefined;
    return this.env[variableOfHeader(name)];
  }

  protected override get lengthName(): string {
    return 'CONTENT_LENGTH';
  }

  /** The line ending of the response head. */
  protected get newline(): string {
    return '\r\n';
  }

  /** The first line of the head; CGI says the status in a `Status:` header. */
  protected statusLine(status: number, reason: string): string | undefined {
    return `Status: ${status} ${reason}`;
  }

  protected override emitHead(status: number, reason: string, headers: readonly [string, string][]): void {
    // Written before any body chunk, which the core only sends after this returns.
    void this.output.write(cgiHead(this.statusLine(status, reason), headers, this.newline));
  }

  protected override emitBody(chunk: Uint8Array): Promise<void> | void {
    return this.output.write(chunk);
  }

  protected override async emitEnd(): Promise<void> {
    await this.output.end();
    if (this.#ownStdio && this.endsOutputBeforeExit) releaseStdioBeforeExit();
  }

  /**
   * Whether standard input and output are closed once the process has
   * nothing left to do, before node's tear-down, so that the web server has
   * the whole response a few milliseconds sooner. Not while anything is
   * pending, nor with an 'exit' listener or a 'beforeExit' listener added
   * after the response: Apache ends a script whose output has ended.
   */
  protected get endsOutputBeforeExit(): boolean {
    return true;
  }

  /**
   * Reads and drops the part of the body the handler left unread, before the
   * response goes out. The web server writes the whole body to the script's
   * standard input; a script that exits without taking it makes the write
   * fail, and then Apache drops the connection and fcgiwrap answers 502,
   * whatever the script printed.
   */
  protected override async drainInput(): Promise<void> {
    const declared = this.env.CONTENT_LENGTH?.trim();
    if (!declared || !/^\d+$/.test(declared)) return;
    let left = Number(declared) - this.#inputTaken;
    if (left <= 0) return;
    this.#inputTaken += left;
    try {
      if (this.stdin) {
        if ((this.stdin as { destroyed?: boolean }).destroyed) return;
        for await (const chunk of this.stdin) {
          left -= (chunk as Uint8Array | string).length;
          if (left <= 0) break;
        }
      } else {
        while (left > 0) {
          const n = (await readFd(0, Math.min(left, 64 * 1024))).byteLength;
          if (n === 0) break;
          left -= n;
        }
      }
    } catch {
      // The rest of the body is not the request's business any more.
    }
  }
}

/** Reads at most `length` bytes from a descriptor, as soon as some are there; none only at end of input. */
async function readFd(fd: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(length);
  for (;;) {
    try {
      return buf.subarray(0, readSync(fd, buf, 0, length, null));
    } catch (e) {
      // A non-blocking pipe with nothing yet: wait for the server to send more.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if ((e as NodeJS.ErrnoException).code === 'EOF') return buf.subarray(0, 0);
      throw e;
    }
  }
}
