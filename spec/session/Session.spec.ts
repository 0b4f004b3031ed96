import assert from 'node:assert/strict';
import sinon from 'sinon';
import { ConfigurationError } from '../../src/config/ConfigurationError.js';
import { MAX_LIFETIME_SECONDS } from '../../src/config/expiry.js';
import { DateFormatError } from '../../src/config/strptime.js';
import { HeadersSentError } from '../../src/service/errors.js';
import type { JsonValue } from '../../src/session/json.js';
import { Session, type SessionHost } from '../../src/session/Session.js';

type Data = Record<string, JsonValue | undefined>;

function make(data: Record<string, JsonValue> = {}, host: SessionHost = { saveSession: async () => {}, renewSessionId: () => 'renewed' }, extra: { expiry?: { kind: 'after'; seconds: number } } = {}): Session<Data> {
  return new Session<Data>({ id: 'abc', isNew: false, data, created: 1234, host, ...extra });
}

describe('Session', () => {
  describe('constructor', () => {
    it('when made, exposes id, isNew and created', () => {
      const s = new Session({ id: 'x1', isNew: true, data: {}, created: 99, host: { saveSession: async () => {}, renewSessionId: () => 'renewed' } });
      assert.equal(s.id, 'x1');
      assert.equal(s.isNew, true);
      assert.equal(s.created, 99);
      assert.equal(s.expiry, undefined);
    });

    it('when the given data changes later, the session keeps its own copy', () => {
      const data: Record<string, JsonValue> = { a: 1 };
      const s = make(data);
      data.a = 2;
      data.b = 3;
      assert.equal(s.get('a'), 1);
      assert.equal(s.has('b'), false);
    });
  });

  describe('get', () => {
    it('when the key holds a value, returns it', () => {
      assert.deepEqual(make({ a: [1, 2] }).get('a'), [1, 2]);
    });

    it('when the key is missing, returns the fallback or undefined', () => {
      const s = make();
      assert.equal(s.get('missing'), undefined);
      assert.deepEqual(s.get('cart', []), []);
    });

    it('when the key holds a falsy value, returns it and not the fallback', () => {
      const s = make({ zero: 0, no: false, nil: null, empty: '' });
      assert.equal(s.get('zero', 5), 0);
      assert.equal(s.get('no', true), false);
      assert.equal(s.get('nil', 'x'), null);
      assert.equal(s.get('empty', 'x'), '');
    });

    it('when the key names an Object.prototype member, finds nothing', () => {
      const s = make();
      assert.equal(s.get('toString'), undefined);
      assert.equal(s.get('constructor', 'fb'), 'fb');
      assert.equal(s.has('hasOwnProperty'), false);
    });
  });

  describe('set', () => {
    it('when setting, stores the value and returns the session', () => {
      const s = make();
      assert.equal(s.set('a', 1), s);
      assert.equal(s.get('a'), 1);
      assert.equal(s.data.a, 1);
    });

    it('when the key is "__proto__", stores ordinary data without touching prototypes', () => {
      const s = make();
      s.set('__proto__', { polluted: true });
      assert.deepEqual(s.keys(), ['__proto__']);
      assert.deepEqual(s.get('__proto__'), { polluted: true });
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(s.serializeData(), '{"__proto__":{"polluted":true}}');
    });
  });

  describe('data', () => {
    it('when assigned directly, the change is seen by get and keys', () => {
      const s = make();
      s.data.theme = 'dark';
      assert.equal(s.get('theme'), 'dark');
      assert.deepEqual(s.keys(), ['theme']);
    });
  });

  describe('has', () => {
    it('when the key holds a value (even null), is true; otherwise false', () => {
      const s = make({ a: null });
      assert.equal(s.has('a'), true);
      assert.equal(s.has('b'), false);
    });
  });

  describe('delete', () => {
    it('when the key was there, removes it and returns true', () => {
      const s = make({ a: 1, b: 2 });
      assert.equal(s.delete('a'), true);
      assert.deepEqual(s.keys(), ['b']);
    });

    it('when the key was not there, returns false', () => {
      assert.equal(make().delete('a'), false);
    });
  });

  describe('clear', () => {
    it('when called, removes every key', () => {
      const s = make({ a: 1, b: 2 });
      s.clear();
      assert.deepEqual(s.keys(), []);
      assert.equal(s.get('a'), undefined);
    });
  });

  describe('keys', () => {
    it('when keys are added, lists them in insertion order', () => {
      const s = make({ b: 1 });
      s.set('a', 2);
      s.set('c', 3);
      assert.deepEqual(s.keys(), ['b', 'a', 'c']);
    });
  });

  describe('increment', () => {
    it('when the key is missing, starts at 0 and returns 1', () => {
      const s = make();
      assert.equal(s.increment('reloads'), 1);
      assert.equal(s.increment('reloads'), 2);
      assert.equal(s.get('reloads'), 2);
    });

    it('when given a step, adds it (negative too)', () => {
      const s = make({ n: 10 });
      assert.equal(s.increment('n', 5), 15);
      assert.equal(s.increment('n', -20), -5);
    });

    it('when the key holds a non-number, throws TypeError and leaves it', () => {
      const s = make({ str: '1', nil: null, obj: {}, list: [] });
      assert.throws(() => s.increment('str'), { name: 'TypeError', message: 'session value "str" is a string, not a number' });
      assert.throws(() => s.increment('nil'), { name: 'TypeError', message: 'session value "nil" is a object, not a number' });
      assert.throws(() => s.increment('obj'), TypeError);
      assert.throws(() => s.increment('list'), TypeError);
      assert.equal(s.get('str'), '1');
      assert.equal(s.get('nil'), null);
    });
  });

  describe('expire', () => {
    it('when called without arguments, lasts until the browser closes', () => {
      assert.deepEqual(make().expire().expiry, { kind: 'browser' });
    });

    it('when given 0, ends right away', () => {
      assert.deepEqual(make().expire(0).expiry, { kind: 'after', seconds: 0 });
    });

    it('when given seconds, lasts that long after the last request (whole seconds)', () => {
      assert.deepEqual(make().expire(900).expiry, { kind: 'after', seconds: 900 });
      assert.deepEqual(make().expire(90.9).expiry, { kind: 'after', seconds: 90 });
      assert.deepEqual(make().expire(MAX_LIFETIME_SECONDS).expiry, { kind: 'after', seconds: MAX_LIFETIME_SECONDS });
    });

    it('when given a negative, infinite, NaN or too large value, throws RangeError and keeps the old expiry', () => {
      const s = make().expire(60);
      for (const bad of [-1, NaN, Infinity, -Infinity, MAX_LIFETIME_SECONDS + 1]) {
        assert.throws(() => s.expire(bad), (e: unknown) => e instanceof RangeError && e.message.includes(`session.expire(${bad})`));
      }
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 60 });
    });

    it('when called, returns the session', () => {
      const s = make();
      assert.equal(s.expire(1), s);
    });

    // A whole second a day ahead: every form below must land on exactly this time.
    const target = () => (Math.floor(Date.now() / 1000) + 86400) * 1000;

    it('when given { date } in epoch seconds, ends at that time (whole milliseconds)', () => {
      const t = target();
      assert.deepEqual(make().expire({ date: t / 1000 }).expiry, { kind: 'at', time: t });
      assert.deepEqual(make().expire({ date: t / 1000 + 0.0004 }).expiry, { kind: 'at', time: t });
    });

    it('when given a Date, ends at that time', () => {
      const t = target();
      assert.deepEqual(make().expire(new Date(t)).expiry, { kind: 'at', time: t });
    });

    it('when given a date in the past, keeps it (the session ends right away)', () => {
      assert.deepEqual(make().expire(new Date(1000)).expiry, { kind: 'at', time: 1000 });
    });

    it('when given text and a strptime format, ends at the time it names', () => {
      const t = target();
      // toUTCString() is "Sun, 03 Jan 2027 12:00:00 GMT".
      assert.deepEqual(make().expire(new Date(t).toUTCString(), '%a, %d %b %Y %H:%M:%S %Z').expiry, { kind: 'at', time: t });
      // The How-To's example, without a zone, is local time.
      assert.deepEqual(make().expire('Mon, 15 APR 2001 19:00:00', '%a, %d %b %Y %H:%M:%S').expiry, { kind: 'at', time: new Date(2001, 3, 15, 19).getTime() });
    });

    it('when given text alone, reads it as the directive does: seconds, an expression or an HTTP date', () => {
      const t = target();
      assert.deepEqual(make().expire('900').expiry, { kind: 'after', seconds: 900 });
      assert.deepEqual(make().expire(' 15*60 ').expiry, { kind: 'after', seconds: 900 });
      assert.deepEqual(make().expire(new Date(t).toUTCString()).expiry, { kind: 'at', time: t });
      assert.deepEqual(make().expire('Sunday, 06-Nov-94 08:49:37 GMT').expiry, { kind: 'at', time: 784111777000 });
      assert.deepEqual(make().expire('').expiry, { kind: 'browser' });
    });

    it('when a Date or { date } is invalid, before 1970 or over ten years ahead, throws RangeError naming the form', () => {
      const s = make().expire(60);
      const tooLate = Date.now() + (MAX_LIFETIME_SECONDS + 3600) * 1000;
      const cases: [() => unknown, RegExp][] = [
        [() => s.expire(new Date('not a date')), /^session\.expire\(\): a Date must lie between 1970 and ten years from now$/],
        [() => s.expire(new Date(tooLate)), /a Date must lie between/],
        [() => s.expire(new Date(-1000)), /a Date must lie between/],
        [() => s.expire({ date: NaN }), /^session\.expire\(\): \{ date \} must lie between/],
        [() => s.expire({ date: -1 }), /\{ date \} must lie between/],
        [() => s.expire({ date: tooLate / 1000 }), /\{ date \} must lie between/],
        [() => s.expire({ date: Infinity }), /\{ date \} must lie between/],
        [() => s.expire('01 Jan 2999 UTC', '%d %b %Y %Z'), /^session\.expire\(\): the date must lie between/],
      ];
      for (const [f, message] of cases) assert.throws(f, (e: unknown) => e instanceof RangeError && message.test(e.message), String(message));
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 60 });
    });

    it('when an HTTP date is over ten years ahead, throws RangeError like a Date does', () => {
      const s = make().expire(60);
      assert.throws(() => s.expire('Fri, 01 Jan 2100 00:00:00 GMT'), (e: unknown) => e instanceof RangeError && /must lie between 1970 and ten years from now/.test(e.message));
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 60 });
    });

    it('when text does not match its format, throws DateFormatError saying where', () => {
      const s = make().expire(60);
      assert.throws(() => s.expire('15 Foo 2030', '%d %b %Y'), (e: unknown) =>
        e instanceof DateFormatError && e.message === '"15 Foo 2030" does not match "%d %b %Y": expected a month name for %b at position 4');
      assert.throws(() => s.expire('2030', '%Q'), (e: unknown) => e instanceof DateFormatError && e.message === 'format "%Q" has an unknown directive "%Q"');
      assert.throws(() => s.expire('31 Feb 2030', '%d %b %Y'), /names a day that does not exist/);
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 60 });
    });

    it('when text is neither seconds, an expression nor an HTTP date, throws ConfigurationError naming session.expire() and the text', () => {
      const s = make().expire(60);
      const cases: [string, RegExp][] = [
        ['15*60; rm -rf /', /expected seconds, an integer expression/],
        ['tomorrow', /expected seconds, an integer expression/],
        ['Mon, 32 Apr 2001 19:00:00 GMT', /expected seconds/],
        ['-5', /a lifetime cannot be negative/],
        ['10*365*24*3600+1', /more than ten years/],
        ['15*', /./],
        ['1/0', /./],
      ];
      for (const [text, reason] of cases) {
        assert.throws(() => s.expire(text), (e: unknown) =>
          e instanceof ConfigurationError && e.directive === 'session.expire()' && e.value === text && reason.test(e.reason) &&
          e.message.startsWith(`session.expire()=${JSON.stringify(text)} is invalid: `), text);
      }
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 60 });
    });

    it('when given something else, throws TypeError listing the forms', () => {
      for (const bad of [null, {}, { date: '1' }, true, [] as unknown]) {
        assert.throws(() => make().expire(bad as never), (e: unknown) => e instanceof TypeError && /takes nothing, seconds, a Date/.test(e.message), JSON.stringify(bad));
      }
    });
  });

  describe('setTimeouts', () => {
    it('when given limits, keeps them in whole seconds and returns the session', () => {
      const s = make();
      assert.equal(s.timeouts, undefined);
      assert.equal(s.setTimeouts({ idle: 30.9, absolute: 3600 }), s);
      assert.deepEqual(s.timeouts, { idle: 30, absolute: 3600 });
      assert.deepEqual(make().setTimeouts({ absolute: MAX_LIFETIME_SECONDS }).timeouts, { absolute: MAX_LIFETIME_SECONDS });
      assert.equal(s.isModified, true);
    });

    it('when given no limits, leaves both to the directives', () => {
      const s = make().setTimeouts({ idle: 60 });
      assert.equal(s.setTimeouts({}).timeouts, undefined);
      assert.equal(s.setTimeouts({ idle: undefined, absolute: undefined }).timeouts, undefined);
    });

    it('when a limit is 0, negative, NaN, infinite or over ten years, throws RangeError naming it and keeps the old limits', () => {
      const s = make().setTimeouts({ idle: 60 });
      for (const key of ['idle', 'absolute'] as const) {
        for (const bad of [0, -1, NaN, Infinity, MAX_LIFETIME_SECONDS + 1]) {
          assert.throws(() => s.setTimeouts({ idle: 10, [key]: bad }), (e: unknown) =>
            e instanceof RangeError && e.message === `session.setTimeouts(): ${key} must be from 1 to ${MAX_LIFETIME_SECONDS} seconds`, `${key}=${bad}`);
        }
      }
      assert.deepEqual(s.timeouts, { idle: 60 });
    });

    it('when reverted, goes back to the stored timeouts', () => {
      const s = new Session<Data>({ id: 'abc', isNew: false, data: {}, created: 1, timeouts: { absolute: 600 }, host: { saveSession: async () => {}, renewSessionId: () => 'renewed' } });
      s.setTimeouts({ idle: 5 });
      s.revert();
      assert.deepEqual(s.timeouts, { absolute: 600 });
      assert.equal(s.isModified, false);
    });
  });

  describe('regenerate', () => {
    it('when called, takes a new id from the host, keeps the data and retires the old id', () => {
      const host = { saveSession: sinon.stub().resolves(), renewSessionId: sinon.stub().returns('fresh') };
      const s = make({ user: 'ada' }, host);
      assert.equal(s.regenerate(), s);
      sinon.assert.calledOnceWithExactly(host.renewSessionId, s);
      assert.equal(s.id, 'fresh');
      assert.deepEqual(s.toJSON(), { user: 'ada' });
      assert.deepEqual(s.retiredIds, ['abc']);
      assert.equal(s.isNew, false);
      assert.equal(s.destroyed, false);
    });

    it('when called twice, retires both earlier ids', () => {
      let n = 0;
      const s = make({}, { saveSession: async () => {}, renewSessionId: () => `id${++n}` });
      s.regenerate().regenerate();
      assert.equal(s.id, 'id2');
      assert.deepEqual(s.retiredIds, ['abc', 'id1']);
      s.clearRetired();
      assert.deepEqual(s.retiredIds, []);
    });

    it('when the host refuses (headers sent), throws its error and changes nothing', () => {
      const s = make({ a: 1 }, { saveSession: async () => {}, renewSessionId: () => { throw new HeadersSentError('too late'); } });
      assert.throws(() => s.regenerate(), HeadersSentError);
      assert.equal(s.id, 'abc');
      assert.deepEqual(s.retiredIds, []);
    });
  });

  describe('destroy', () => {
    it('when called, empties the data, forgets expiry and timeouts, and becomes a new session under a new id', () => {
      const clock = sinon.useFakeTimers({ now: 5_000_000, toFake: ['Date'] });
      try {
        const s = make({ user: 'ada' }, undefined, { expiry: { kind: 'after', seconds: 30 } }).setTimeouts({ idle: 60 });
        assert.equal(s.destroy(), s);
        assert.equal(s.id, 'renewed');
        assert.deepEqual(s.keys(), []);
        assert.equal(s.isEmpty, true);
        assert.equal(s.isNew, true);
        assert.equal(s.destroyed, true);
        assert.equal(s.expiry, undefined);
        assert.equal(s.timeouts, undefined);
        assert.equal(s.created, 5_000_000);
        assert.deepEqual(s.retiredIds, ['abc']);
      } finally {
        clock.restore();
      }
    });

    it('when the host refuses, throws and keeps the data', () => {
      const s = make({ a: 1 }, { saveSession: async () => {}, renewSessionId: () => { throw new HeadersSentError('too late'); } });
      assert.throws(() => s.destroy(), HeadersSentError);
      assert.deepEqual(s.toJSON(), { a: 1 });
      assert.equal(s.destroyed, false);
    });

    it('when data is set afterwards, holds only the new data', () => {
      const s = make({ a: 1 }).destroy();
      s.set('b', 2);
      assert.deepEqual(s.toJSON(), { b: 2 });
      assert.equal(s.isEmpty, false);
    });
  });

  describe('revert', () => {
    it('when data changed, goes back to the data as loaded', () => {
      const s = make({ a: 1, nested: { b: [1] } });
      s.set('a', 2);
      s.set('c', 3);
      (s.data.nested as { b: number[] }).b.push(2);
      s.revert();
      assert.deepEqual(s.toJSON(), { a: 1, nested: { b: [1] } });
    });

    it('when cleared, brings the data back', () => {
      const s = make({ a: 1 });
      s.clear();
      assert.deepEqual(s.revert().keys(), ['a']);
    });

    it('when the expiry changed, restores the loaded expiry', () => {
      const s = make({}, undefined, { expiry: { kind: 'after', seconds: 30 } });
      s.expire(900);
      s.revert();
      assert.deepEqual(s.expiry, { kind: 'after', seconds: 30 });
      assert.equal(s.isModified, false);
    });

    it('when the state was marked saved, goes back to that state', () => {
      const s = make({ a: 1 });
      s.set('a', 2);
      s.markSaved(s.serializeData());
      s.set('a', 3);
      s.revert();
      assert.equal(s.get('a'), 2);
    });

    it('when reverted data holds "__proto__", keeps it as data', () => {
      const s = make(JSON.parse('{"__proto__":{"x":1}}'));
      s.set('y', 1);
      s.revert();
      assert.deepEqual(s.keys(), ['__proto__']);
      assert.equal(({} as { x?: unknown }).x, undefined);
    });
  });

  describe('isModified', () => {
    it('when nothing changed, is false', () => {
      assert.equal(make({ a: 1 }).isModified, false);
    });

    it('when data is set, deleted or cleared, is true', () => {
      const a = make({ a: 1 });
      a.set('b', 1);
      assert.equal(a.isModified, true);
      const b = make({ a: 1 });
      b.delete('a');
      assert.equal(b.isModified, true);
      const c = make({ a: 1 });
      c.clear();
      assert.equal(c.isModified, true);
    });

    it('when a nested value is changed in place, is true', () => {
      const s = make({ cart: [1] });
      (s.data.cart as number[]).push(2);
      assert.equal(s.isModified, true);
    });

    it('when a value is set to what it was, is false', () => {
      const s = make({ a: 1 });
      s.set('a', 1);
      assert.equal(s.isModified, false);
    });

    it('when the expiry is set, is true', () => {
      const s = make();
      s.expire(60);
      assert.equal(s.isModified, true);
    });

    it('when marked saved, is false again', () => {
      const s = make();
      s.set('a', 1).expire(60);
      s.markSaved(s.serializeData());
      assert.equal(s.isModified, false);
      assert.equal(s.snapshot, '{"a":1}');
    });
  });

  describe('save', () => {
    it('when called, asks the host to save this session', async () => {
      const host = { saveSession: sinon.stub().resolves(), renewSessionId: () => 'renewed' };
      const s = make({}, host);
      await s.save();
      sinon.assert.calledOnceWithExactly(host.saveSession, s);
    });

    it('when the host fails, rejects with its error', async () => {
      const s = make({}, { saveSession: sinon.stub().rejects(new Error('disk full')), renewSessionId: () => 'renewed' });
      await assert.rejects(s.save(), /disk full/);
    });
  });

  describe('serializeData', () => {
    it('when the data is JSON, returns its text', () => {
      assert.equal(make({ a: [1, 'x'] }).serializeData(), '{"a":[1,"x"]}');
    });

    it('when the data holds something else, throws SessionDataError', () => {
      const s = make();
      s.data.when = new Map() as never;
      assert.throws(() => s.serializeData(), { name: 'SessionDataError' });
    });
  });

  describe('toJSON', () => {
    it('when called, returns a copy that does not change the session', () => {
      const s = make({ a: { b: 1 } });
      const copy = s.toJSON();
      (copy.a as { b: number }).b = 2;
      assert.deepEqual(s.get('a'), { b: 1 });
      assert.equal(JSON.stringify(s), '{"a":{"b":1}}');
    });
  });

  describe('setTimeouts (limits)', () => {
    it('when a limit is under one second, throws RangeError rather than end the session at once', () => {
      assert.throws(() => make().setTimeouts({ idle: 0.5 }), RangeError);
      assert.throws(() => make().setTimeouts({ absolute: 0 }), RangeError);
    });
  });

  describe('isModified (by value)', () => {
    it('when the same expiry and timeouts are set again, is false', () => {
      const s = make({}, undefined, { expiry: { kind: 'after', seconds: 60 } });
      s.expire(60);
      assert.equal(s.isModified, false);
      s.expire(61);
      assert.equal(s.isModified, true);
    });
  });
});
