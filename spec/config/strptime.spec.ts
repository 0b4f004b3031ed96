import assert from 'node:assert/strict';
import { DateFormatError, parseDateWithFormat } from '../../src/config/strptime.js';

describe('parseDateWithFormat()', () => {
  it('reads the How-To example as local time, month names case-insensitive', () => {
    assert.equal(parseDateWithFormat('Mon, 15 APR 2001 19:00:00', '%a, %d %b %Y %H:%M:%S'), new Date(2001, 3, 15, 19, 0, 0).getTime());
  });

  it('reads %Z and %z as UTC and offsets', () => {
    assert.equal(parseDateWithFormat('Mon, 15 Apr 2001 19:00:00 GMT', '%a, %d %b %Y %H:%M:%S %Z'), Date.UTC(2001, 3, 15, 19));
    assert.equal(parseDateWithFormat('2001-04-15T21:00:00+0200', '%Y-%m-%dT%H:%M:%S%z'), Date.UTC(2001, 3, 15, 19));
    assert.equal(parseDateWithFormat('2001-04-15 18:30 -00:30', '%Y-%m-%d %H:%M %z'), Date.UTC(2001, 3, 15, 19));
  });

  it('reads full names, %y, %I with %p, %j and %%', () => {
    assert.equal(parseDateWithFormat('Sunday 15 April 01 07:05:09 PM UTC', '%A %d %B %y %I:%M:%S %p %Z'), Date.UTC(2001, 3, 15, 19, 5, 9));
    assert.equal(parseDateWithFormat('12 AM 1 jan 1970 z', '%I %p %d %b %Y %Z'), 0);
    assert.equal(parseDateWithFormat('2024 060 UTC', '%Y %j %Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseDateWithFormat('100% 2001 UTC', '100%% %Y %Z'), Date.UTC(2001, 0, 1));
    assert.equal(parseDateWithFormat('69', '%y'), new Date(1969, 0, 1).getTime());
  });

  // Found by spec/fuzz/config.spec.ts.
  it('reads a four-digit year below 100 as that year, not one of the 1900s', () => {
    const year5 = new Date(0);
    year5.setUTCFullYear(5, 2, 1);
    assert.equal(parseDateWithFormat('0005-03-01 +0000', '%Y-%m-%d %z'), year5.getTime());
    assert.equal(parseDateWithFormat('0005 060 UTC', '%Y %j %Z'), year5.getTime());
  });

  // Found by spec/fuzz/config.spec.ts: it was read as the first of January of the same year.
  it('refuses day 366 of a year that has 365', () => {
    assert.throws(() => parseDateWithFormat('2001 366 UTC', '%Y %j %Z'), /2001 has no day 366/);
    assert.equal(parseDateWithFormat('2000 366 UTC', '%Y %j %Z'), Date.UTC(2000, 11, 31));
  });

  it('lets one space in the format match several', () => {
    assert.equal(parseDateWithFormat('15   Apr 2001 UTC', '%d %b %Y %Z'), Date.UTC(2001, 3, 15));
  });

  it('names the offending part when the text does not match', () => {
    assert.throws(() => parseDateWithFormat('Mon, 15 Foo 2001', '%a, %d %b %Y'), /expected a month name for %b at position 9/);
    assert.throws(() => parseDateWithFormat('32 Apr 2001', '%d %b %Y'), /%d must be from 1 to 31, got 32/);
    assert.throws(() => parseDateWithFormat('15 Apr 2001 extra', '%d %b %Y'), /unexpected " extra"/);
    assert.throws(() => parseDateWithFormat('15-Apr', '%d %b'), /expected a space at position 3/);
    assert.throws(() => parseDateWithFormat('31 Feb 2001', '%d %b %Y'), /names a day that does not exist/);
    assert.throws(() => parseDateWithFormat('x', '%d'), DateFormatError);
  });

  it('refuses unknown directives and a lone %', () => {
    assert.throws(() => parseDateWithFormat('2001', '%Q'), /unknown directive "%Q"/);
    assert.throws(() => parseDateWithFormat('2001', '%Y%'), /ends with a lone "%"/);
  });
});
