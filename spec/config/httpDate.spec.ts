import assert from 'node:assert/strict';
import sinon from 'sinon';
import { formatHttpDate, parseHttpDate } from '../../src/config/httpDate.js';

// RFC 2616 §3.3.1's example instant, Sun, 06 Nov 1994 08:49:37 GMT.
const EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('parseHttpDate', () => {
  describe('RFC 1123 form', () => {
    it('when given the RFC example, returns its time', () => {
      assert.equal(EXAMPLE, 784111777000);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), EXAMPLE);
    });

    it('when given the How-To example, returns its time', () => {
      assert.equal(parseHttpDate('Mon, 15 Apr 2001 19:00:00 GMT'), 987361200000);
    });

    it('when the day has one digit, or the zone is UTC or missing, accepts it', () => {
      assert.equal(parseHttpDate('Sun, 6 Nov 1994 08:49:37 GMT'), EXAMPLE);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 UTC'), EXAMPLE);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37'), EXAMPLE);
    });

    it('when the weekday does not match the date, still accepts it', () => {
      assert.equal(parseHttpDate('Fri, 06 Nov 1994 08:49:37 GMT'), EXAMPLE);
    });

    it('when surrounded by whitespace, ignores it', () => {
      assert.equal(parseHttpDate('  Sun, 06 Nov 1994 08:49:37 GMT\n'), EXAMPLE);
    });
  });

  describe('RFC 850 form', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      clock = sinon.useFakeTimers({ now: Date.UTC(2026, 5, 1), toFake: ['Date'] });
    });
    afterEach(() => clock.restore());

    it('when given the RFC example, returns its time', () => {
      assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), EXAMPLE);
    });

    it('when the zone is missing, accepts it', () => {
      assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37'), EXAMPLE);
    });

    it('when the two-digit year is at most 50 years ahead, puts it in this century', () => {
      assert.equal(parseHttpDate('Monday, 01-Jan-30 00:00:00 GMT'), Date.UTC(2030, 0, 1));
      assert.equal(parseHttpDate('Monday, 01-Jan-76 00:00:00 GMT'), Date.UTC(2076, 0, 1));
    });

    it('when the two-digit year is more than 50 years ahead, puts it in the last century', () => {
      assert.equal(parseHttpDate('Monday, 01-Jan-77 00:00:00 GMT'), Date.UTC(1977, 0, 1));
    });

    it('when the weekday is abbreviated, refuses it', () => {
      assert.equal(parseHttpDate('Sun, 06-Nov-94 08:49:37 GMT'), undefined);
    });
  });

  describe('asctime form', () => {
    it('when given the RFC example (two spaces before a one-digit day), returns its time', () => {
      assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), EXAMPLE);
    });

    it('when the day has two digits, returns its time', () => {
      assert.equal(parseHttpDate('Wed Nov 16 08:49:37 1994'), Date.UTC(1994, 10, 16, 8, 49, 37));
    });

    it('when a zone is appended, refuses it', () => {
      assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994 GMT'), undefined);
    });
  });

  describe('case', () => {
    it('when names are in any case, accepts all three forms', () => {
      assert.equal(parseHttpDate('sun, 06 nov 1994 08:49:37 gmt'), EXAMPLE);
      assert.equal(parseHttpDate('SUN, 06 NOV 1994 08:49:37 GMT'), EXAMPLE);
      assert.equal(parseHttpDate('SUNDAY, 06-NOV-94 08:49:37 gmt'), Date.UTC(1994, 10, 6, 8, 49, 37));
      assert.equal(parseHttpDate('sUn nOv  6 08:49:37 1994'), EXAMPLE);
    });
  });

  describe('invalid dates', () => {
    it('when the day does not exist in the month, returns undefined', () => {
      assert.equal(parseHttpDate('Sat, 31 Feb 2001 10:00:00 GMT'), undefined);
      assert.equal(parseHttpDate('Thu, 29 Feb 2001 10:00:00 GMT'), undefined);
      assert.equal(parseHttpDate('Sat, 31 Apr 2001 10:00:00 GMT'), undefined);
      assert.equal(parseHttpDate('Sun Feb 30 10:00:00 2001'), undefined);
    });

    it('when 29 Feb falls in a leap year, accepts it', () => {
      assert.equal(parseHttpDate('Tue, 29 Feb 2000 10:00:00 GMT'), Date.UTC(2000, 1, 29, 10));
    });

    it('when the day is 0 or 32, returns undefined', () => {
      assert.equal(parseHttpDate('Sun, 00 Nov 1994 08:49:37 GMT'), undefined);
      assert.equal(parseHttpDate('Sun, 32 Nov 1994 08:49:37 GMT'), undefined);
    });

    it('when hour, minute or second are out of range, returns undefined', () => {
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 24:00:00 GMT'), undefined);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:60:00 GMT'), undefined);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:61 GMT'), undefined);
    });

    it('when the second is a leap second (60), keeps it within the minute', () => {
      assert.equal(parseHttpDate('Sat, 31 Dec 2016 23:59:60 GMT'), Date.UTC(2016, 11, 31, 23, 59, 59));
    });
  });

  describe('garbage', () => {
    it('when given text that is no HTTP date, returns undefined', () => {
      for (const text of [
        '',
        '   ',
        'tomorrow',
        '900',
        '2001-04-15T19:00:00Z',
        'Sun, 06 Nov 1994 08:49:37 PST',
        'Sun, 06 Nov 1994 08:49 GMT',
        'Sun, 06 Nov 94 08:49:37 GMT',
        'Xyz, 06 Nov 1994 08:49:37 GMT',
        'Sun, 06 Foo 1994 08:49:37 GMT',
        'Sun,  06 Nov 1994 08:49:37 GMT',
        'Sun, 06 Nov 1994 08:49:37 GMT; rm -rf /',
      ]) {
        assert.equal(parseHttpDate(text), undefined, JSON.stringify(text));
      }
    });
  });
});

describe('formatHttpDate', () => {
  it('when given a time, formats it as RFC 1123', () => {
    assert.equal(formatHttpDate(EXAMPLE), 'Sun, 06 Nov 1994 08:49:37 GMT');
    assert.equal(formatHttpDate(987361200000), 'Sun, 15 Apr 2001 19:00:00 GMT');
  });

  it('when formatted and parsed again, gives the same time (whole seconds)', () => {
    for (const t of [0, EXAMPLE, Date.UTC(2000, 1, 29, 23, 59, 59), Date.UTC(2099, 11, 31, 12), Math.floor(Date.now() / 1000) * 1000]) {
      assert.equal(parseHttpDate(formatHttpDate(t)), t);
    }
  });

  // Found by spec/fuzz/config.spec.ts: Date.UTC reads the years 0 to 99 as 1900 to 1999.
  it('when the year is below 100, formats and parses that year, not one of the 1900s', () => {
    const year50 = new Date(0);
    year50.setUTCFullYear(50, 0, 1);
    assert.equal(formatHttpDate(year50.getTime()), 'Sat, 01 Jan 0050 00:00:00 GMT');
    assert.equal(parseHttpDate('Sat, 01 Jan 0050 00:00:00 GMT'), year50.getTime());
    assert.equal(parseHttpDate('Sat Jan  1 00:00:00 0050'), year50.getTime());
    // The year 0 is a leap year (proleptic Gregorian), as 2000 is.
    const leapDay0 = new Date(0);
    leapDay0.setUTCFullYear(0, 1, 29);
    leapDay0.setUTCHours(12);
    assert.equal(parseHttpDate('Tue, 29 Feb 0000 12:00:00 GMT'), leapDay0.getTime());
  });

  it('when the time has milliseconds, drops them', () => {
    assert.equal(parseHttpDate(formatHttpDate(EXAMPLE + 999)), EXAMPLE);
  });
});
