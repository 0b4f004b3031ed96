// Fuzz targets of src/config: the PSOSessionExpire arithmetic, HTTP dates,
// strptime formats and the value of every directive in the directive table.
import fc from 'fast-check';
import { evaluateArithmetic } from '../../../src/config/arithmetic.js';
import { ConfigurationError } from '../../../src/config/ConfigurationError.js';
import { MAX_LIFETIME_SECONDS, parseExpiry, parseSeconds } from '../../../src/config/expiry.js';
import { formatHttpDate, parseHttpDate } from '../../../src/config/httpDate.js';
import { DateFormatError, parseDateWithFormat } from '../../../src/config/strptime.js';
import { fuzzAsyncProperty, fuzzProperty, onlyThrows, type FuzzTarget } from '../../support/fuzz/FuzzTarget.js';
import { anyText, numberText, textOf, wrapped } from '../../support/fuzz/arbitraries.js';
import { directiveCases } from './directiveCases.js';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

// ---- the arithmetic ---------------------------------------------------------------

/** An expression tree, evaluated by a reference with BigInt, and written with spaces anywhere. */
type Expr = { n: string } | { unary: '-' | '+'; of: Expr } | { op: '+' | '-' | '*' | '/'; left: Expr; right: Expr };

const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.nat({ max: 100 }).map(String), numberText.filter((s) => /^\d+$/.test(s)), fc.constantFrom('0', '9007199254740991', '9007199254740992', '4503599627370496')).map((n) => ({ n })),
    fc.record({ unary: fc.constantFrom('-' as const, '+' as const), of: tie('expr') }),
    fc.record({ op: fc.constantFrom('+' as const, '-' as const, '*' as const, '/' as const), left: tie('expr'), right: tie('expr') }),
  ),
})).expr;

/** The reference: each step checked as the parser promises (safe integers, truncating division). */
function reference(e: Expr): bigint | 'error' {
  const safe = (v: bigint) => (v > MAX || v < -MAX ? 'error' : v);
  if ('n' in e) return safe(BigInt(e.n));
  if ('unary' in e) {
    const v = reference(e.of);
    return v === 'error' ? v : e.unary === '-' ? -v : v;
  }
  const l = reference(e.left);
  if (l === 'error') return l;
  const r = reference(e.right);
  if (r === 'error') return r;
  if (e.op === '/') return r === 0n ? 'error' : safe(l / r);
  return safe(e.op === '+' ? l + r : e.op === '-' ? l - r : l * r);
}

/** Written fully parenthesised, so that the tree is the one the parser reads. */
function written(e: Expr, space: () => string): string {
  if ('n' in e) return e.n;
  if ('unary' in e) return `${e.unary}${space()}${group(e.of, space)}`;
  return `${group(e.left, space)}${space()}${e.op}${space()}${group(e.right, space)}`;
}
function group(e: Expr, space: () => string): string {
  return 'n' in e ? e.n : `(${space()}${written(e, space)}${space()})`;
}
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  for (const c of text) if (c === '(') max = Math.max(max, ++depth); else if (c === ')') depth--;
  return max;
}

const arithmetic: FuzzTarget = {
  name: 'arithmetic: an expression gives what a BigInt reference gives, or a SyntaxError',
  runs: 2000,
  property: () =>
    fuzzProperty(exprArb, fc.array(fc.constantFrom('', ' ', '\t'), { minLength: 1, maxLength: 8 }), (e, spaces) => {
      let i = 0;
      const text = written(e, () => spaces[i++ % spaces.length]!);
      const expected = text.length > 256 || depthOf(text) > 32 ? 'error' : reference(e);
      const got = onlyThrows(() => evaluateArithmetic(text), SyntaxError);
      if (expected === 'error') return 'error' in got;
      return 'value' in got && Number.isSafeInteger(got.value) && BigInt(got.value) === expected;
    }),
};

const arithmeticNoise: FuzzTarget = {
  name: 'arithmetic: any text gives a safe integer or a SyntaxError',
  runs: 2000,
  property: () =>
    fuzzProperty(fc.oneof(textOf(['1', '15', '60', '*', '/', '+', '-', '(', ')', ' ', '9007199254740991', '0']), anyText(300), fc.nat(80).map((n) => `${'('.repeat(n)}1${')'.repeat(n)}`), fc.nat(300).map((n) => `${'-'.repeat(n)}1`)), (text) => {
      const got = onlyThrows(() => evaluateArithmetic(text), SyntaxError);
      return 'error' in got || Number.isSafeInteger(got.value);
    }),
};

const expire: FuzzTarget = {
  name: 'PSOSessionExpire: any value is an expiry within ten years, or a ConfigurationError',
  runs: 2000,
  property: () =>
    fuzzProperty(wrapped(fc.oneof(textOf(['15', '*', '60', '(', ')', '-', ' ', 'Mon, ', '15 Apr 2001 ', '19:00:00', ' GMT', '"', "'"]), numberText, anyText(40))), (value) => {
      const got = onlyThrows(() => parseExpiry(value), ConfigurationError);
      if ('error' in got) return got.error.message.includes('PSOSessionExpire');
      const e = got.value;
      if (e.kind === 'after') return Number.isSafeInteger(e.seconds) && e.seconds >= 0 && e.seconds <= MAX_LIFETIME_SECONDS;
      if (e.kind === 'at') return Number.isFinite(e.time);
      return e.kind === 'browser' && value.replace(/["'\s]/g, '') === '';
    }),
};

const seconds: FuzzTarget = {
  name: 'duration directives: seconds from 0 to ten years, or a ConfigurationError',
  runs: 2000,
  property: () =>
    fuzzProperty(wrapped(fc.oneof(textOf(['15', '*', '60', '(', ')', '-', ' ', '/', '0']), numberText)), (value) => {
      const got = onlyThrows(() => parseSeconds(value, 'PSOSessionIdleTimeout'), ConfigurationError);
      return 'error' in got || (Number.isSafeInteger(got.value) && got.value >= 0 && got.value <= MAX_LIFETIME_SECONDS);
    }),
};

// ---- dates -------------------------------------------------------------------------

/** A moment to the second, from the second day of the year 0 to the day before the end of 9999 (what four digits can say, whatever the offset). */
const moment = fc
  .integer({ min: new Date(0).setUTCFullYear(0, 0, 2), max: new Date(0).setUTCFullYear(9999, 11, 30) })
  .map((ms) => Math.floor(ms / 1000) * 1000);

const httpDateRoundTrip: FuzzTarget = {
  name: 'HTTP dates: formatHttpDate then parseHttpDate gives the same second, years 0 to 9999',
  runs: 2000,
  property: () => fuzzProperty(moment, (ms) => parseHttpDate(formatHttpDate(ms)) === ms),
};

const DAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FULL_DAY = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const p2 = (n: number) => String(n).padStart(2, '0');

const httpDateForms: FuzzTarget = {
  name: 'HTTP dates: the asctime and RFC 850 forms of a moment read back as that moment',
  runs: 2000,
  property: () =>
    fuzzProperty(moment.filter((ms) => new Date(ms).getUTCFullYear() >= 1000), fc.boolean(), (ms, lower) => {
      const d = new Date(ms);
      const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
      const asctime = `${DAY[d.getUTCDay()]} ${MON[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
      if (parseHttpDate(lower ? asctime.toLowerCase() : asctime) !== ms) return false;
      // RFC 850's two-digit year is read within 50 years of now (RFC 7231 §7.1.1.1).
      const thisYear = new Date().getUTCFullYear();
      if (Math.abs(d.getUTCFullYear() - thisYear) >= 49) return true;
      const rfc850 = `${FULL_DAY[d.getUTCDay()]}, ${p2(d.getUTCDate())}-${MON[d.getUTCMonth()]}-${p2(d.getUTCFullYear() % 100)} ${time} GMT`;
      return parseHttpDate(rfc850) === ms;
    }),
};

const httpDateNoise: FuzzTarget = {
  name: 'HTTP dates: any text is a finite time or undefined, never an exception',
  runs: 2000,
  property: () =>
    fuzzProperty(fc.oneof(textOf(['Sun', 'Sunday', ', ', ' ', '06', '6', '-', 'Nov', '94', '1994', '08:49:37', '24:00:00', '23:59:60', ' GMT', ' UTC', '31', 'Feb', '29', '0000', '9999']), anyText(60)), (text) => {
      const got = parseHttpDate(text);
      return got === undefined || Number.isFinite(got);
    }),
};

/** A strptime field: how it is written for a moment (UTC with an offset), and its directive. */
interface Field {
  directive: string;
  write(d: Date, offsetMinutes: number): string;
}
const FIELDS: Record<string, Field[]> = {
  year: [
    { directive: '%Y', write: (d) => String(d.getUTCFullYear()).padStart(4, '0') },
  ],
  month: [
    { directive: '%m', write: (d) => p2(d.getUTCMonth() + 1) },
    { directive: '%b', write: (d) => MON[d.getUTCMonth()]!.toUpperCase() },
    { directive: '%B', write: (d) => new Intl.DateTimeFormat('en', { month: 'long', timeZone: 'UTC' }).format(d) },
  ],
  day: [{ directive: '%d', write: (d) => p2(d.getUTCDate()) }],
  hour: [
    { directive: '%H', write: (d) => p2(d.getUTCHours()) },
    { directive: '%I %p', write: (d) => `${p2(d.getUTCHours() % 12 || 12)} ${d.getUTCHours() < 12 ? 'AM' : 'pm'}` },
  ],
  minute: [{ directive: '%M', write: (d) => p2(d.getUTCMinutes()) }],
  second: [{ directive: '%S', write: (d) => p2(d.getUTCSeconds()) }],
  zone: [
    { directive: '%z', write: (_d, off) => `${off < 0 ? '-' : '+'}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}` },
  ],
  weekday: [
    { directive: '%a', write: (d) => DAY[d.getUTCDay()]! },
    { directive: '%A', write: (d) => FULL_DAY[d.getUTCDay()]! },
  ],
};

const strptimeRoundTrip: FuzzTarget = {
  name: 'strptime: a moment written in a random format reads back as that moment',
  runs: 2000,
  property: () =>
    fuzzProperty(
      moment,
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      fc.shuffledSubarray(['year', 'month', 'day', 'hour', 'minute', 'second', 'zone', 'weekday'], { minLength: 8 }),
      fc.array(fc.nat(2), { minLength: 8, maxLength: 8 }),
      fc.array(fc.constantFrom(' ', '-', '/', ':', ', ', 'T', '.', ' | '), { minLength: 8, maxLength: 8 }),
      (ms, offset, order, variants, separators) => {
        // The time shown is local to the offset; the moment is UTC.
        const shown = new Date(ms + offset * 60_000);
        let format = '';
        let text = '';
        order.forEach((name, i) => {
          const choices = FIELDS[name]!;
          const field = choices[variants[i]! % choices.length]!;
          if (i > 0) {
            format += separators[i]!.replace(/%/g, '%%');
            text += separators[i]!;
          }
          format += field.directive;
          text += field.write(shown, offset);
        });
        const got = onlyThrows(() => parseDateWithFormat(text, format), DateFormatError);
        if ('error' in got) throw new Error(`${JSON.stringify(text)} with ${JSON.stringify(format)}: ${got.error.message}`);
        return got.value === ms;
      },
    ),
};

const strptimeNoise: FuzzTarget = {
  name: 'strptime: any text and any format give a finite time or a DateFormatError',
  runs: 2000,
  property: () =>
    fuzzProperty(
      fc.oneof(textOf(['Mon', 'Monday', ', ', ' ', '15', '1', '366', '0', 'APR', 'April', '2001', '19', ':', 'PM', 'am', 'GMT', 'Z', '+0200', '-05:30', '%', '60', '61', '99']), anyText(40)),
      fc.oneof(textOf(['%a', '%A', '%b', '%B', '%h', '%d', '%e', '%m', '%y', '%Y', '%H', '%I', '%M', '%S', '%p', '%j', '%Z', '%z', '%%', '%', '%q', ' ', ', ', ':']), anyText(20)),
      (text, format) => {
        const got = onlyThrows(() => parseDateWithFormat(text, format), DateFormatError);
        return 'error' in got || Number.isFinite(got.value);
      },
    ),
};

const strptimeDayOfYear: FuzzTarget = {
  name: 'strptime: %j names a day of that year, or a DateFormatError',
  runs: 1000,
  property: () =>
    fuzzProperty(fc.integer({ min: 1000, max: 9999 }), fc.integer({ min: 1, max: 366 }), (year, yday) => {
      const got = onlyThrows(() => parseDateWithFormat(`${year} ${String(yday).padStart(3, '0')} +0000`, '%Y %j %z'), DateFormatError);
      const leap = new Date(Date.UTC(year, 1, 29)).getUTCDate() === 29;
      if (yday === 366 && !leap) return 'error' in got;
      return 'value' in got && got.value === Date.UTC(year, 0, 1) + (yday - 1) * 86400_000;
    }),
};

// ---- the directive table ------------------------------------------------------------

const byName = new Map(directiveCases.map((c) => [c.name, c]));

const directives: FuzzTarget = {
  name: 'directives: any value of any directive in the table is read, or refused with a ConfigurationError naming it',
  runs: 1500,
  property: () =>
    fuzzAsyncProperty(
      fc.constantFrom(...directiveCases).chain((c) => fc.tuple(fc.constant(c.name), wrapped(fc.oneof(c.values, numberText, anyText(30))))),
      ([name, value]) => byName.get(name)!.check(value),
    ),
};

export const targets: FuzzTarget[] = [
  arithmetic, arithmeticNoise, expire, seconds,
  httpDateRoundTrip, httpDateForms, httpDateNoise,
  strptimeRoundTrip, strptimeNoise, strptimeDayOfYear,
  directives,
];
