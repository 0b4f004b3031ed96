import type { DirectiveSource } from '../../config/directives.js';
import { readBytes, readFlag } from '../../config/directives.js';
import { HttpError } from '../errors.js';
import { FormInput } from './FormInput.js';
import { FORM_DEFAULTS, readFormLimits, type FormLimits } from './limits.js';
import { kDiscard, type UploadedFile } from './UploadedFile.js';
import { charsetOf, decodeFields, splitUrlencoded, type RawField } from './urlencoded.js';

/** What {@link FormReader} reads a request's input from: the host's primitives. */
export interface InputSource extends DirectiveSource {
  readonly method: string;
  readonly queryString: string;
  /** What the host calls the declared length, for messages (`Content-Length`, `CONTENT_LENGTH`). */
  readonly lengthName: string;
  header(name: string): string | undefined;
  /** The body as it arrives; asked for once. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Fields parsed by something in front of pso (Express's body parsers), when the body is gone. */
  parsed(): Iterable<[string, string]> | undefined;
}

/**
 * The input of one request: its body (read once, within limits) and its form
 * (the query string's fields, then an urlencoded or multipart body's, and the
 * files uploaded with it, removed when the request ends unless kept).
 *
 * @example
 * ```ts
 * const reader = new FormReader(source);
 * await reader.prepare();
 * reader.now().get('name');
 * ```
 */
export class FormReader {
  readonly #source: InputSource;
  #body: Promise<Uint8Array> | undefined;
  #bodyTaken = false;
  #form: Promise<FormInput> | undefined;
  /** A body that is not a form, read before the session opened, until the handler takes it. */
  #ahead: ReadAhead | undefined;
  #formInput: FormInput | undefined;
  #uploads: UploadedFile[] = [];

  constructor(source: InputSource) {
    this.#source = source;
  }

  /** The body as bytes, at most `limit` (default `PSOMaxBodySize`). */
  body(limit?: number): Promise<Uint8Array> {
    return (this.#body ??= this.#readWhole(limit ?? readBytes(this.#source, 'PSOMaxBodySize', FORM_DEFAULTS.maxBodySize)));
  }

  form(): Promise<FormInput> {
    return (this.#form ??= this.#readForm().then((f) => (this.#formInput = f)));
  }

  /**
   * Reads the body before the session is opened: a form (its accessors are
   * sync), unless `PSOFormParse off`; any other body up to `PSOMaxBodySize`,
   * kept for `body()`. A client that sends slowly then holds nothing while
   * it sends: the session is not locked until its body is in.
   *
   * @throws HttpError 400 for a body the client did not finish; a form's errors as `form()`.
   */
  prepare(): Promise<void> | undefined {
    if (this.#formBodyType() === undefined) {
      // Nothing to read ahead (most requests): answered without a promise.
      const { method } = this.#source;
      if (method === 'GET' || method === 'HEAD' || this.#bodyTaken || this.#ahead) return undefined;
      return this.#readAhead();
    }
    if (readFlag(this.#source, 'PSOFormParse', true)) return this.form().then(() => undefined);
    return undefined;
  }

  /** The form, for the sync accessors: parsed already, or only the query string to read. */
  now(): FormInput {
    if (this.#formInput) return this.#formInput;
    if (this.#formBodyType() !== undefined) {
      throw new Error('the form body has not been read: call `await request.form()` first (PSOFormParse is off)');
    }
    this.#formInput = new FormInput(decodeFields(this.#queryFields(readFormLimits(this.#source)), 'utf-8', 'query string'));
    this.#form = Promise.resolve(this.#formInput);
    return this.#formInput;
  }

  /** Removes the uploads the handler did not keep, and lets go of a body read ahead; the failures, for the log. */
  cleanup(): Error[] | Promise<Error[]> {
    // Nothing read ahead in part and no upload (most requests): answered without a promise.
    if (this.#uploads.length === 0 && !(this.#ahead?.rest && !this.#bodyTaken)) {
      this.#ahead = undefined;
      return [];
    }
    return this.#cleanup();
  }

  async #cleanup(): Promise<Error[]> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    // What the handler left of a body read ahead in part: the host drops it (and the connection after the answer).
    if (ahead?.rest && !this.#bodyTaken) await ahead.rest.return?.(undefined);
    const uploads = this.#uploads;
    if (uploads.length === 0) return [];
    this.#uploads = [];
    const results = await Promise.allSettled(uploads.map((u) => u[kDiscard]()));
    return results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  }

  /** The body, handed out once (what was read ahead first). */
  #takeBody(): AsyncIterable<Uint8Array> {
    if (this.#bodyTaken) throw new Error('the request body has already been read (as a form or by body())');
    this.#bodyTaken = true;
    const ahead = this.#ahead;
    this.#ahead = undefined;
    return ahead ? replay(ahead) : this.#source.chunks();
  }

  /**
   * Reads a body that is not a form, up to `PSOMaxBodySize`, before the
   * session opens. A body declared larger is left for the handler, which
   * may read it with a larger limit. The host's own failures (a body that
   * middleware in front read already) count only if the handler asks for
   * the body; a client's (a body cut short) fail the request now.
   */
  /** Called by {@link prepare} for a request that may have a body and has not read it. */
  async #readAhead(): Promise<void> {
    let declared: number | undefined;
    let limit: number;
    try {
      declared = this.#declaredLength();
      limit = readBytes(this.#source, 'PSOMaxBodySize', FORM_DEFAULTS.maxBodySize);
    } catch {
      // Told when the handler asks for the body, as before.
      return;
    }
    const chunked = declared === undefined && this.#source.header('transfer-encoding') !== undefined;
    if (!(declared !== undefined && declared > 0 && declared <= limit) && !chunked) return;
    const iterator = this.#source.chunks()[Symbol.asyncIterator]();
    const ahead: ReadAhead = { chunks: [], rest: undefined, error: undefined };
    this.#ahead = ahead;
    let got = 0;
    try {
      while (got <= limit) {
        const next = await iterator.next();
        if (next.done) return;
        ahead.chunks.push(next.value);
        got += next.value.byteLength;
      }
      ahead.rest = iterator;
    } catch (e) {
      if (e instanceof HttpError && e.status < 500) throw e;
      ahead.error = e;
    }
  }

  #declaredLength(): number | undefined {
    const raw = this.#source.header('content-length')?.trim();
    if (!raw) return undefined;
    if (!/^\d+$/.test(raw)) throw new HttpError(400, `invalid ${this.#source.lengthName} ${JSON.stringify(raw)}`);
    return Number(raw);
  }

  async #readWhole(limit: number, directive = 'PSOMaxBodySize'): Promise<Uint8Array> {
    const declared = this.#declaredLength();
    if (declared !== undefined && declared > limit) {
      throw new HttpError(413, `request body of ${declared} bytes is larger than the limit of ${limit} bytes (${directive})`);
    }
    const chunks: Uint8Array[] = [];
    let got = 0;
    for await (const chunk of this.#takeBody()) {
      got += chunk.byteLength;
      if (got > limit) throw new HttpError(413, `request body larger than the limit of ${limit} bytes (${directive})`);
      chunks.push(chunk);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** The form type of the body, when there is a body to read as a form. */
  #formBodyType(): 'urlencoded' | 'multipart' | undefined {
    const { method } = this.#source;
    if (method === 'GET' || method === 'HEAD') return undefined;
    const type = (this.#source.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/x-www-form-urlencoded') return 'urlencoded';
    if (type === 'multipart/form-data') return 'multipart';
    return undefined;
  }

  #queryFields(limits: Pick<FormLimits, 'maxFields' | 'maxFieldSize'>): RawField[] {
    return splitUrlencoded(Buffer.from(this.#source.queryString, 'latin1'), limits);
  }

  async #readForm(): Promise<FormInput> {
    const limits = readFormLimits(this.#source);
    const query = this.#queryFields(limits);
    const fields = decodeFields(query, 'utf-8', 'query string');
    const kind = this.#formBodyType();
    const contentType = this.#source.header('content-type') ?? '';
    const parsed = kind === undefined ? undefined : this.#source.parsed();
    if (parsed) {
      for (const field of parsed) {
        if (fields.length >= limits.maxFields) throw new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`);
        fields.push(field);
      }
      return new FormInput(fields);
    }
    if (kind === 'urlencoded') {
      const raw = splitUrlencoded(await this.body(limits.maxBodySize), limits, query.length);
      fields.push(...decodeFields(raw, charsetOf(contentType), 'request body'));
      return new FormInput(fields);
    }
    if (kind === 'multipart') {
      const declared = this.#declaredLength();
      if (declared !== undefined && declared > limits.maxUploadSize) {
        throw new HttpError(413, `request body of ${declared} bytes is larger than the limit of ${limits.maxUploadSize} bytes (PSOMaxUploadSize)`);
      }
      // Loaded with the first multipart request: other requests never pay for it.
      const { parseMultipart } = await import('./multipart.js');
      const multipart = await parseMultipart(this.#takeBody(), contentType, limits);
      this.#uploads.push(...multipart.files);
      if (query.length + multipart.fields.length > limits.maxFields) {
        throw new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`);
      }
      fields.push(...decodeFields(multipart.fields, undefined, 'request body'));
      return new FormInput(fields, multipart.files);
    }
    return new FormInput(fields);
  }
}

/** A body read ahead: its first chunks, and then the rest still to come, or the failure that ended it. */
interface ReadAhead {
  chunks: Uint8Array[];
  rest: AsyncIterator<Uint8Array> | undefined;
  error: unknown;
}

/** The chunks read ahead, then the rest of the body as it comes. */
async function* replay(ahead: ReadAhead): AsyncIterable<Uint8Array> {
  yield* ahead.chunks;
  if (ahead.error !== undefined) throw ahead.error;
  const rest = ahead.rest;
  if (!rest) return;
  let done = false;
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done) break;
      yield next.value;
    }
    done = true;
  } finally {
    // Stopped early (a limit reached): the host drops the rest, as it does for a body read directly.
    if (!done) await rest.return?.(undefined);
  }
}
