import { FCGI_VERSION_1, HEADER_LENGTH, MAX_CONTENT_LENGTH, MAX_PADDING_LENGTH } from './protocol.js';

/** The fields of a record header (FastCGI §3.3). */
export interface RecordHeader {
  readonly version: number;
  readonly type: number;
  readonly requestId: number;
  readonly contentLength: number;
  readonly paddingLength: number;
}

/** Zeros to pad records with. */
const PADDING = Buffer.alloc(MAX_PADDING_LENGTH);

/**
 * The 8 bytes of a record header: version 1, then `type`, the 16-bit request
 * id and content length (big-endian), the padding length and a reserved byte.
 *
 * @throws RangeError for a field out of its range.
 * @example
 * ```ts
 * encodeHeader(RecordType.STDOUT, 1, 5, 3); // <01 06 00 01 00 05 03 00>
 * ```
 */
export function encodeHeader(type: number, requestId: number, contentLength: number, paddingLength = 0): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`record type ${type} is not a byte`);
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffff) throw new RangeError(`request id ${requestId} is not a 16-bit number`);
  if (!Number.isInteger(contentLength) || contentLength < 0 || contentLength > MAX_CONTENT_LENGTH) {
    throw new RangeError(`content length ${contentLength} is not from 0 to ${MAX_CONTENT_LENGTH}`);
  }
  if (!Number.isInteger(paddingLength) || paddingLength < 0 || paddingLength > MAX_PADDING_LENGTH) {
    throw new RangeError(`padding length ${paddingLength} is not from 0 to ${MAX_PADDING_LENGTH}`);
  }
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  header[0] = FCGI_VERSION_1;
  header[1] = type;
  header.writeUInt16BE(requestId, 2);
  header.writeUInt16BE(contentLength, 4);
  header[6] = paddingLength;
  header[7] = 0;
  return header;
}

/**
 * Reads a record header at `offset` (8 bytes must be there). The version is
 * returned as found: the caller decides what to do with another one.
 *
 * @example
 * ```ts
 * decodeHeader(encodeHeader(RecordType.STDIN, 3, 10)); // { version: 1, type: 5, requestId: 3, contentLength: 10, paddingLength: 0 }
 * ```
 */
export function decodeHeader(bytes: Uint8Array, offset = 0): RecordHeader {
  if (bytes.byteLength - offset < HEADER_LENGTH) throw new RangeError(`a record header needs ${HEADER_LENGTH} bytes; ${bytes.byteLength - offset} given`);
  return {
    version: bytes[offset]!,
    type: bytes[offset + 1]!,
    requestId: (bytes[offset + 2]! << 8) | bytes[offset + 3]!,
    contentLength: (bytes[offset + 4]! << 8) | bytes[offset + 5]!,
    paddingLength: bytes[offset + 6]!,
  };
}

/**
 * One record (header, content, padding to a multiple of 8 bytes, as §3.3
 * recommends) as the pieces to write, without copying `content`.
 *
 * @throws RangeError when `content` is longer than 65535 bytes.
 * @example
 * ```ts
 * socket.write(Buffer.concat(encodeRecord(RecordType.END_REQUEST, 1, endRequestBody(0, 0))));
 * ```
 */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = PADDING.subarray(0, 0)): Uint8Array[] {
  const padding = (8 - (content.byteLength % 8)) % 8;
  const header = encodeHeader(type, requestId, content.byteLength, padding);
  if (content.byteLength === 0) return [header];
  return padding ? [header, content, PADDING.subarray(0, padding)] : [header, content];
}

/**
 * A stream's data (FCGI_STDOUT, say) as records of at most 65535 bytes each,
 * without copying it; nothing for no data (the empty record that ends a
 * stream is written on its own).
 *
 * @example
 * ```ts
 * socket.write(Buffer.concat(encodeStream(RecordType.STDOUT, 1, body)));
 * ```
 */
export function encodeStream(type: number, requestId: number, data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  // Pieces of a multiple of 8 bytes need no padding.
  const piece = MAX_CONTENT_LENGTH - (MAX_CONTENT_LENGTH % 8);
  for (let at = 0; at < data.byteLength; at += piece) out.push(...encodeRecord(type, requestId, data.subarray(at, Math.min(at + piece, data.byteLength))));
  return out;
}

/**
 * The body of FCGI_END_REQUEST (§5.5): the application's exit status (32
 * bits, big-endian) and the protocol status.
 *
 * @example
 * ```ts
 * endRequestBody(0, ProtocolStatus.REQUEST_COMPLETE);
 * ```
 */
export function endRequestBody(appStatus: number, protocolStatus: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body[4] = protocolStatus;
  return body;
}

/**
 * The body of FCGI_UNKNOWN_TYPE (§4.2): the type that was not understood.
 *
 * @example
 * ```ts
 * encodeRecord(RecordType.UNKNOWN_TYPE, 0, unknownTypeBody(42));
 * ```
 */
export function unknownTypeBody(type: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = type;
  return body;
}
