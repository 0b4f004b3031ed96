import type { Expiry } from '../config/expiry.js';
import { MAX_LIFETIME_SECONDS, parseExpiry } from '../config/expiry.js';
import { parseDateWithFormat } from '../config/strptime.js';
import type { JsonValue, SessionData } from './json.js';
import { SessionContents } from './SessionContents.js';
import type { SessionTimeouts } from './SessionRecord.js';

/**
 * When a session ends: the expiry and the server-side timeouts set in code
 * (`expire()`, `setTimeouts()`), and those as loaded or last saved. Where
 * nothing is set, the directives decide. {@link Session} adds the id and the
 * policy's operations.
 *
 * @typeParam D - the shape of the data; see {@link SessionData}.
 * @example
 * ```ts
 * request.session.expire(15 * 60).setTimeouts({ absolute: 8 * 3600 });
 * ```
 */
export abstract class SessionLifetime<D extends object = SessionData> extends SessionContents<D> {
  #expiry: Expiry | undefined;
  #storedExpiry: Expiry | undefined;
  #timeouts: SessionTimeouts | undefined;
  #storedTimeouts: SessionTimeouts | undefined;

  protected constructor(data: Record<string, JsonValue>, snapshot: string | undefined, expiry: Expiry | undefined, timeouts: SessionTimeouts | undefined) {
    super(data, snapshot);
    this.#expiry = this.#storedExpiry = expiry;
    this.#timeouts = this.#storedTimeouts = timeouts;
  }

  /**
   * Sets when the session ends, in every form of the How-To:
   * - `expire()`: when the browser closes (the default);
   * - `expire(0)`: right away (the stored session is deleted and the cookie cleared);
   * - `expire(seconds)`: that many seconds after the last request;
   * - `expire({ date: epochSeconds })` or `expire(aDate)`: at a given time;
   * - `expire(text, format)`: at a time written with a strptime-style format;
   * - `expire(text)`: seconds, an integer expression or an HTTP date, as the directive takes.
   *
   * @throws RangeError for negative, non-finite or over-long lifetimes;
   *   DateFormatError when `text` does not match `format`.
   * @example
   * ```ts
   * session.expire(15 * 60);
   * session.expire({ date: Date.now() / 1000 + 2 * 24 * 3600 });
   * session.expire('Mon, 15 APR 2001 19:00:00', '%a, %d %b %Y %H:%M:%S');
   * ```
   */
  expire(): this;
  expire(seconds: number): this;
  expire(when: Date | { date: number }): this;
  expire(text: string, format?: string): this;
  expire(when?: number | Date | { date: number } | string, format?: string): this {
    this.assertWritable('change the expiry');
    this.askToKeep();
    if (when === undefined) {
      this.#expiry = { kind: 'browser' };
    } else if (typeof when === 'number') {
      if (!Number.isFinite(when) || when < 0 || when > MAX_LIFETIME_SECONDS) {
        throw new RangeError(`session.expire(${when}): seconds must be from 0 to ${MAX_LIFETIME_SECONDS}`);
      }
      this.#expiry = { kind: 'after', seconds: Math.floor(when) };
    } else if (when instanceof Date) {
      this.#expiry = at(when.getTime(), 'a Date');
    } else if (typeof when === 'string') {
      const parsed = format === undefined ? parseExpiry(when, 'session.expire()') : undefined;
      // An HTTP date gets the same range check as every other date form.
      this.#expiry = parsed === undefined ? at(parseDateWithFormat(when, format!), 'the date') : parsed.kind === 'at' ? at(parsed.time, 'the date') : parsed;
    } else if (when && typeof when === 'object' && typeof when.date === 'number') {
      this.#expiry = at(when.date * 1000, '{ date }');
    } else {
      throw new TypeError('session.expire() takes nothing, seconds, a Date, { date: epochSeconds }, or a date string and its format');
    }
    return this;
  }

  /**
   * Sets server-side timeouts for this session (kept across requests): `idle`
   * seconds after the last request and `absolute` seconds after creation,
   * whichever comes first. `undefined` leaves a limit to the directives.
   *
   * @example
   * ```ts
   * session.setTimeouts({ idle: 30 * 60, absolute: 8 * 3600 });
   * ```
   */
  setTimeouts(timeouts: SessionTimeouts): this {
    this.assertWritable('change the timeouts');
    const next: SessionTimeouts = {};
    for (const key of ['idle', 'absolute'] as const) {
      const v = timeouts[key];
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 1 || v > MAX_LIFETIME_SECONDS) {
        throw new RangeError(`session.setTimeouts(): ${key} must be from 1 to ${MAX_LIFETIME_SECONDS} seconds`);
      }
      next[key] = Math.floor(v);
    }
    this.#timeouts = next.idle === undefined && next.absolute === undefined ? undefined : next;
    return this;
  }

  /** The timeouts set in code, if any. */
  get timeouts(): SessionTimeouts | undefined {
    return this.#timeouts;
  }

  /** The expiry set in code, if any (otherwise directives decide). */
  get expiry(): Expiry | undefined {
    return this.#expiry;
  }

  /** Whether the expiry or the timeouts differ from what was loaded or last saved. */
  protected get lifetimeChanged(): boolean {
    return !sameExpiry(this.#expiry, this.#storedExpiry) || !sameTimeouts(this.#timeouts, this.#storedTimeouts);
  }

  /** Back to the expiry and timeouts as loaded or last saved. */
  protected revertLifetime(): void {
    this.#expiry = this.#storedExpiry;
    this.#timeouts = this.#storedTimeouts;
  }

  /** The expiry and timeouts as stored now. */
  protected lifetimeSaved(): void {
    this.#storedExpiry = this.#expiry;
    this.#storedTimeouts = this.#timeouts;
  }

  /** Takes the expiry and timeouts as loaded (`reload()`), or none (`destroy()` keeps what is stored: `stored` false). */
  protected replaceLifetime(expiry: Expiry | undefined, timeouts: SessionTimeouts | undefined, stored: boolean): void {
    this.#expiry = expiry;
    this.#timeouts = timeouts;
    if (!stored) return;
    this.#storedExpiry = expiry;
    this.#storedTimeouts = timeouts;
  }
}

function at(time: number, what: string): Expiry {
  if (!Number.isFinite(time) || time < 0 || time > Date.now() + MAX_LIFETIME_SECONDS * 1000) {
    throw new RangeError(`session.expire(): ${what} must lie between 1970 and ten years from now`);
  }
  return { kind: 'at', time: Math.floor(time) };
}

/** Timeouts compare by value: a handler that sets the same ones on every request changes nothing. */
export function sameTimeouts(a: SessionTimeouts | undefined, b: SessionTimeouts | undefined): boolean {
  return a?.idle === b?.idle && a?.absolute === b?.absolute;
}

/** Expiries compare by value. */
export function sameExpiry(a: Expiry | undefined, b: Expiry | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.kind !== b.kind) return false;
  if (a.kind === 'after') return a.seconds === (b as typeof a).seconds;
  if (a.kind === 'at') return a.time === (b as typeof a).time;
  return true;
}
