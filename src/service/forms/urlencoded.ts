import { TextDecoder } from 'node:util';
import { HttpError } from '../errors.js';
import type { FormLimits } from './limits.js';

/** A field as it came: its name and value still bytes, until the charset is known. */
export interface RawField {
  readonly name: Uint8Array;
  readonly value: Uint8Array;
}

const AMP = 0x26;
const EQ = 0x3d;
const PLUS = 0x2b;
const PERCENT = 0x25;

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * WHATWG URL's "percent-decode" with `+` as space, to bytes: a `%` not
 * followed by two hex digits stays as it is.
 */
function percentDecode(input: Uint8Array, start: number, end: number): Uint8Array {
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = input[i]!;
    if (c === PLUS) out[n++] = 0x20;
    else if (c === PERCENT && i + 2 < end && hex(input[i + 1]!) >= 0 && hex(input[i + 2]!) >= 0) {
      out[n++] = hex(input[i + 1]!) * 16 + hex(input[i + 2]!);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/**
 * Splits `application/x-www-form-urlencoded` bytes (a body or a query
 * string) into raw fields, enforcing the field count and size limits.
 *
 * @throws HttpError 413 naming `PSOMaxFields` or `PSOMaxFieldSize`.
 */
export function splitUrlencoded(input: Uint8Array, limits: Pick<FormLimits, 'maxFields' | 'maxFieldSize'>, already = 0): RawField[] {
  const fields: RawField[] = [];
  let start = 0;
  while (start <= input.length) {
    let end = input.indexOf(AMP, start);
    if (end < 0) end = input.length;
    if (end > start) {
      let eq = input.indexOf(EQ, start);
      if (eq < 0 || eq > end) eq = end;
      if (fields.length + already >= limits.maxFields) {
        throw new HttpError(413, `more than ${limits.maxFields} form fields (PSOMaxFields)`);
      }
      const value = eq < end ? percentDecode(input, eq + 1, end) : new Uint8Array(0);
      const name = percentDecode(input, start, eq);
      if (value.byteLength > limits.maxFieldSize) {
        throw new HttpError(413, `form field ${JSON.stringify(lenient(name))} is larger than the limit of ${limits.maxFieldSize} bytes (PSOMaxFieldSize)`);
      }
      fields.push({ name, value });
    }
    start = end + 1;
  }
  return fields;
}

/** Decodes bytes as UTF-8 for messages, never failing. */
export function lenient(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

/**
 * A decoder for `charset`, failing on bytes that are not valid in it.
 *
 * @throws HttpError 415 for a charset this runtime does not know.
 */
export function strictDecoder(charset: string): TextDecoder {
  try {
    return new TextDecoder(charset, { fatal: true, ignoreBOM: true });
  } catch {
    throw new HttpError(415, `unsupported form charset ${JSON.stringify(charset)}`);
  }
}

/**
 * Decodes raw fields with `charset` (HTML's `_charset_` field, when
 * present, names it if the request did not).
 *
 * @throws HttpError 400 naming the first field that is not valid in the charset.
 */
export function decodeFields(raw: readonly RawField[], charset: string | undefined, where: string): [string, string][] {
  let chosen = charset;
  if (chosen === undefined) {
    const named = raw.find((f) => f.name.length === 9 && Buffer.from(f.name).toString('latin1') === '_charset_');
    chosen = named ? Buffer.from(named.value).toString('latin1').trim() || 'utf-8' : 'utf-8';
  }
  const decoder = strictDecoder(chosen);
  return raw.map((f) => {
    let name: string;
    let value: string;
    try {
      name = decoder.decode(f.name);
    } catch {
      throw new HttpError(400, `a field name in the ${where} is not valid ${chosen}: ${JSON.stringify(lenient(f.name))}`);
    }
    try {
      value = decoder.decode(f.value);
    } catch {
      throw new HttpError(400, `form field ${JSON.stringify(name)} in the ${where} is not valid ${chosen}`);
    }
    return [name, value];
  });
}

/** The `charset` parameter of a Content-Type, if any. */
export function charsetOf(contentType: string): string | undefined {
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType);
  const v = (m?.[1] ?? m?.[2])?.trim();
  return v ? v : undefined;
}
