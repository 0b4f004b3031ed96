// A FastCGI client for the tests, written from the specification apart from
// src/hosts/fastcgi, so that a mistake there is not mirrored here: it builds
// records byte by byte, sends them in any cut, and reads the answers back.
import { connect, type Socket } from 'node:net';

export const T = {
  BEGIN_REQUEST: 1, ABORT_REQUEST: 2, END_REQUEST: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7,
  DATA: 8, GET_VALUES: 9, GET_VALUES_RESULT: 10, UNKNOWN_TYPE: 11,
} as const;

/** One record: version 1 (or `version`), the header, the content, `padding` zero bytes. */
export function rec(type: number, id: number, content: Uint8Array | string = Buffer.alloc(0), padding = 0, version = 1): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
  const head = Buffer.from([version, type, id >> 8, id & 0xff, body.length >> 8, body.length & 0xff, padding, 0]);
  return Buffer.concat([head, body, Buffer.alloc(padding)]);
}

/** FCGI_BEGIN_REQUEST: role (1 responder), flags (1 keep the connection). */
export function begin(id: number, keep = true, role = 1): Buffer {
  return rec(T.BEGIN_REQUEST, id, Buffer.from([role >> 8, role & 0xff, keep ? 1 : 0, 0, 0, 0, 0, 0]));
}

/** Name-value pairs: lengths below 128 in one byte, others in four with the top bit set. */
export function pairs(entries: Record<string, string> | [string, string][]): Buffer {
  const parts: Buffer[] = [];
  const len = (n: number) => (n < 128 ? Buffer.from([n]) : Buffer.from([0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]));
  for (const [k, v] of Array.isArray(entries) ? entries : Object.entries(entries)) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    parts.push(len(kb.length), len(vb.length), kb, vb);
  }
  return Buffer.concat(parts);
}

/** A whole request: BEGIN, its params (then the empty PARAMS), its body in records of `piece` bytes (then the empty STDIN). */
export function request(id: number, params: Record<string, string>, body: Uint8Array | string = '', opts: { keep?: boolean; piece?: number } = {}): Buffer {
  const b = Buffer.from(body);
  // No params: only the empty record that ends them (an empty record anywhere ends the stream).
  const encoded = pairs(params);
  const out = [begin(id, opts.keep ?? true), ...(encoded.length ? [rec(T.PARAMS, id, encoded)] : []), rec(T.PARAMS, id)];
  const piece = opts.piece ?? 65535;
  for (let at = 0; at < b.length; at += piece) out.push(rec(T.STDIN, id, b.subarray(at, at + piece)));
  out.push(rec(T.STDIN, id));
  return Buffer.concat(out);
}

/** A record as read back. */
export interface ReadRecord {
  version: number;
  type: number;
  id: number;
  content: Buffer;
  padding: number;
}

/** Every complete record in `bytes`, and the bytes left over. */
export function parse(bytes: Buffer): { records: ReadRecord[]; rest: Buffer } {
  const records: ReadRecord[] = [];
  let at = 0;
  while (bytes.length - at >= 8) {
    const length = bytes.readUInt16BE(at + 4);
    const padding = bytes[at + 6]!;
    if (bytes.length - at < 8 + length + padding) break;
    records.push({ version: bytes[at]!, type: bytes[at + 1]!, id: bytes.readUInt16BE(at + 2), content: bytes.subarray(at + 8, at + 8 + length), padding });
    at += 8 + length + padding;
  }
  return { records, rest: bytes.subarray(at) };
}

/** The answer to one request: its FCGI_STDOUT records, their bytes, and its FCGI_END_REQUEST. */
export interface Answer {
  stdout: ReadRecord[];
  bytes: Buffer;
  appStatus: number;
  protocolStatus: number;
  /** The CGI head and body of `bytes`. */
  status: number;
  headers: [string, string][];
  body: Buffer;
}

function answerOf(records: ReadRecord[], end: ReadRecord): Answer {
  const stdout = records.filter((r) => r.type === T.STDOUT);
  const bytes = Buffer.concat(stdout.map((r) => r.content));
  const split = bytes.indexOf('\r\n\r\n');
  const head = split < 0 ? '' : bytes.subarray(0, split).toString('latin1');
  const headers: [string, string][] = [];
  let status = 200;
  for (const line of head.split('\r\n').filter(Boolean)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i);
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
    else headers.push([name, value]);
  }
  return {
    stdout, bytes, status, headers, body: split < 0 ? bytes : bytes.subarray(split + 4),
    appStatus: end.content.readUInt32BE(0), protocolStatus: end.content[4]!,
  };
}

/** A connection to a FastCGI server that collects what comes back. */
export class FastCgiClient {
  readonly socket: Socket;
  readonly records: ReadRecord[] = [];
  #rest: Buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  readonly closed: Promise<void>;
  #isClosed = false;

  constructor(where: string | number, host = '127.0.0.1') {
    this.socket = typeof where === 'string' ? connect({ path: where }) : connect({ port: where, host });
    this.socket.on('data', (d: Buffer) => {
      const { records, rest } = parse(Buffer.concat([this.#rest, d]));
      this.#rest = rest;
      this.records.push(...records);
      this.#wake();
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', () => { this.#isClosed = true; this.#wake(); resolve(); }));
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  /** Writes `bytes` all at once, or `cut` bytes at a time with a pause between. */
  async send(bytes: Buffer, cut?: number): Promise<void> {
    await this.ready();
    if (!cut) {
      await new Promise<void>((resolve) => this.socket.write(bytes, () => resolve()));
      return;
    }
    for (let at = 0; at < bytes.length; at += cut) {
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(at, at + cut), () => resolve()));
      if (cut < 16) await new Promise((r) => setImmediate(r));
    }
  }

  /** Waits until `test` holds for what has come (or the connection closes, or `ms` pass). */
  async until(test: () => boolean, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (this.#isClosed || Date.now() > deadline) return test();
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, Math.max(1, Math.min(100, deadline - Date.now())));
      });
    }
    return true;
  }

  /** The answer to request `id`, once its FCGI_END_REQUEST has come. */
  async answer(id: number, ms = 5000): Promise<Answer> {
    const end = () => this.records.find((r) => r.type === T.END_REQUEST && r.id === id);
    if (!(await this.until(() => end() !== undefined, ms))) {
      throw new Error(`no FCGI_END_REQUEST for request ${id}${this.#isClosed ? ' (the connection closed)' : ''}; records: ${this.records.map((r) => `${r.type}/${r.id}`).join(' ')}`);
    }
    return answerOf(this.records.filter((r) => r.id === id), end()!);
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** The CGI params of a simple request. */
export function cgiParams(method: string, path: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = path.indexOf('?');
  return {
    GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: method, SCRIPT_NAME: '', PATH_INFO: q < 0 ? path : path.slice(0, q),
    QUERY_STRING: q < 0 ? '' : path.slice(q + 1), REQUEST_URI: path, SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '127.0.0.1',
    SERVER_NAME: 'localhost', SERVER_PORT: '80', ...extra,
  };
}
