import { writeSync } from 'node:fs';

/** Where a CGI or script response goes. */
export interface CgiOutput {
  /** Sends bytes; resolves when they may be followed by more. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Resolves once everything written has been handed over. */
  end(): Promise<void>;
}

/**
 * Writes straight to a file descriptor (standard output) with `writeSync`.
 * A CGI process that never touches `process.stdout` does not load node's
 * stream modules, which is a good part of the cost of a small response.
 */
export class FdOutput implements CgiOutput {
  #closed = false;
  #tail: Promise<void> = Promise.resolve();

  constructor(readonly fd = 1) {}

  write(chunk: Uint8Array): Promise<void> {
    // Chained: a write that has to wait must not be overtaken by the next one.
    this.#tail = this.#tail.then(() => this.#writeAll(chunk));
    return this.#tail;
  }

  async #writeAll(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength && !this.#closed) {
      try {
        offset += writeSync(this.fd, chunk, offset, chunk.byteLength - offset);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // The server closed the pipe: the client is gone. The session is still saved.
        if (code === 'EPIPE') this.#closed = true;
        // A non-blocking pipe that is full: wait for the server to read.
        else if (code === 'EAGAIN') await new Promise((r) => setTimeout(r, 1));
        else throw e;
      }
    }
  }

  end(): Promise<void> {
    return this.#tail;
  }
}

/** Writes to a stream (tests, or a host that gives one), waiting for `drain`. */
export class StreamOutput implements CgiOutput {
  constructor(
    readonly stream: NodeJS.WritableStream,
    onError: (e: NodeJS.ErrnoException) => void,
  ) {
    // The server closing the pipe must not kill the process before the session is saved.
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') onError(e);
    });
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (!this.stream.write(chunk)) return new Promise((resolve) => this.stream.once('drain', () => resolve()));
  }

  end(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.stream.write('', () => resolve())) this.stream.once('drain', () => resolve());
    });
  }
}
