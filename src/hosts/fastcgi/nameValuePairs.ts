import { FastCgiProtocolError } from './FastCgiProtocolError.js';

/** A length of more than 127 takes four bytes, the top bit set (FastCGI §3.4). */
const LONG = 0x80;
/** The largest length four bytes can say. */
const MAX_LENGTH = 0x7fffffff;

/**
 * Name-value pairs as FCGI_PARAMS and FCGI_GET_VALUES carry them (§3.4):
 * each name's and value's length in one byte (up to 127) or four (the top
 * bit set), then the name and the value. Text is written as UTF-8.
 *
 * @example
 * ```ts
 * encodeNameValuePairs([['REQUEST_METHOD', 'GET'], ['QUERY_STRING', '']]);
 * ```
 */
export function encodeNameValuePairs(pairs: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of pairs) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(encodeLength(n.byteLength), encodeLength(v.byteLength), n, v);
  }
  return Buffer.concat(parts);
}

function encodeLength(length: number): Buffer {
  if (length < LONG) return Buffer.of(length);
  if (length > MAX_LENGTH) throw new RangeError(`a name or value of ${length} bytes is longer than FastCGI can say`);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE((length | 0x80000000) >>> 0, 0);
  return b;
}

/**
 * Reads name-value pairs (§3.4), calling `take` with each: names are read
 * as Latin-1 (they are ASCII), values as UTF-8, as node reads a CGI
 * environment.
 *
 * @throws FastCgiProtocolError when a length runs past the end of `bytes`.
 * @example
 * ```ts
 * const params: Record<string, string> = Object.create(null);
 * decodeNameValuePairs(content, (name, value) => { params[name] = value; });
 * ```
 */
export function decodeNameValuePairs(bytes: Uint8Array, take: (name: string, value: string) => void): void {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const length = (): number => {
    if (at >= buf.byteLength) throw new FastCgiProtocolError('a name-value pair is cut short (a length is missing)');
    const first = buf[at]!;
    if (first < LONG) {
      at += 1;
      return first;
    }
    if (at + 4 > buf.byteLength) throw new FastCgiProtocolError('a name-value pair is cut short (a four-byte length is incomplete)');
    const n = buf.readUInt32BE(at) & MAX_LENGTH;
    at += 4;
    return n;
  };
  while (at < buf.byteLength) {
    const nameLength = length();
    const valueLength = length();
    if (at + nameLength + valueLength > buf.byteLength) {
      throw new FastCgiProtocolError(`a name-value pair says ${nameLength} + ${valueLength} bytes, but only ${buf.byteLength - at} follow`);
    }
    const name = buf.toString('latin1', at, at + nameLength);
    at += nameLength;
    const value = buf.toString('utf8', at, at + valueLength);
    at += valueLength;
    take(name, value);
  }
}
