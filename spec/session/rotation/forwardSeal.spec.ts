import assert from 'node:assert/strict';
import { ConfigurationError } from '../../../src/index.js';
import { openForward, sealForward } from '../../../src/session/rotation/forwardSeal.js';
import { graceMs } from '../../../src/session/rotation/rotation.js';
import { FakeRequest } from '../../support/fakeRequest.js';

const OLD = 'q3Jx0cW1b9tF0w6hXy7C2pDq4aV';
const NEW = 'Zz9Jx0cW1b9tF0w6hXy7C2pDq4a';

describe('forwardSeal', () => {
  describe('sealForward', () => {
    it('seals the new id so that only the old id opens it, and holds no trace of it', () => {
      const sealed = sealForward(OLD, NEW);
      assert.match(sealed, /^[A-Za-z0-9_-]+$/);
      assert.ok(!sealed.includes(NEW));
      assert.ok(!Buffer.from(sealed, 'base64url').toString('latin1').includes(NEW));
      assert.equal(openForward(OLD, sealed), NEW);
    });

    it('seals the same ids differently every time (a random IV)', () => {
      assert.notEqual(sealForward(OLD, NEW), sealForward(OLD, NEW));
    });
  });

  describe('openForward', () => {
    it('when the id is another, or the seal was altered or cut, opens nothing', () => {
      const sealed = sealForward(OLD, NEW);
      assert.equal(openForward(NEW, sealed), undefined);
      const bytes = Buffer.from(sealed, 'base64url');
      bytes[14] ^= 1;
      assert.equal(openForward(OLD, bytes.toString('base64url')), undefined);
      assert.equal(openForward(OLD, sealed.slice(0, -4)), undefined);
      assert.equal(openForward(OLD, 'AAAA'), undefined);
    });
  });
});

describe('graceMs', () => {
  const at = (v?: string) => graceMs(new FakeRequest({ env: v === undefined ? {} : { PSOSessionRotateGrace: v } }));

  it('is 5 seconds by default, what PSOSessionRotateGrace says otherwise, 0 to turn forwards off', () => {
    assert.equal(at(), 5_000);
    assert.equal(at('2'), 2_000);
    assert.equal(at('0'), 0);
    assert.equal(at('300'), 300_000);
  });

  it('when PSOSessionRotateGrace is over 300 seconds or not a number, is a ConfigurationError naming it', () => {
    for (const bad of ['301', 'soon']) {
      assert.throws(() => at(bad), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionRotateGrace', bad);
    }
  });
});
