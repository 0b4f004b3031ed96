import * as fs from 'node:fs';
import { createReadStream, type ReadStream } from 'node:fs';

// node:fs callbacks rather than node:fs/promises: a CGI process that never
// sees an upload does not load fs/promises and what it pulls in.
function call<T = void>(fn: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}
const rename = (from: string, to: string) => call((cb) => fs.rename(from, to, cb));
const copyFile = (from: string, to: string) => call((cb) => fs.copyFile(from, to, cb));
const unlink = (path: string) => call((cb) => fs.unlink(path, cb));
const readFile = (path: string) => call<Buffer>((cb) => fs.readFile(path, cb));

/** @internal Removes the temporary file unless it was kept or saved. */
export const kDiscard = Symbol('pso.discardUpload');

/** What pso knows of an upload when it has been written to its temporary file. */
export interface UploadedFileInit {
  fieldName: string;
  filename: string;
  type: string;
  size: number;
  path: string;
}

/**
 * A file uploaded with a `multipart/form-data` form, written to a temporary
 * file (mode 0600, in `PSOUploadDir`) while the body streamed in. The
 * temporary file is removed when the request ends unless the handler called
 * {@link keep} or {@link save}: the original's `getFile(key).keep()` and
 * `.save(name)`.
 *
 * `filename` is what the browser said; never build a path from it without
 * cleaning it (pso never does).
 *
 * @example
 * ```ts
 * const photo = request.getFile('photo');
 * if (photo && photo.type.startsWith('image/')) await photo.save(`/srv/photos/${randomUUID()}.jpg`);
 * ```
 */
export class UploadedFile {
  /** The form field it came in. */
  readonly fieldName: string;
  /** The file name the browser gave (without any directory), possibly empty. */
  readonly filename: string;
  /** The media type the browser gave, such as `image/png` (default `application/octet-stream`). */
  readonly type: string;
  /** Its size in bytes. */
  readonly size: number;
  #path: string;
  #state: 'temporary' | 'kept' | 'saved' | 'removed' = 'temporary';

  constructor(init: UploadedFileInit) {
    this.fieldName = init.fieldName;
    this.filename = init.filename;
    this.type = init.type;
    this.size = init.size;
    this.#path = init.path;
  }

  /** Where the file is now: its temporary path, or where {@link save} moved it. */
  get path(): string {
    return this.#path;
  }

  /** Whether it outlives the request ({@link keep} or {@link save} was called). */
  get kept(): boolean {
    return this.#state === 'kept' || this.#state === 'saved';
  }

  /**
   * Keeps the temporary file after the request ends, so it can be processed
   * later; resolves with its path. The caller then owns the file.
   *
   * @example
   * ```ts
   * request.session.set('pendingImport', await request.getFile('csv')!.keep());
   * ```
   */
  async keep(): Promise<string> {
    this.#assertPresent('keep');
    if (this.#state === 'temporary') this.#state = 'kept';
    return this.#path;
  }

  /**
   * Moves the file to `newPath` (replacing a file there, as a rename does),
   * across file systems too; it then outlives the request.
   *
   * @example
   * ```ts
   * await request.getFile('report')!.save('/srv/reports/latest.pdf');
   * ```
   */
  async save(newPath: string): Promise<void> {
    this.#assertPresent('save');
    try {
      await rename(this.#path, newPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await copyFile(this.#path, newPath);
      await unlink(this.#path);
    }
    this.#path = newPath;
    this.#state = 'saved';
  }

  /**
   * The whole content.
   *
   * @example
   * ```ts
   * const text = (await request.getFile('notes')!.read()).toString('utf8');
   * ```
   */
  read(): Promise<Buffer> {
    this.#assertPresent('read');
    return readFile(this.#path);
  }

  /**
   * The content as a stream, for large files.
   *
   * @example
   * ```ts
   * await pipeline(request.getFile('video')!.stream(), createHash('sha256'));
   * ```
   */
  stream(): ReadStream {
    this.#assertPresent('stream');
    return createReadStream(this.#path);
  }

  /** @internal Called when the request ends. */
  async [kDiscard](): Promise<void> {
    if (this.#state !== 'temporary') return;
    this.#state = 'removed';
    await unlink(this.#path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** The JSON form: what a handler may echo back (never the temporary path). */
  toJSON(): { fieldName: string; filename: string; type: string; size: number } {
    return { fieldName: this.fieldName, filename: this.filename, type: this.type, size: this.size };
  }

  #assertPresent(what: string): void {
    if (this.#state === 'removed') throw new Error(`cannot ${what} the upload ${JSON.stringify(this.filename)}: the request has ended and its temporary file was removed`);
  }
}
