// Fuzz targets of src/service/forms: urlencoded and multipart bodies, with
// random boundaries, part headers, charsets, limits, cuts and chunkings.
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainer } from '../../../src/container/createContainer.js';
import { HttpError } from '../../../src/service/errors.js';
import type { FormLimits } from '../../../src/service/forms/limits.js';
import { parseMultipart } from '../../../src/service/forms/multipart.js';
import { kDiscard } from '../../../src/service/forms/UploadedFile.js';
import { charsetOf, decodeFields, splitUrlencoded } from '../../../src/service/forms/urlencoded.js';
import { ServiceCore } from '../../../src/service/ServiceCore.js';
import { FakeRequest, type FakeRequestInit } from '../../support/fakeRequest.js';
import { fuzzAsyncProperty, fuzzProperty, onlyRejects, onlyThrows, type FuzzTarget } from '../../support/fuzz/FuzzTarget.js';
import { anyText, textOf } from '../../support/fuzz/arbitraries.js';

const core = new ServiceCore(createContainer());
const work = mkdtempSync(join(tmpdir(), 'pso-fuzz-forms-'));
const uploads = join(work, 'uploads');
process.once('exit', () => rmSync(work, { recursive: true, force: true }));

const BIG: FormLimits = { maxBodySize: 1 << 20, maxUploadSize: 1 << 24, maxFileSize: 1 << 22, maxFiles: 50, maxFields: 200, maxFieldSize: 1 << 20, uploadDir: uploads };

/** Text without lone surrogates (what a browser can encode). */
const wellFormed = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });

/** Bytes cut into chunks at random places. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.byteLength]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

/** A request whose body comes as given chunks of bytes. */
class BytesRequest extends FakeRequest {
  readonly #chunks: Uint8Array[];
  constructor(init: FakeRequestInit, chunks: Uint8Array[]) {
    super(init);
    this.#chunks = chunks;
  }
  protected override async *bodyChunks(): AsyncIterable<Uint8Array> {
    for (const c of this.#chunks) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      yield c;
    }
  }
}

// ---- urlencoded ---------------------------------------------------------------------------

const urlencodedRoundTrip: FuzzTarget = {
  name: 'urlencoded: fields encoded by URLSearchParams read back as they were, in order',
  runs: 3000,
  property: () =>
    fuzzProperty(fc.array(fc.tuple(wellFormed(12), wellFormed(30)), { maxLength: 20 }), (fields) => {
      const text = new URLSearchParams(fields).toString();
      const got = decodeFields(splitUrlencoded(Buffer.from(text, 'latin1'), BIG), 'utf-8', 'request body');
      // Empty pairs ("&&") are not fields; a pair with an empty name and value encodes as "=".
      return JSON.stringify(got) === JSON.stringify(fields);
    }),
};

// ASCII text only: node's URLSearchParams reads a "%" before a raw non-ASCII byte otherwise than WHATWG says (pso follows WHATWG).
const urlencodedAgainstWhatwg: FuzzTarget = {
  name: 'urlencoded: any ASCII body reads as URLSearchParams reads it, or a 400 where its escapes are not UTF-8',
  runs: 3000,
  property: () =>
    fuzzProperty(fc.array(fc.oneof(fc.constantFrom('a', '=', '&', '+', '%', '%2', '%20', '%C3%A9', '%E9', '%zz', '%00', '%FF', ';', '\u0000'), fc.string({ unit: 'binary-ascii', maxLength: 4 })), { maxLength: 16 }).map((p) => p.join('')), (text) => {
      const bytes = Buffer.from(text, 'utf8');
      const got = onlyThrows(() => decodeFields(splitUrlencoded(bytes, BIG), 'utf-8', 'request body'), HttpError);
      const whatwg = [...new URLSearchParams(`&${bytes.toString('utf8')}`)].filter(([k, v]) => k !== '' || v !== '');
      if ('error' in got) return (got.error as HttpError).status === 400 && whatwg.some(([k, v]) => `${k}${v}`.includes('\ufffd'));
      const ours = got.value.filter(([k, v]) => k !== '' || v !== '');
      return JSON.stringify(ours) === JSON.stringify(whatwg);
    }),
};

const urlencodedLimits: FuzzTarget = {
  name: 'urlencoded: PSOMaxFields and PSOMaxFieldSize are enforced exactly, with a 413 that names them',
  runs: 2000,
  property: () =>
    fuzzProperty(fc.array(fc.tuple(textOf(['a', 'b']), textOf(['x', '%41', '+'])), { maxLength: 12 }), fc.nat(12), fc.nat(8), (fields, maxFields, maxFieldSize) => {
      const text = fields.map(([k, v]) => `${k}=${v}`).join('&');
      const got = onlyThrows(() => splitUrlencoded(Buffer.from(text), { maxFields, maxFieldSize }), HttpError);
      const present = fields.filter(([k, v]) => `${k}=${v}` !== '');
      const tooMany = present.length > maxFields;
      const tooBig = present.some(([, v]) => Buffer.from(v.replace(/%41/g, 'A')).byteLength > maxFieldSize);
      if ('value' in got) return !tooMany && !tooBig;
      const e = got.error as HttpError;
      return e.status === 413 && (tooMany || tooBig) && /PSOMaxFields|PSOMaxFieldSize/.test(e.message);
    }),
};

const CHARSETS = ['utf-8', 'UTF-8', 'iso-8859-1', 'latin1', 'windows-1252', 'shift_jis', 'utf-16le', 'x-unknown', '"utf-8"', 'utf-8; x=1', ''];

const urlencodedRequests: FuzzTarget = {
  name: 'urlencoded: any body, charset, length and chunking is answered 200, 400, 413 or 415, never 500',
  runs: 400,
  property: () =>
    fuzzAsyncProperty(
      fc.oneof(textOf(['a=1', '&', '=', '%E9', '%C3%A9', '_charset_=', 'shift_jis', 'x', '+', '%']), anyText(40)),
      fc.constantFrom(...CHARSETS),
      fc.constantFrom(undefined, 'exact', 'short', 'long', 'junk'),
      fc.array(fc.nat(100), { maxLength: 4 }),
      fc.constantFrom('1m', '16', '0'),
      async (text, charset, length, cuts, maxBody) => {
        const body = Buffer.from(text, 'latin1');
        const declared = length === undefined ? undefined : length === 'exact' ? String(body.byteLength) : length === 'short' ? String(Math.max(0, body.byteLength - 1)) : length === 'long' ? String(body.byteLength + 1) : '12abc';
        const req = new BytesRequest({
          method: 'POST',
          env: { PSOSessionStore: 'memory:', PSOMaxBodySize: maxBody },
          headers: { 'content-type': `application/x-www-form-urlencoded${charset ? `; charset=${charset}` : ''}`, ...(declared !== undefined ? { 'content-length': declared } : {}) },
        }, chunked(body, cuts));
        await core.handle(req, (r) => void r.write(JSON.stringify(r.getInputDict())));
        const status = req.head?.status ?? 0;
        if ([200, 400, 413, 415].includes(status)) return true;
        throw new Error(`answered ${status}: ${req.logLines.map((l) => l.message).join('\n')}`);
      },
    ),
};

const charsets: FuzzTarget = {
  name: 'urlencoded: the charset parameter of any Content-Type is a name or nothing',
  runs: 2000,
  property: () =>
    fuzzProperty(fc.oneof(textOf(['application/x-www-form-urlencoded', ';', ' ', 'charset', '=', '"', 'utf-8', 'CHARSET', ',']), anyText(60)), (contentType) => {
      const got = charsetOf(contentType);
      return got === undefined || (got.length > 0 && got === got.trim());
    }),
};

// ---- multipart -----------------------------------------------------------------------------

/** RFC 2046 §5.1.1 bchars, without the space that may not end a boundary. */
const boundary = fc.string({ unit: fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\'()+_,-./:=?'), minLength: 1, maxLength: 70 });

interface Part {
  name: string;
  filename: string | undefined;
  type: string | undefined;
  content: Uint8Array;
  extraHeaders: string[];
}

const partArb: fc.Arbitrary<Part> = fc.record({
  name: fc.oneof(fc.constantFrom('a', 'field', '__proto__', 'naïve', '名前', 'with space'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }).filter((s) => !/["\\\r\n]/.test(s))),
  filename: fc.option(fc.oneof(fc.constantFrom('', 'a.txt', 'résumé.pdf', '..\\..\\x', '/etc/passwd', 'x;y.txt'), fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !/["\\\r\n]/.test(s))), { nil: undefined }),
  type: fc.option(fc.constantFrom('text/plain', 'application/octet-stream', 'text/plain; charset=utf-8', 'image/png', 'application/octet-stream', 'text/plain; charset=iso-8859-1'), { nil: undefined }),
  content: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 100 }).map((s) => Buffer.from(s)), fc.constantFrom(Buffer.from('--'), Buffer.from('\r\n--'), Buffer.from('\r\n\r\n'))),
  extraHeaders: fc.array(fc.constantFrom('X-Extra: 1', 'Content-Transfer-Encoding: binary', 'content-id: <x@y>'), { maxLength: 2 }),
});

/** A multipart body as a browser writes it. */
function multipartBody(b: string, parts: Part[], preamble: string, epilogue: string): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble)];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    const headers = [`Content-Disposition: ${disposition}`, ...(p.type ? [`Content-Type: ${p.type}`] : []), ...p.extraHeaders];
    pieces.push(Buffer.from(`--${b}\r\n${headers.join('\r\n')}\r\n\r\n`, 'utf8'), Buffer.from(p.content), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${b}--\r\n${epilogue}`));
  return Buffer.concat(pieces);
}

/** What busboy takes for a file: a part with a file name, or of type application/octet-stream (an empty file input). */
const isFile = (p: Part) => (p.filename !== undefined && p.filename !== '') || p.type?.split(';')[0] === 'application/octet-stream';
/** The file name as pso gives it: without any directory (busboy's basename). */
const baseName = (name: string) => {
  const last = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  return last === '.' || last === '..' ? '' : last;
};

/** The content of a part with no content delimiter inside it: what a browser picks the boundary for. */
const clean = (b: string, parts: Part[]) => parts.every((p) => !Buffer.from(p.content).includes(`\r\n--${b}`) && !Buffer.from(`\r\n${p.content}`).includes(`\r\n--${b}`));

const uploadsLeft = () => readdirSync(uploads).filter((n) => n.startsWith('pso-upload-'));

const multipartRoundTrip: FuzzTarget = {
  name: 'multipart: any boundary, parts and chunking read back exactly: fields as bytes, files as files',
  runs: 400,
  property: () =>
    fuzzAsyncProperty(boundary, fc.array(partArb, { maxLength: 6 }), fc.array(fc.nat(4000), { maxLength: 6 }), fc.constantFrom('', 'preamble\r\n'), async (b, parts, cuts, preamble) => {
      fc.pre(clean(b, parts));
      const body = multipartBody(b, parts, preamble, '');
      const got = await onlyRejects(async () => parseMultipart(chunked(body, cuts)[Symbol.iterator]() as unknown as AsyncIterable<Uint8Array>, `multipart/form-data; boundary="${b}"`, BIG), HttpError);
      if ('error' in got) throw new Error(`refused: ${got.error.message}`);
      try {
        const fields = parts.filter((p) => !isFile(p));
        // A file input left empty comes as a file part without name or content, and is no upload.
        const files = parts.filter((p) => isFile(p) && !(baseName(p.filename ?? '') === '' && p.content.byteLength === 0));
        if (got.value.fields.length !== fields.length || got.value.files.length !== files.length) return false;
        for (const [i, f] of fields.entries()) {
          const field = got.value.fields[i]!;
          if (Buffer.from(field.name).toString('utf8') !== f.name) return false;
          // A part that names its charset is decoded by it; the rest stay bytes.
          if (!f.type?.includes('charset') && !Buffer.from(field.value).equals(Buffer.from(f.content))) return false;
        }
        for (const [i, f] of files.entries()) {
          const file = got.value.files[i]!;
          if (file.fieldName !== f.name || file.filename !== baseName(f.filename ?? '') || file.size !== f.content.byteLength) return false;
          if (!readFileSync(file.path).equals(Buffer.from(f.content))) return false;
        }
        return true;
      } finally {
        await Promise.all(got.value.files.map((f) => f[kDiscard]()));
        if (uploadsLeft().length > 0) throw new Error(`temporary files left: ${uploadsLeft().join(', ')}`);
      }
    }),
};

const multipartHostile: FuzzTarget = {
  name: 'multipart: cut, corrupted or over a limit, a body is refused with a 400, 413 or 415 and leaves no temporary file',
  runs: 400,
  property: () =>
    fuzzAsyncProperty(
      boundary,
      fc.array(partArb, { maxLength: 6 }),
      fc.array(fc.nat(4000), { maxLength: 6 }),
      fc.record({
        cutAt: fc.option(fc.nat(2000), { nil: undefined }),
        flips: fc.array(fc.tuple(fc.nat(2000), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        header: fc.constantFrom('boundary=B', 'boundary=', 'boundary="B', '', 'boundary=B; boundary=C', 'boundary=' + 'x'.repeat(80), 'charset=utf-8; boundary=B'),
        limits: fc.record({ maxFileSize: fc.nat(300), maxFiles: fc.nat(4), maxFields: fc.nat(4), maxFieldSize: fc.nat(200), maxUploadSize: fc.nat(3000) }),
      }),
      async (b, parts, cuts, hostile) => {
        const bytes = Buffer.from(multipartBody(b, parts, '', ''));
        for (const [at, value] of hostile.flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
        const body = hostile.cutAt === undefined ? bytes : bytes.subarray(0, hostile.cutAt % (bytes.length + 1));
        const contentType = `multipart/form-data; ${hostile.header.replace(/B/g, b)}`;
        const got = await onlyRejects(
          async () => parseMultipart((async function* () { for (const c of chunked(body, cuts)) yield c; })(), contentType, { ...BIG, ...hostile.limits }),
          HttpError,
        );
        if ('value' in got) await Promise.all(got.value.files.map((f) => f[kDiscard]()));
        else if (![400, 413, 415].includes((got.error as HttpError).status)) throw new Error(`refused with ${(got.error as HttpError).status}: ${got.error.message}`);
        const left = uploadsLeft();
        if (left.length > 0) throw new Error(`temporary files left after ${'error' in got ? got.error.message : 'success'}: ${left.join(', ')}`);
        return true;
      },
    ),
};

const multipartRequests: FuzzTarget = {
  name: 'multipart: a whole request with any body is answered 200, 400 or 413, and its uploads are gone when it ends',
  runs: 250,
  property: () =>
    fuzzAsyncProperty(boundary, fc.array(partArb, { maxLength: 4 }), fc.array(fc.nat(4000), { maxLength: 4 }), fc.option(fc.nat(2000), { nil: undefined }), fc.boolean(), async (b, parts, cuts, cutAt, keep) => {
      const whole = multipartBody(b, parts, '', '');
      const body = cutAt === undefined ? whole : whole.subarray(0, cutAt % (whole.length + 1));
      const req = new BytesRequest({
        method: 'POST',
        env: { PSOSessionStore: 'memory:', PSOUploadDir: uploads, PSOMaxFileSize: '150', PSOMaxFiles: '3' },
        headers: { 'content-type': `multipart/form-data; boundary=${b}`, 'content-length': String(body.byteLength) },
      }, chunked(body, cuts));
      const kept: string[] = [];
      await core.handle(req, async (r) => {
        if (keep) for (const f of r.getFiles()) kept.push(await f.keep());
        r.write(JSON.stringify(r.getFiles()));
      });
      for (const k of kept) rmSync(k, { force: true });
      const status = req.head?.status ?? 0;
      if (![200, 400, 413].includes(status)) throw new Error(`answered ${status}: ${req.logLines.map((l) => l.message).join('\n')}`);
      const left = uploadsLeft();
      if (left.length > 0) throw new Error(`temporary files left: ${left.join(', ')}`);
      return true;
    }),
};

export const targets: FuzzTarget[] = [
  urlencodedRoundTrip, urlencodedAgainstWhatwg, urlencodedLimits, urlencodedRequests, charsets,
  multipartRoundTrip, multipartHostile, multipartRequests,
];
