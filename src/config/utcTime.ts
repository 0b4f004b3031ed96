/**
 * `Date.UTC`, for every year as written: `Date.UTC` reads a year from 0 to
 * 99 as 1900 to 1999, so `Mon, 01 Jan 0050 00:00:00 GMT` would be 1950.
 * Months, days and hours out of range roll over as with `Date.UTC`.
 *
 * @returns milliseconds since the epoch.
 * @example
 * ```ts
 * utcTime(50, 0, 1); // -60589296000000: the year 50, not 1950
 * ```
 */
export function utcTime(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}
