import { randomBytes } from 'node:crypto';
import { createWriteStream, unlink as unlinkCb, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpError } from '../errors.js';
import { DEFAULT_UPLOAD_DIR, type FormLimits } from './limits.js';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { asyncFs } from '../../util/fs.js';
import { ensurePrivateDirectory } from '../../util/privateDirectory.js';
import { UploadedFile } from './UploadedFile.js';
import type { RawField } from './urlencoded.js';

/** Upload directories checked by this process. */
const checkedDirs = new Set<string>();

/**
 * The upload directory, made 0700 when missing and refused when another user
 * controls it (they could read or swap the files while the request lasts).
 */
async function ensureUploadDir(dir: string): Promise<void> {
  if (checkedDirs.has(dir)) return;
  try {
    await ensurePrivateDirectory(asyncFs, dir, { what: 'upload directory', source: dir === DEFAULT_UPLOAD_DIR ? 'the default PSOUploadDir' : 'PSOUploadDir', parents: dir !== DEFAULT_UPLOAD_DIR });
  } catch (e) {
    if (e instanceof ConfigurationError) throw e;
    throw new HttpError(500, `could not create the upload directory ${dir}: ${(e as Error).message}`, false);
  }
  checkedDirs.add(dir);
}

/** RFC 7578 §4.2: every part names its field. busboy passes a part without a name on with none. */
const NO_NAME = (): HttpError => new HttpError(400, 'malformed multipart/form-data body: a part has no field name (Content-Disposition: form-data; name="...")');

/** Runs `fn`; what it throws goes to `fail`. */
function guarded(fail: (e: Error) => void, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    fail(e instanceof Error ? e : new Error(String(e)));
  }
}

const unlink = (path: string) => new Promise<void>((resolve, reject) => unlinkCb(path, (e) => (e ? reject(e) : resolve())));

/** What a multipart body held: its text fields (still bytes) and its files (on disk). */
export interface ParsedMultipart {
  fields: RawField[];
  files: UploadedFile[];
}

/**
 * Bytes busboy gave as a latin1 string (one character per byte, as asked
 * with `defCharset`), back to bytes; a part that named its own charset was
 * decoded by busboy already and is taken as it is.
 */
function rawBytes(text: string): Uint8Array {
  // eslint-disable-next-line no-control-regex
  return /[^\u0000-\u00ff]/.test(text) ? Buffer.from(text, 'utf8') : Buffer.from(text, 'latin1');
}

/** A parameter (name, filename) as browsers send it: UTF-8 bytes, or latin1 when they are not valid UTF-8. */
function paramText(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[^\u0000-\u00ff]/.test(text)) return text;
  const bytes = Buffer.from(text, 'latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return text;
  }
}

/**
 * Streams a `multipart/form-data` body through busboy: text fields are
 * collected, files are written to temporary files (mode 0600) in
 * `limits.uploadDir` as they arrive, so memory stays flat whatever their
 * size. On any failure (a limit, a malformed or truncated body, a client
 * that goes away) every temporary file is removed before the error is thrown.
 *
 * @throws HttpError 413 naming the limit's directive; 400 for a malformed body; 415 for a part in a charset that cannot be decoded.
 */
export async function parseMultipart(body: AsyncIterable<Uint8Array>, contentType: string, limits: FormLimits): Promise<ParsedMultipart> {
  await ensureUploadDir(limits.uploadDir);
  // Loaded on the first multipart request only: a CGI process that never sees one never pays for it.
  const { default: busboy } = await import('busboy');
  let parser: ReturnType<typeof busboy>;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      defCharset: 'latin1',
      defParamCharset: 'latin1',
      limits: {
        fieldSize: limits.maxFieldSize,
        fields: limits.maxFields,
        fileSize: limits.maxFileSize,
        files: limits.maxFiles,
        parts: limits.maxFields + limits.maxFiles,
      },
    });
  } catch (e) {
    throw new HttpError(400, `invalid multipart/form-data request: ${(e as Error).message}`);
  }

  const fields: RawField[] = [];
  // Files in the order they came, whichever finishes writing first.
  const files: (UploadedFile | undefined)[] = [];
  const paths: string[] = [];
  const streams: (Readable | WriteStream)[] = [];
  const outs: WriteStream[] = [];
  const writes: Promise<void>[] = [];
  let failure: Error | undefined;
  let rejectFailed!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => {});
  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    rejectFailed(e);
  };

  // busboy calls these within parser.write(): what they throw must become a failure of this
  // body, not an error thrown through busboy (which would leave a part's stream unheard).
  parser.on('field', (name: string | undefined, value: string | undefined, info) => guarded(fail, () => {
    if (name === undefined) return fail(NO_NAME());
    if (info.nameTruncated || info.valueTruncated) {
      fail(new HttpError(413, `form field ${JSON.stringify(paramText(name))} is larger than the limit of ${limits.maxFieldSize} bytes (PSOMaxFieldSize)`));
      return;
    }
    // busboy decodes a part that names its charset, and gives nothing for a charset it cannot decode.
    if (value === undefined) return fail(new HttpError(415, `form field ${JSON.stringify(paramText(name))} names a charset in its Content-Type that cannot be decoded; send it as UTF-8`));
    fields.push({ name: Buffer.from(paramText(name), 'utf8'), value: rawBytes(value) });
  }));

  parser.on('file', (name: string | undefined, stream, info) => guarded(fail, () => {
    // Destroying the parser fails a part still coming with "Unexpected end of file":
    // unheard, that error would end the process. pipeline() below hears it too.
    stream.on('error', () => {});
    if (name === undefined) fail(NO_NAME());
    if (failure || name === undefined) {
      stream.resume();
      return;
    }
    const fieldName = paramText(name);
    const filename = paramText(info.filename ?? '');
    const path = join(limits.uploadDir, `pso-upload-${randomBytes(12).toString('hex')}`);
    paths.push(path);
    const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    streams.push(stream, out);
    outs.push(out);
    const slot = files.push(undefined) - 1;
    let size = 0;
    stream.on('data', (chunk: Buffer) => (size += chunk.byteLength));
    stream.on('limit', () =>
      fail(new HttpError(413, `file ${JSON.stringify(filename)} in field ${JSON.stringify(fieldName)} is larger than the limit of ${limits.maxFileSize} bytes (PSOMaxFileSize)`)),
    );
    writes.push(
      pipeline(stream, out).then(
        () => {
          // An empty file input: the browser sends a part with no file name and no content.
          if (filename === '' && size === 0) return unlink(path).catch(() => {});
          files[slot] = new UploadedFile({ fieldName, filename, type: info.mimeType || 'application/octet-stream', size, path });
        },
        (e: Error) => fail(failure ?? new HttpError(500, `could not write the upload to ${limits.uploadDir}: ${e.message}`, false)),
      ),
    );
  }));

  parser.on('fieldsLimit', () => fail(new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`)));
  parser.on('filesLimit', () => fail(new HttpError(413, `more than ${limits.maxFiles} files (PSOMaxFiles)`)));
  parser.on('partsLimit', () => fail(new HttpError(413, `more than ${limits.maxFields + limits.maxFiles} parts (PSOMaxFields + PSOMaxFiles)`)));
  parser.on('error', (e: Error) => fail(new HttpError(400, `malformed multipart/form-data body: ${e.message}`)));
  const closed = new Promise<void>((resolve) => parser.on('close', resolve));

  try {
    let got = 0;
    for await (const chunk of body) {
      got += chunk.byteLength;
      if (got > limits.maxUploadSize) {
        throw new HttpError(413, `request body larger than the limit of ${limits.maxUploadSize} bytes (PSOMaxUploadSize)`);
      }
      if (failure) throw failure;
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once('drain', r)), failed]);
    }
    if (failure) throw failure;
    parser.end();
    await Promise.race([closed, failed]);
    await Promise.race([Promise.all(writes), failed]);
    if (failure) throw failure;
    return { fields, files: files.filter((f): f is UploadedFile => f !== undefined) };
  } catch (e) {
    fail(e as Error);
    parser.destroy();
    for (const s of streams) s.destroy();
    await Promise.allSettled(writes);
    // pipeline() gives up as soon as a part's stream fails, while its file may still be opening:
    // removed before it is made, it would be left behind.
    await Promise.all(outs.map((out) => (out.closed ? undefined : new Promise<void>((resolve) => out.once('close', () => resolve())))));
    await Promise.all(paths.map((p) => unlink(p).catch(() => {})));
    throw e;
  }
}
