import { ServiceRequest, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import { FdOutput, StreamOutput, type CgiOutput } from './CgiOutput.js';
import { readSync } from 'node:fs';
import { HttpError } from '../../service/errors.js';
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

  constructor(init: CgiRequestInit) {
    super(init);
    this.env = init.env;
    this.stdin = init.stdin;
    this.output = init.stdout
      ? new StreamOutput(init.stdout, (e) => this.logger.log('error', `writing the response failed: ${e.message}`))
      : new FdOutput(1);
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

  /** Reads exactly CONTENT_LENGTH bytes of standard input (RFC 3875 §4.2). */
  protected override async readBody(limit: number): Promise<Uint8Array> {
    const declared = this.env.CONTENT_LENGTH?.trim();
    if (!declared) return new Uint8Array(0);
    if (!/^\d+$/.test(declared)) throw new HttpError(400, `invalid CONTENT_LENGTH ${JSON.stringify(declared)}`);
    const length = Number(declared);
    if (length > limit) throw new HttpError(413, `request body of ${length} bytes is larger than the limit of ${limit} bytes`);
    const body = this.stdin ? await readStream(this.stdin, length) : await readFd(0, length);
    if (body.byteLength < length) throw new HttpError(400, `request body ended after ${body.byteLength} of ${length} bytes`);
    return body;
  }

  protected override headerValue(name: string): string | undefined {
    if (name === 'content-type') return this.env.CONTENT_TYPE;
    if (name === 'content-length') return this.env.CONTENT_LENGTH || undefined;
    return this.env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`];
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
    const nl = this.newline;
    const first = this.statusLine(status, reason);
    let head = first === undefined ? '' : first + nl;
    for (const [name, value] of headers) head += `${name}: ${value}${nl}`;
    // Written before any body chunk, which the core only sends after this returns.
    void this.output.write(Buffer.from(head + nl, 'latin1'));
  }

  protected override emitBody(chunk: Uint8Array): Promise<void> | void {
    return this.output.write(chunk);
  }

  protected override emitEnd(): Promise<void> {
    return this.output.end();
  }
}

/** Reads up to `length` bytes from a descriptor; fewer only at end of input. */
async function readFd(fd: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    let n: number;
    try {
      n = readSync(fd, buf, got, length - got, null);
    } catch (e) {
      // A non-blocking pipe with nothing yet: wait for the server to send more.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Reads up to `length` bytes from a stream; fewer only at its end. */
async function readStream(stream: NodeJS.ReadableStream, length: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    chunks.push(b);
    got += b.byteLength;
    if (got >= length) break;
  }
  return Buffer.concat(chunks).subarray(0, length);
}
