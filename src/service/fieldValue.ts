import { InvalidHeaderError } from './errors.js';

/** RFC 9110 §5.1: `field-name = token`, `token = 1*tchar`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Anything RFC 9110 §5.5 does not allow in a field value:
 * `field-vchar = VCHAR / obs-text`, plus SP and HTAB between them. As
 * characters of a JS string: `\t`, `\x20-\x7e` and `\x80-\xff` (each one byte
 * on the wire). A character above `\xff` has no single byte: a host that
 * writes the head as latin1 would keep its low byte, so U+010A would become a
 * real LF. Refused, on every host alike.
 */
const NOT_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** What a `Location` may carry as it is: RFC 3986 characters (reserved, unreserved and `%`). */
const NOT_URI_CHAR = /[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/gu;
/** Controls never belong in a URL, encoded or not: a redirect holding one is a mistake or an attack. */
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Checks a response header before it is kept: the name must be a token and
 * the value what HTTP allows.
 *
 * @throws InvalidHeaderError naming the header and the first bad character.
 * @example
 * ```ts
 * checkField('X-Note', 'caf\u00e9'); // fine: one byte, 0xE9
 * checkField('X-Note', 'a\u010d'); // InvalidHeaderError
 * ```
 */
export function checkField(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new InvalidHeaderError(`invalid header name ${JSON.stringify(name)}`);
  const bad = NOT_FIELD_VALUE.exec(value);
  if (bad) {
    throw new InvalidHeaderError(
      `header ${name} has ${describe(bad[0])} at position ${bad.index} of its value; a header value may hold tab, space, ` +
        'visible ASCII and bytes 0x80-0xFF only (percent-encode other text, e.g. with encodeURIComponent)',
    );
  }
}

/**
 * A redirect target as a `Location` value: characters a URL cannot carry as
 * they are (non-ASCII text, spaces, quotes) are percent-encoded as UTF-8,
 * whole; `%XX` already there is kept.
 *
 * @throws InvalidHeaderError for control characters (CR, LF, NUL, ...) and
 *   text that is not valid UTF-16 (a lone surrogate).
 * @example
 * ```ts
 * locationOf('/caf\u00e9?q=a b'); // '/caf%C3%A9?q=a%20b'
 * ```
 */
export function locationOf(url: string): string {
  const control = CONTROL.exec(url);
  if (control) throw new InvalidHeaderError(`redirect URL has ${describe(control[0])} at position ${control.index}`);
  try {
    return url.replace(NOT_URI_CHAR, (c) => encodeURIComponent(c));
  } catch {
    throw new InvalidHeaderError('redirect URL is not valid text (it holds a lone UTF-16 surrogate)');
  }
}

function describe(c: string): string {
  const code = c.codePointAt(0)!;
  const names: Record<number, string> = { 0: 'a NUL', 10: 'a LF', 13: 'a CR' };
  return `${names[code] ?? 'the character'} U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
