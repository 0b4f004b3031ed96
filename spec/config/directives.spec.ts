import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/config/ConfigurationError.js';
import {
  readChoice,
  readExpiry,
  readFlag,
  readProbability,
  readSeconds,
  type DirectiveSource,
} from '../../src/config/directives.js';

function source(map: Record<string, string | undefined>): DirectiveSource {
  return { getEnviron: (k) => (Object.hasOwn(map, k) ? map[k] : undefined) };
}

function configError(fn: () => unknown, directive: string, value: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigurationError, `expected ConfigurationError, got ${String(e)}`);
    assert.equal(e.directive, directive);
    assert.equal(e.value, value);
    return true;
  });
}

describe('readExpiry', () => {
  it('when a date is more than ten years ahead, refuses it naming the directive', () => {
    configError(() => readExpiry(source({ PSOSessionExpire: 'Fri, 01 Jan 2100 00:00:00 GMT' })), 'PSOSessionExpire', 'Fri, 01 Jan 2100 00:00:00 GMT');
  });

  it('when PSOCookieSession_Max-Age is a date, refuses it: Max-Age is seconds', () => {
    configError(() => readExpiry(source({ 'PSOCookieSession_Max-Age': 'Mon, 15 Apr 2030 19:00:00 GMT' })), 'PSOCookieSession_Max-Age', 'Mon, 15 Apr 2030 19:00:00 GMT');
    assert.deepEqual(readExpiry(source({ 'PSOCookieSession_Max-Age': '3600' })), { kind: 'after', seconds: 3600 });
  });

  it('when neither directive is set, lasts until the browser closes', () => {
    assert.deepEqual(readExpiry(source({})), { kind: 'browser' });
  });

  it('when only PSOSessionExpires is set, reads it', () => {
    assert.deepEqual(readExpiry(source({ PSOSessionExpires: '15*60' })), { kind: 'after', seconds: 900 });
  });

  it('when both are set, prefers PSOSessionExpire', () => {
    assert.deepEqual(readExpiry(source({ PSOSessionExpire: '60', PSOSessionExpires: '120' })), { kind: 'after', seconds: 60 });
  });

  it('when PSOSessionExpire is set but empty, means the browser lifetime (no fallback)', () => {
    assert.deepEqual(readExpiry(source({ PSOSessionExpire: '', PSOSessionExpires: '120' })), { kind: 'browser' });
  });

  it('when given an HTTP date, ends at that time', () => {
    assert.deepEqual(readExpiry(source({ PSOSessionExpire: 'Mon, 15 Apr 2001 19:00:00 GMT' })), { kind: 'at', time: 987361200000 });
  });

  it('when invalid, names the directive it came from, every time (errors are not cached)', () => {
    for (let i = 0; i < 2; i++) {
      configError(() => readExpiry(source({ PSOSessionExpires: '-1' })), 'PSOSessionExpires', '-1');
      configError(() => readExpiry(source({ PSOSessionExpire: 'soon' })), 'PSOSessionExpire', 'soon');
    }
  });

  it('when read twice, gives equal results', () => {
    const s = source({ PSOSessionExpire: '7*7' });
    assert.deepEqual(readExpiry(s), readExpiry(s));
    assert.deepEqual(readExpiry(s), { kind: 'after', seconds: 49 });
  });
});

describe('readFlag', () => {
  it('when on, true, yes or 1 (any case, padded), is true', () => {
    for (const v of ['on', 'ON', 'true', 'Yes', '1', ' on ']) {
      assert.equal(readFlag(source({ PSODebug: v }), 'PSODebug'), true, v);
    }
  });

  it('when off, false, no or 0, is false even with a true fallback', () => {
    for (const v of ['off', 'False', 'NO', '0']) {
      assert.equal(readFlag(source({ PSODebug: v }), 'PSODebug', true), false, v);
    }
  });

  it('when unset or blank, gives the fallback', () => {
    assert.equal(readFlag(source({}), 'PSODebug'), false);
    assert.equal(readFlag(source({}), 'PSODebug', true), true);
    assert.equal(readFlag(source({ PSODebug: '  ' }), 'PSODebug', true), true);
  });

  it('when anything else, is refused naming directive and value', () => {
    for (const v of ['maybe', '2', 'onn', 'enabled']) {
      configError(() => readFlag(source({ PSOSessionFileLoader_Fsync: v }), 'PSOSessionFileLoader_Fsync'), 'PSOSessionFileLoader_Fsync', v);
    }
  });
});

describe('readChoice', () => {
  const choices = ['auto', 'file', 'process'] as const;

  it('when one of the choices (any case), returns it in lower case', () => {
    assert.equal(readChoice(source({ PSOSessionLock: 'FILE' }), 'PSOSessionLock', choices, 'auto'), 'file');
    assert.equal(readChoice(source({ PSOSessionLock: ' process ' }), 'PSOSessionLock', choices, 'auto'), 'process');
  });

  it('when unset or blank, gives the fallback', () => {
    assert.equal(readChoice(source({}), 'PSOSessionLock', choices, 'auto'), 'auto');
    assert.equal(readChoice(source({ PSOSessionLock: '' }), 'PSOSessionLock', choices, 'process'), 'process');
  });

  it('when not a choice, is refused listing the choices', () => {
    assert.throws(
      () => readChoice(source({ PSOSessionLock: 'flock' }), 'PSOSessionLock', choices, 'auto'),
      (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionLock' && e.value === 'flock' && /auto, file, process/.test(e.reason),
    );
  });
});

describe('readSeconds', () => {
  it('when set to seconds or an expression, returns the seconds', () => {
    assert.equal(readSeconds(source({ PSOSessionLockTimeout: '5' }), 'PSOSessionLockTimeout', 10), 5);
    assert.equal(readSeconds(source({ PSOSessionIdleTimeout: '60*60' }), 'PSOSessionIdleTimeout', 86400), 3600);
    assert.equal(readSeconds(source({ PSOSessionIdleTimeout: '"120"' }), 'PSOSessionIdleTimeout', 86400), 120);
  });

  it('when unset or blank, gives the fallback', () => {
    assert.equal(readSeconds(source({}), 'PSOSessionLockTimeout', 10), 10);
    assert.equal(readSeconds(source({ PSOSessionLockTimeout: ' ' }), 'PSOSessionLockTimeout', 10), 10);
  });

  it('when invalid, negative or too large, is refused every time', () => {
    for (let i = 0; i < 2; i++) {
      for (const v of ['ten', '-1', '1.5', '400000000', '15*']) {
        configError(() => readSeconds(source({ PSOSessionLockTimeout: v }), 'PSOSessionLockTimeout', 10), 'PSOSessionLockTimeout', v);
      }
    }
  });
});

describe('readProbability', () => {
  it('when a number from 0 to 1, returns it', () => {
    assert.equal(readProbability(source({ PSOSessionGCProbability: '0' }), 'PSOSessionGCProbability', 0.01), 0);
    assert.equal(readProbability(source({ PSOSessionGCProbability: '1' }), 'PSOSessionGCProbability', 0.01), 1);
    assert.equal(readProbability(source({ PSOSessionGCProbability: ' 0.25 ' }), 'PSOSessionGCProbability', 0.01), 0.25);
  });

  it('when unset or blank, gives the fallback', () => {
    assert.equal(readProbability(source({}), 'PSOSessionGCProbability', 0.01), 0.01);
    assert.equal(readProbability(source({ PSOSessionGCProbability: '' }), 'PSOSessionGCProbability', 0.5), 0.5);
  });

  it('when outside 0..1 or not a number, is refused', () => {
    for (const v of ['1.5', '-0.1', 'abc', 'NaN', 'Infinity', '1%']) {
      configError(() => readProbability(source({ PSOSessionGCProbability: v }), 'PSOSessionGCProbability', 0.01), 'PSOSessionGCProbability', v);
    }
  });
});
