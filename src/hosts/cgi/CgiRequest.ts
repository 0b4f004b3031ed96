import { ServiceRequest, type ServiceRequestInit } from '../../service/ServiceRequest.js';
import { FdOutput, StreamOutput, type CgiOutput } from './CgiOutput.js';
import type { SessionData } from '../../session/json.js';

/** What a CGI request is made of. */
export interface CgiRequestInit extends ServiceRequestInit {
  /** The CGI environment (RFC 3875 meta-variables plus `SetEnv` directives). */
  env: NodeJS.ProcessEnv;
  /** Where the response goes; default: file descriptor 1, the script's standard output. */
  stdout?: NodeJS.WritableStream | undefined;
}

/**
 * The CGI host (RFC 3875): the request is the environment, the response is
 * `Status:`, headers, a blank line and the body on standard output.
 */
export class CgiRequest<D extends object = SessionData> extends ServiceRequest<D> {
  protected readonly env: NodeJS.ProcessEnv;
  protected readonly output: CgiOutput;

  constructor(init: CgiRequestInit) {
    super(init);
    this.env = init.env;
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

  override isSecure(): boolean {
    const https = (this.env.HTTPS ?? '').toLowerCase();
    return https === 'on' || https === '1' || (this.env.REQUEST_SCHEME ?? '').toLowerCase() === 'https';
  }

  protected override environValue(key: string): string | undefined {
    return this.env[key];
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
