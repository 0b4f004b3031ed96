import { utcTime } from './utcTime.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WKDAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const WEEKDAY = '(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** RFC 1123 (RFC 2616 §3.3.1 preferred form): `Sun, 06 Nov 1994 08:49:37 GMT`. */
const RFC1123 = new RegExp(`^${WKDAY}, (\\d{1,2}) ${MONTH} (\\d{4}) ${TIME}(?: (?:GMT|UTC))?$`, 'i');
/** RFC 850 (obsolete, two-digit year): `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 = new RegExp(`^${WEEKDAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME}(?: GMT)?$`, 'i');
/** ANSI C asctime(): `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^${WKDAY} ${MONTH} +(\\d{1,2}) ${TIME} (\\d{4})$`, 'i');

/**
 * Parses an HTTP date in any of the three forms of RFC 2616 §3.3.1 (all GMT).
 * The weekday is not checked against the date, as RFC 7231 allows.
 *
 * @returns milliseconds since the epoch, or `undefined` if `text` is no HTTP date.
 * @example
 * ```ts
 * parseHttpDate('Mon, 15 Apr 2001 19:00:00 GMT'); // 987361200000
 * parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'); // 784111777000
 * parseHttpDate('Sun Nov  6 08:49:37 1994');       // 784111777000
 * ```
 */
export function parseHttpDate(text: string): number | undefined {
  const s = text.trim();
  let m = RFC1123.exec(s);
  if (m) return build(+m[3]!, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  m = RFC850.exec(s);
  if (m) {
    // RFC 7231 §7.1.1.1: a two-digit year more than 50 years ahead is in the past century.
    const yy = +m[3]!;
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    return build(year, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  m = ASCTIME.exec(s);
  if (m) return build(+m[6]!, m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!);
  return undefined;
}

function build(year: number, month: string, day: number, h: number, min: number, sec: number): number | undefined {
  const mon = MONTHS.indexOf(month.toLowerCase());
  if (h > 23 || min > 59 || sec > 60 || day < 1) return undefined;
  const ms = utcTime(year, mon, day, h, min, Math.min(sec, 59));
  // Reject dates such as 31 Feb that would roll over.
  if (new Date(ms).getUTCDate() !== day) return undefined;
  return ms;
}

/**
 * Formats a time as an RFC 1123 HTTP date, e.g. `Mon, 15 Apr 2001 19:00:00 GMT`.
 *
 * @example
 * ```ts
 * formatHttpDate(987361200000); // 'Sun, 15 Apr 2001 19:00:00 GMT'
 * ```
 */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
