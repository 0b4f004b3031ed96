import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/config/ConfigurationError.js';
import { MAX_LIFETIME_SECONDS, parseExpiry, parseSeconds } from '../../src/config/expiry.js';

function configError(fn: () => unknown, directive: string, value: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigurationError, `expected ConfigurationError, got ${String(e)}`);
    assert.equal(e.directive, directive);
    assert.equal(e.value, value);
    assert.match(e.reason, reason);
    assert.ok(e.message.startsWith(`${directive}=${JSON.stringify(value)} is invalid: `), e.message);
    return true;
  });
}

describe('parseExpiry', () => {
  describe('seconds', () => {
    it('when given a number, lasts that many seconds after the last request', () => {
      assert.deepEqual(parseExpiry('900'), { kind: 'after', seconds: 900 });
      assert.deepEqual(parseExpiry('0'), { kind: 'after', seconds: 0 });
    });

    it('when given an expression ("15*60"), evaluates it', () => {
      assert.deepEqual(parseExpiry('15*60'), { kind: 'after', seconds: 900 });
      assert.deepEqual(parseExpiry(' 60 * 60 * (24 + 1) '), { kind: 'after', seconds: 90000 });
    });

    it('when quoted with double or single quotes, unquotes it', () => {
      assert.deepEqual(parseExpiry('"15*60"'), { kind: 'after', seconds: 900 });
      assert.deepEqual(parseExpiry("'15*60'"), { kind: 'after', seconds: 900 });
      assert.deepEqual(parseExpiry(' " 900 " '), { kind: 'after', seconds: 900 });
    });

    it('when exactly ten years, accepts it', () => {
      assert.deepEqual(parseExpiry(String(MAX_LIFETIME_SECONDS)), { kind: 'after', seconds: MAX_LIFETIME_SECONDS });
      assert.equal(MAX_LIFETIME_SECONDS, 315360000);
    });
  });

  describe('HTTP dates', () => {
    it('when given an RFC 1123 date, ends at that time', () => {
      assert.deepEqual(parseExpiry('Mon, 15 Apr 2001 19:00:00 GMT'), { kind: 'at', time: 987361200000 });
    });

    it('when given an RFC 850 or asctime date, ends at that time', () => {
      assert.deepEqual(parseExpiry('Sunday, 06-Nov-94 08:49:37 GMT'), { kind: 'at', time: 784111777000 });
      assert.deepEqual(parseExpiry('Sun Nov  6 08:49:37 1994'), { kind: 'at', time: 784111777000 });
    });

    it('when the date is quoted, unquotes it', () => {
      assert.deepEqual(parseExpiry('"Mon, 15 Apr 2001 19:00:00 GMT"'), { kind: 'at', time: 987361200000 });
    });
  });

  describe('empty values', () => {
    it('when empty, blank or empty quotes, lasts until the browser closes', () => {
      assert.deepEqual(parseExpiry(''), { kind: 'browser' });
      assert.deepEqual(parseExpiry('   '), { kind: 'browser' });
      assert.deepEqual(parseExpiry('""'), { kind: 'browser' });
      assert.deepEqual(parseExpiry("''"), { kind: 'browser' });
    });
  });

  describe('errors', () => {
    it('when negative, names the directive and the value', () => {
      configError(() => parseExpiry('-5'), 'PSOSessionExpire', '-5', /cannot be negative/);
      configError(() => parseExpiry('-5', 'PSOSessionExpires'), 'PSOSessionExpires', '-5', /cannot be negative/);
      configError(() => parseExpiry('10-20'), 'PSOSessionExpire', '10-20', /cannot be negative/);
    });

    it('when more than ten years, is refused', () => {
      configError(() => parseExpiry(`${MAX_LIFETIME_SECONDS + 1}`), 'PSOSessionExpire', `${MAX_LIFETIME_SECONDS + 1}`, /more than ten years/);
      configError(() => parseExpiry('11*365*24*3600'), 'PSOSessionExpire', '11*365*24*3600', /more than ten years/);
    });

    it('when the expression is incomplete ("15*"), gives the parser\'s reason', () => {
      configError(() => parseExpiry('15*'), 'PSOSessionExpire', '15*', /ends where a number was expected/);
      configError(() => parseExpiry('1/0'), 'PSOSessionExpire', '1/0', /division by zero/);
      configError(() => parseExpiry('99999999999999999999'), 'PSOSessionExpire', '99999999999999999999', /too large/);
    });

    it('when nonsense, says what is expected', () => {
      for (const v of ['soon', '15*60; rm -rf /', '1e3', '15 minutes', 'eval(1)']) {
        configError(() => parseExpiry(v), 'PSOSessionExpire', v, /expected seconds, an integer expression .* or an HTTP date/);
      }
    });

    it('when an HTTP date is invalid (31 Feb), is refused', () => {
      const v = 'Sat, 31 Feb 2001 10:00:00 GMT';
      configError(() => parseExpiry(v), 'PSOSessionExpire', v, /or an HTTP date/);
    });
  });
});

describe('parseSeconds', () => {
  it('when given seconds or an expression, returns the seconds', () => {
    assert.equal(parseSeconds('60*60*24', 'PSOSessionIdleTimeout'), 86400);
    assert.equal(parseSeconds(' "30" ', 'PSOSessionLockTimeout'), 30);
  });

  it('when given a date or text, is refused with the directive name', () => {
    configError(() => parseSeconds('Mon, 15 Apr 2001 19:00:00 GMT', 'PSOSessionIdleTimeout'), 'PSOSessionIdleTimeout', 'Mon, 15 Apr 2001 19:00:00 GMT', /expected seconds/);
    configError(() => parseSeconds('ten', 'PSOSessionLockTimeout'), 'PSOSessionLockTimeout', 'ten', /expected seconds/);
  });

  it('when negative or above ten years, is refused', () => {
    configError(() => parseSeconds('-1', 'PSOSessionIdleTimeout'), 'PSOSessionIdleTimeout', '-1', /negative/);
    configError(() => parseSeconds('315360001', 'PSOSessionIdleTimeout'), 'PSOSessionIdleTimeout', '315360001', /ten years/);
  });
});
