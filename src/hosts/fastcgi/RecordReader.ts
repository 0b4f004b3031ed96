import { FastCgiProtocolError } from './FastCgiProtocolError.js';
import { FCGI_VERSION_1, HEADER_LENGTH } from './protocol.js';

/** What {@link RecordReader} hands on for each complete record. */
export type RecordHandler = (type: number, requestId: number, content: Buffer) => void;

/**
 * Cuts the bytes of a connection into FastCGI records, however they arrive:
 * a record split over many reads, or many records in one. A record's content
 * is handed on as a view of the bytes read, not a copy. At most one record
 * (8 + 65535 + 255 bytes) is held while it is incomplete.
 *
 * @example
 * ```ts
 * const reader = new RecordReader((type, id, content) => console.log(type, id, content.byteLength));
 * socket.on('data', (chunk) => reader.push(chunk));
 * ```
 */
export class RecordReader {
  readonly #onRecord: RecordHandler;
  /** Bytes of an incomplete record, in the order they came. */
  #held: Buffer[] = [];
  #heldLength = 0;
  /** Bytes the record being held needs in all; a header's length until its header is read. */
  #needed = HEADER_LENGTH;

  constructor(onRecord: RecordHandler) {
    this.#onRecord = onRecord;
  }

  /**
   * Bytes held of a record not yet complete.
   *
   * @example
   * ```ts
   * socket.on('end', () => { if (reader.pendingBytes) log('the connection ended inside a record'); });
   * ```
   */
  get pendingBytes(): number {
    return this.#heldLength;
  }

  /**
   * Takes the next bytes of the connection and hands on every record they
   * complete, in order.
   *
   * @throws FastCgiProtocolError for a record of another version than 1; the
   *   connection cannot be read further.
   * @example
   * ```ts
   * try { reader.push(chunk); } catch (e) { socket.destroy(); }
   * ```
   */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#heldLength > 0) {
      this.#held.push(chunk);
      this.#heldLength += chunk.byteLength;
      if (this.#heldLength < this.#needed) return;
      buf = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held, this.#heldLength);
      this.#held = [];
      this.#heldLength = 0;
    }
    let at = 0;
    while (buf.byteLength - at >= HEADER_LENGTH) {
      const version = buf[at]!;
      if (version !== FCGI_VERSION_1) throw new FastCgiProtocolError(`a record of version ${version} came; FastCGI has only version 1`);
      const contentLength = (buf[at + 4]! << 8) | buf[at + 5]!;
      const total = HEADER_LENGTH + contentLength + buf[at + 6]!;
      if (buf.byteLength - at < total) {
        this.#needed = total;
        break;
      }
      const type = buf[at + 1]!;
      const requestId = (buf[at + 2]! << 8) | buf[at + 3]!;
      const content = buf.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + contentLength);
      at += total;
      this.#onRecord(type, requestId, content);
    }
    if (at < buf.byteLength) {
      const rest = buf.subarray(at);
      this.#held.push(rest);
      this.#heldLength = rest.byteLength;
      if (rest.byteLength < HEADER_LENGTH) this.#needed = HEADER_LENGTH;
    } else {
      this.#needed = HEADER_LENGTH;
    }
  }
}
