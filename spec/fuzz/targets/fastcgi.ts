// Fuzz targets of src/hosts/fastcgi: name-value pairs, the record reader, and
// a whole connection fed random records split at random points (bad
// versions, types, lengths, ids, management records, aborts, a cut end).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Duplex } from 'node:stream';
import { FastCgiConnection } from '../../../src/hosts/fastcgi/FastCgiConnection.js';
import type { FastCgiExchange } from '../../../src/hosts/fastcgi/FastCgiExchange.js';
import { FastCgiProtocolError } from '../../../src/hosts/fastcgi/FastCgiProtocolError.js';
import { decodeNameValuePairs, encodeNameValuePairs } from '../../../src/hosts/fastcgi/nameValuePairs.js';
import { encodeRecord, encodeStream } from '../../../src/hosts/fastcgi/records.js';
import { RecordReader } from '../../../src/hosts/fastcgi/RecordReader.js';
import { begin, pairs, parse, rec, T } from '../../support/fastcgiClient.js';
import { fuzzAsyncProperty, fuzzProperty, onlyThrows, type FuzzTarget } from '../../support/fuzz/FuzzTarget.js';
import { MemoryLogger } from '../../support/memoryLogger.js';

/** Bytes cut into chunks at random places. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.byteLength]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

/** A name as web servers send them: ASCII (names are read as Latin-1). */
const name = fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 20 });
/** A value of any length, the four-byte lengths (over 127) included. */
const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 100, max: 20_000 }).map((n) => 'v'.repeat(n)));

const pairsRoundTrip: FuzzTarget = {
  name: 'FastCGI name-value pairs: encoded then decoded give the same pairs (one- and four-byte lengths)',
  runs: 1000,
  property: () =>
    fuzzProperty(fc.array(fc.tuple(name, value), { maxLength: 8 }), (list) => {
      const got: [string, string][] = [];
      decodeNameValuePairs(encodeNameValuePairs(list), (n, v) => got.push([n, v]));
      return JSON.stringify(got) === JSON.stringify(list);
    }),
};

const pairsNoise: FuzzTarget = {
  name: 'FastCGI name-value pairs: any bytes decode to pairs or throw FastCgiProtocolError',
  runs: 3000,
  property: () =>
    fuzzProperty(
      fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.tuple(fc.array(fc.tuple(name, value), { maxLength: 3 }), fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([l, cut, tail]) => {
        const b = encodeNameValuePairs(l);
        return Buffer.concat([b.subarray(0, cut % (b.length + 1)), tail]);
      })),
      (bytes) => {
        const got = onlyThrows(() => decodeNameValuePairs(bytes, () => {}), FastCgiProtocolError);
        return 'value' in got || got.error.message.length > 0;
      },
    ),
};

interface Rec {
  version: number;
  type: number;
  id: number;
  content: Buffer;
  padding: number;
}
const recordArb = fc.record({
  version: fc.constant(1),
  type: fc.integer({ min: 0, max: 255 }),
  id: fc.integer({ min: 0, max: 0xffff }),
  content: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 65_000, max: 65_535 }).map((n) => new Uint8Array(n))).map((c) => Buffer.from(c)),
  padding: fc.integer({ min: 0, max: 255 }),
});

const readerRoundTrip: FuzzTarget = {
  name: 'FastCGI records: any records, cut anywhere, are handed on whole and in order; a bad version stops the reader there',
  runs: 800,
  property: () =>
    fuzzProperty(fc.array(recordArb, { maxLength: 8 }), fc.array(fc.nat(200_000), { maxLength: 10 }), fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1)), { nil: undefined }), (records, cuts, badVersion) => {
      const list: Rec[] = records.map((r) => ({ ...r }));
      let stopAt = list.length;
      if (badVersion && list.length > 0) {
        stopAt = badVersion[0] % list.length;
        list[stopAt]!.version = badVersion[1];
      }
      const bytes = Buffer.concat(list.map((r) => rec(r.type, r.id, r.content, r.padding, r.version)));
      const got: [number, number, string][] = [];
      const reader = new RecordReader((type, id, content) => got.push([type, id, createHash('sha1').update(content).digest('hex')]));
      let error: Error | undefined;
      for (const chunk of chunked(bytes, cuts)) {
        const r = onlyThrows(() => reader.push(chunk), FastCgiProtocolError);
        if ('error' in r) {
          error = r.error;
          break;
        }
        // At most one record is held while it is incomplete.
        if (reader.pendingBytes > 8 + 65_535 + 255) return false;
      }
      const expected = list.slice(0, stopAt).map((r) => [r.type, r.id, createHash('sha1').update(r.content).digest('hex')]);
      if (JSON.stringify(got) !== JSON.stringify(expected)) return false;
      return stopAt === list.length ? error === undefined && reader.pendingBytes === 0 : error !== undefined;
    }),
};

const encodeRoundTrip: FuzzTarget = {
  name: 'FastCGI records: what encodeRecord and encodeStream write reads back as the same data, padded to 8 bytes',
  runs: 1000,
  property: () =>
    fuzzProperty(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 65_000, max: 200_000 }).map((n) => new Uint8Array(n).fill(7))), (type, id, data) => {
      const bytes = Buffer.concat([...encodeStream(type, id, data), ...encodeRecord(type, id)]);
      const { records, rest } = parse(bytes);
      if (rest.length !== 0 || records.some((r) => (8 + r.content.length + r.padding) % 8 !== 0 || r.type !== type || r.id !== id || r.version !== 1)) return false;
      return Buffer.concat(records.map((r) => r.content)).equals(Buffer.from(data)) && records.at(-1)!.content.length === 0;
    }),
};

// ---- a whole connection -------------------------------------------------------------------

/** A socket in memory: what is pushed in is read by the connection, what it writes is kept. */
class Wire extends Duplex {
  readonly written: Buffer[] = [];
  constructor() {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(chunk);
    callback();
  }
}

/** Answers each request with its params and the length and hash of its body. */
async function echo(exchange: FastCgiExchange): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of exchange.body()) {
      size += chunk.byteLength;
      hash.update(chunk);
    }
  } catch {
    await exchange.end();
    return;
  }
  await exchange.end(Buffer.from(`Status: 200 OK\r\n\r\n${describe(exchange.params)} ${size} ${hash.digest('hex')}`));
}

function describe(params: ReadonlyMap<string, string>): string {
  return createHash('sha256').update(JSON.stringify([...params])).digest('hex').slice(0, 16);
}

/** One request as a web server sends it, its records kept apart so that requests can be interleaved. */
interface Req {
  id: number;
  params: [string, string][];
  body: Buffer;
  paramPieces: number;
  bodyPieces: number;
}
const reqArb = (id: number): fc.Arbitrary<Req> =>
  fc.record({
    id: fc.constant(id),
    // Within maxParamsBytes (64 KiB), four-byte lengths included.
    params: fc.array(fc.tuple(name.filter((n) => n.length > 0), fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 100, max: 15_000 }).map((n) => 'v'.repeat(n)))), { maxLength: 3 }),
    body: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 60_000, max: 150_000 }).map((n) => new Uint8Array(n).fill(n % 251))).map((b) => Buffer.from(b)),
    paramPieces: fc.integer({ min: 1, max: 3 }),
    bodyPieces: fc.integer({ min: 1, max: 4 }),
  });

function recordsOf(r: Req): Buffer[] {
  const out = [begin(r.id, true)];
  const encoded = pairs(r.params);
  const step = Math.min(65_535, Math.ceil(encoded.length / r.paramPieces) || 1);
  for (let at = 0; at < encoded.length; at += step) out.push(rec(T.PARAMS, r.id, encoded.subarray(at, at + step)));
  out.push(rec(T.PARAMS, r.id));
  const bodyStep = Math.min(65_535, Math.ceil(r.body.length / r.bodyPieces) || 1);
  for (let at = 0; at < r.body.length; at += bodyStep) out.push(rec(T.STDIN, r.id, r.body.subarray(at, at + bodyStep)));
  out.push(rec(T.STDIN, r.id));
  return out;
}

/** Records of several requests interleaved by `order` (a list of request indexes). */
function interleave(requests: Req[], order: number[]): Buffer[] {
  const queues = requests.map(recordsOf);
  const out: Buffer[] = [];
  for (const pick of order) {
    const q = queues[pick % queues.length]!;
    if (q.length > 0) out.push(q.shift()!);
  }
  for (const q of queues) out.push(...q);
  return out;
}

interface Outcome {
  answers: Map<number, { body: string; protocolStatus: number }>;
  closed: boolean;
  records: ReturnType<typeof parse>['records'];
  rest: Buffer;
  logger: MemoryLogger;
}

/** Feeds `bytes` to a connection in `chunks`, then ends the input; resolves once the connection has closed. */
async function converse(chunks: Buffer[], end: boolean): Promise<Outcome> {
  const wire = new Wire();
  const logger = new MemoryLogger();
  const connection = new FastCgiConnection(wire, { logger, lingerMs: 10, bodyHighWaterMark: 4096, onRequest: (exchange) => void echo(exchange) });
  for (const chunk of chunks) {
    if (wire.destroyed) break;
    wire.push(chunk);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (end && !wire.destroyed) wire.push(null);
  if (!end) {
    // The web server stays, silent: the connection is closed from this side.
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    void connection.close();
    setTimeout(() => connection.destroy(), 50).unref();
  }
  await connection.closed;
  const { records, rest } = parse(Buffer.concat(wire.written));
  const answers = new Map<number, { body: string; protocolStatus: number }>();
  const stdout = new Map<number, Buffer[]>();
  for (const r of records) {
    if (r.type === T.STDOUT) (stdout.get(r.id) ?? stdout.set(r.id, []).get(r.id)!).push(r.content);
    if (r.type === T.END_REQUEST) answers.set(r.id, { body: Buffer.concat(stdout.get(r.id) ?? []).toString('latin1').replace(/^Status: 200 OK\r\n\r\n/, ''), protocolStatus: r.content[4]! });
  }
  return { answers, closed: true, records, rest, logger };
}

const expectedAnswer = (r: Req) => `${describe(new Map(r.params))} ${r.body.length} ${createHash('sha256').update(r.body).digest('hex')}`;

const connectionValid: FuzzTarget = {
  name: 'FastCGI connection: interleaved requests, cut at any points, each get their own answer',
  runs: 400,
  property: () =>
    fuzzAsyncProperty(
      fc.uniqueArray(fc.integer({ min: 1, max: 0xffff }), { minLength: 1, maxLength: 4 }).chain((ids) => fc.tuple(...ids.map(reqArb))),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.array(fc.nat(400_000), { maxLength: 12 }),
      async (requests, order, cuts) => {
        const out = await converse(chunked(Buffer.concat(interleave(requests, order)), cuts), true);
        if (out.rest.length > 0) throw new Error(`a record cut short in the output`);
        for (const r of requests) {
          const a = out.answers.get(r.id);
          if (!a || a.protocolStatus !== 0 || a.body !== expectedAnswer(r)) throw new Error(`request ${r.id}: ${JSON.stringify(a)}\n${out.logger.text()}`);
        }
        return out.logger.lines.length === 0;
      },
    ),
};

/** Records a web server should not send, and some it may. */
const noise: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5 })).map(([version, type, id]) => rec(type, id, Buffer.alloc(3), 0, version)),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 20 })).map(([type, id, content]) => rec(type, id, content)),
  fc.integer({ min: 0, max: 5 }).map((id) => rec(T.ABORT_REQUEST, id)),
  fc.array(fc.constantFrom('FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'OTHER', ''), { maxLength: 4 }).map((names) => rec(T.GET_VALUES, 0, pairs(names.map((n): [string, string] => [n, ''])))),
  fc.tuple(fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 12 })).map(([id, body]) => rec(T.BEGIN_REQUEST, id, body)),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([id, role, keep]) => begin(id, keep, role)),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 12 })).map(([id, content]) => rec(T.PARAMS, id, content)),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Buffer.from(b)),
);

const connectionHostile: FuzzTarget = {
  name: 'FastCGI connection: any records in any cut end with every begun request answered or the connection closed, in time, in whole records',
  runs: 600,
  property: () =>
    fuzzAsyncProperty(
      fc.array(fc.oneof(reqArb(1).map((r) => Buffer.concat(recordsOf(r))), reqArb(2).map((r) => Buffer.concat(recordsOf(r).slice(0, -1))), noise), { maxLength: 10 }),
      fc.array(fc.nat(200_000), { maxLength: 10 }),
      fc.boolean(),
      async (pieces, cuts, end) => {
        const out = await converse(chunked(Buffer.concat(pieces), cuts), end);
        if (out.rest.length > 0) throw new Error('a record cut short in the output');
        if (out.records.some((r) => r.version !== 1 || (8 + r.content.length + r.padding) % 8 !== 0)) throw new Error('a malformed record in the output');
        // A fault of pso's own is logged with its stack ("reading records failed").
        if (out.logger.has('error', /reading records failed|request \d+: .*Error/)) throw new Error(out.logger.text());
        return true;
      },
    ),
};

export const targets: FuzzTarget[] = [pairsRoundTrip, pairsNoise, readerRoundTrip, encodeRoundTrip, connectionValid, connectionHostile];
