import { utcTime } from './utcTime.js';

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** A date string that does not match its format, or a format pso does not know. */
export class DateFormatError extends SyntaxError {
  override name = 'DateFormatError';
}

interface Fields {
  year?: number;
  month?: number; // 0-11
  day?: number;
  yday?: number; // 1-366
  hour?: number;
  hour12?: number;
  pm?: boolean;
  minute?: number;
  second?: number;
  offsetMinutes?: number; // east of UTC; undefined = local time
}

/**
 * Parses `text` with a strptime-style `format`, as Python's `time.strptime`
 * did for the How-To's `session.expire("Mon, 15 APR 2001 19:00:00", "%a, %d %b %Y %H:%M:%S")`.
 *
 * Directives: `%a %A` (weekday name, checked but not used), `%b %B` (month
 * name), `%d %m %y %Y %H %I %M %S %p %j`, `%Z` (`GMT`, `UTC`, `Z`), `%z`
 * (`+hhmm`, `+hh:mm`, `Z`) and `%%`. Names are case-insensitive. A space in the
 * format matches one or more spaces. Without `%Z`/`%z` the time is local, as
 * `time.mktime` made it.
 *
 * @returns milliseconds since the epoch.
 * @throws DateFormatError naming the offending directive or text.
 * @example
 * ```ts
 * parseDateWithFormat('Mon, 15 APR 2001 19:00:00 GMT', '%a, %d %b %Y %H:%M:%S %Z'); // 987361200000
 * ```
 */
export function parseDateWithFormat(text: string, format: string): number {
  const f: Fields = {};
  let pos = 0;
  const fail = (what: string): never => {
    throw new DateFormatError(`${JSON.stringify(text)} does not match ${JSON.stringify(format)}: ${what} at position ${pos + 1}`);
  };
  const number = (directive: string, min: number, max: number, maxDigits: number): number => {
    const m = new RegExp(`^\\d{1,${maxDigits}}`).exec(text.slice(pos));
    if (!m) return fail(`expected a number for ${directive}`);
    const n = Number(m[0]);
    if (n < min || n > max) return fail(`${directive} must be from ${min} to ${max}, got ${m[0]}`);
    pos += m[0].length;
    return n;
  };
  const name = (directive: string, names: readonly string[]): number => {
    const rest = text.slice(pos).toLowerCase();
    // Full names first, so that "March" is not read as "Mar" followed by "ch".
    for (const full of [true, false]) {
      for (let i = 0; i < names.length; i++) {
        const candidate = full ? names[i]! : names[i]!.slice(0, 3);
        if (rest.startsWith(candidate)) {
          pos += candidate.length;
          return i;
        }
      }
    }
    return fail(`expected a ${directive === '%a' || directive === '%A' ? 'weekday' : 'month'} name for ${directive}`);
  };

  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '%') {
      const d = format[++i];
      if (d === undefined) throw new DateFormatError(`format ${JSON.stringify(format)} ends with a lone "%"`);
      switch (d) {
        case 'a': case 'A': name(`%${d}`, DAYS); break;
        case 'b': case 'B': case 'h': f.month = name(`%${d}`, MONTHS); break;
        case 'd': case 'e': f.day = number('%d', 1, 31, 2); break;
        case 'm': f.month = number('%m', 1, 12, 2) - 1; break;
        case 'y': { const y = number('%y', 0, 99, 2); f.year = y < 69 ? 2000 + y : 1900 + y; break; }
        case 'Y': f.year = number('%Y', 0, 9999, 4); break;
        case 'H': f.hour = number('%H', 0, 23, 2); break;
        case 'I': f.hour12 = number('%I', 1, 12, 2); break;
        case 'M': f.minute = number('%M', 0, 59, 2); break;
        case 'S': f.second = number('%S', 0, 61, 2); break;
        case 'j': f.yday = number('%j', 1, 366, 3); break;
        case 'p': {
          const m = /^(am|pm)/i.exec(text.slice(pos));
          if (!m) fail('expected AM or PM for %p');
          f.pm = m![1]!.toLowerCase() === 'pm';
          pos += 2;
          break;
        }
        case 'Z': {
          const m = /^(gmt|utc|ut|z)\b/i.exec(text.slice(pos));
          if (!m) fail('expected GMT, UTC or Z for %Z');
          f.offsetMinutes = 0;
          pos += m![0].length;
          break;
        }
        case 'z': {
          const m = /^(?:([+-])(\d{2}):?(\d{2})|z)/i.exec(text.slice(pos));
          if (!m) fail('expected an offset such as +0200 for %z');
          f.offsetMinutes = m![1] ? (m![1] === '-' ? -1 : 1) * (Number(m![2]) * 60 + Number(m![3])) : 0;
          pos += m![0].length;
          break;
        }
        case '%':
          if (text[pos] !== '%') fail('expected "%"');
          pos++;
          break;
        default:
          throw new DateFormatError(`format ${JSON.stringify(format)} has an unknown directive "%${d}"`);
      }
    } else if (/\s/.test(c)) {
      if (!/\s/.test(text[pos] ?? '')) fail('expected a space');
      while (/\s/.test(text[pos] ?? '')) pos++;
    } else {
      if ((text[pos] ?? '').toLowerCase() !== c.toLowerCase()) fail(`expected ${JSON.stringify(c)}`);
      pos++;
    }
  }
  if (pos < text.length) fail(`unexpected ${JSON.stringify(text.slice(pos))}`);
  return toTime(f, text, format);
}

function toTime(f: Fields, text: string, format: string): number {
  const year = f.year ?? 1900;
  let month = f.month ?? 0;
  let day = f.day ?? 1;
  if (f.yday !== undefined && f.month === undefined && f.day === undefined) {
    const d = new Date(utcTime(year, 0, f.yday));
    // Day 366 of a year that has 365 is not the first of the next one.
    if (d.getUTCFullYear() !== year) throw new DateFormatError(`${JSON.stringify(text)} (format ${JSON.stringify(format)}): ${year} has no day ${f.yday}`);
    month = d.getUTCMonth();
    day = d.getUTCDate();
  }
  let hour = f.hour ?? 0;
  if (f.hour12 !== undefined) hour = (f.hour12 % 12) + (f.pm ? 12 : 0);
  else if (f.pm !== undefined && f.hour !== undefined && f.hour < 12 && f.pm) hour += 12;
  const minute = f.minute ?? 0;
  const second = Math.min(f.second ?? 0, 59);
  const probe = new Date(utcTime(year, month, day));
  if (probe.getUTCMonth() !== month || probe.getUTCDate() !== day) {
    throw new DateFormatError(`${JSON.stringify(text)} (format ${JSON.stringify(format)}) names a day that does not exist`);
  }
  if (f.offsetMinutes !== undefined) return utcTime(year, month, day, hour, minute, second) - f.offsetMinutes * 60_000;
  const local = new Date(year, month, day, hour, minute, second);
  local.setFullYear(year);
  return local.getTime();
}
