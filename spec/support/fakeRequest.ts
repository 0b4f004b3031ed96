import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { HttpError, ServiceRequest, type Logger, type LogLevel } from '../../src/index.js';

/** A logger that keeps its lines, so specs can assert on them. */
export class MemoryLogger implements Logger {
  readonly lines: { level: LogLevel; message: string }[] = [];
  log(level: LogLevel, message: string): void {
    this.lines.push({ level, message });
  }
  has(level: LogLevel, pattern: RegExp): boolean {
    return this.lines.some((l) => l.level === level && pattern.test(l.message));
  }
}

export interface FakeRequestInit {
  /** Environment variables and directives. */
  env?: Record<string, string | undefined>;
  /** Request headers (any case). */
  headers?: Record<string, string>;
  moduleName?: string;
  persistent?: boolean;
  secure?: boolean;
  method?: string;
  path?: string;
  query?: string;
  logger?: Logger;
  /** The request body. */
  requestBody?: string;
}

/** A ServiceRequest served from records, capturing what it sends. */
export class FakeRequest extends ServiceRequest {
  readonly env: Record<string, string | undefined>;
  readonly headers: Record<string, string>;
  readonly memoryLogger: MemoryLogger | undefined;
  head: { status: number; reason: string; headers: [string, string][] } | undefined;
  readonly chunks: Buffer[] = [];
  ended = false;
  readonly #init: FakeRequestInit;

  constructor(init: FakeRequestInit = {}) {
    const memory = init.logger ? undefined : new MemoryLogger();
    super({ moduleName: init.moduleName ?? 'spec', logger: init.logger ?? memory! });
    this.memoryLogger = memory;
    this.#init = init;
    this.env = { ...(init.env ?? {}) };
    this.headers = {};
    for (const [k, v] of Object.entries(init.headers ?? {})) this.headers[k.toLowerCase()] = v;
  }

  override get method(): string {
    return this.#init.method ?? 'GET';
  }
  override get path(): string {
    return this.#init.path ?? '/';
  }
  override get queryString(): string {
    return this.#init.query ?? '';
  }
  override get persistent(): boolean {
    return this.#init.persistent ?? false;
  }
  protected override transportSecure(): boolean {
    return this.#init.secure ?? false;
  }
  protected override environValue(key: string): string | undefined {
    return Object.hasOwn(this.env, key) ? this.env[key] : undefined;
  }
  protected override environNames(): Iterable<string> {
    return Object.keys(this.env);
  }
  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    const body = Buffer.from(this.#init.requestBody ?? '');
    if (body.byteLength > 0) yield body;
  }
  protected override headerValue(name: string): string | undefined {
    return Object.hasOwn(this.headers, name) ? this.headers[name] : undefined;
  }
  protected override emitHead(status: number, reason: string, headers: readonly [string, string][]): void {
    this.head = { status, reason, headers: headers.map(([n, v]) => [n, v]) };
  }
  protected override emitBody(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
  }
  protected override async emitEnd(): Promise<void> {
    this.ended = true;
  }

  /** The body sent so far. */
  get sentBody(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Every Set-Cookie value sent with the head (or set so far, before it). */
  setCookies(): string[] {
    const headers = this.head?.headers ?? [];
    return headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v);
  }

  /** Log lines, when the request made its own logger. */
  get logLines(): { level: LogLevel; message: string }[] {
    return this.memoryLogger?.lines ?? [];
  }
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(`${tmpdir()}/pso-spec-`);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
