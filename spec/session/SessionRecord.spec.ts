import assert from 'node:assert/strict';
import { SessionDataError } from '../../src/session/json.js';
import { CorruptSessionError, parseRecord, serializeRecord, type SessionRecord } from '../../src/session/SessionRecord.js';

function corrupt(text: string, message: RegExp): void {
  assert.throws(() => parseRecord(text), (e: unknown) => {
    assert.ok(e instanceof CorruptSessionError, `expected CorruptSessionError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

const VALID = { v: 1, created: 1000, expires: 2000, data: { a: 1 } };
const withField = (patch: Record<string, unknown>): string => JSON.stringify({ ...VALID, ...patch });

describe('serializeRecord', () => {
  it('when given a record, writes format version 1 JSON', () => {
    const text = serializeRecord({ data: { a: 1 }, created: 1000, expires: 2000 });
    assert.equal(text, '{"v":1,"created":1000,"expires":2000,"data":{"a":1}}');
  });

  it('when the record has an expiry, writes it', () => {
    const text = serializeRecord({ data: {}, created: 1, expires: 2, expiry: { kind: 'after', seconds: 900 } });
    assert.deepEqual(JSON.parse(text).expiry, { kind: 'after', seconds: 900 });
  });

  it('when the data holds something JSON cannot store, refuses it', () => {
    assert.throws(() => serializeRecord({ data: { f: (() => 1) as never }, created: 1, expires: 2 }), SessionDataError);
  });
});

describe('parseRecord', () => {
  describe('round trip', () => {
    it('when parsing what serializeRecord wrote, gives the same record', () => {
      const records: SessionRecord[] = [
        { data: { s: 'x', n: 1, list: [1, { b: true }], nil: null }, created: 1000, expires: 2000 },
        { data: {}, created: 0, expires: 1, expiry: { kind: 'browser' } },
        { data: { k: 'v' }, created: 5, expires: 6, expiry: { kind: 'after', seconds: 0 } },
        { data: {}, created: 5, expires: 6, expiry: { kind: 'at', time: 987361200000 } },
      ];
      for (const r of records) {
        const back = parseRecord(serializeRecord(r));
        assert.deepEqual({ ...back, data: { ...back.data } }, r);
      }
    });

    it('when parsed, the data has no prototype', () => {
      assert.equal(Object.getPrototypeOf(parseRecord(withField({})).data), null);
    });
  });

  describe('corrupt text', () => {
    it('when truncated, says it is not valid JSON', () => {
      const text = serializeRecord({ data: { a: 'hello' }, created: 1, expires: 2 });
      for (let cut = 0; cut < text.length; cut += 7) corrupt(text.slice(0, cut), /not valid JSON/);
    });

    it('when garbage, says it is not valid JSON', () => {
      corrupt('\0\0\0\x01garbage', /not valid JSON/);
      corrupt('a:1;b:2', /not valid JSON/);
    });

    it('when JSON but not an object, says so', () => {
      for (const t of ['null', '[]', '"x"', '42', 'true']) corrupt(t, /not a JSON object/);
    });

    it('when the version is missing or unknown, names it', () => {
      corrupt(withField({ v: 2 }), /unknown format version 2/);
      corrupt(withField({ v: '1' }), /unknown format version "1"/);
      const { v: _v, ...rest } = VALID;
      corrupt(JSON.stringify(rest), /unknown format version/);
    });

    it('when times are missing, not numbers or negative, says so', () => {
      corrupt(withField({ created: '1000' }), /invalid times/);
      corrupt(withField({ expires: null }), /invalid times/);
      corrupt(withField({ expires: -1 }), /invalid times/);
      const { created: _c, ...rest } = VALID;
      corrupt(JSON.stringify(rest), /invalid times/);
    });

    it('when data is not an object, says so', () => {
      for (const data of [null, [], 'x', 1]) corrupt(withField({ data }), /data is not an object/);
      const { data: _d, ...rest } = VALID;
      corrupt(JSON.stringify(rest), /data is not an object/);
    });

    it('when the stored expiry has a wrong shape, says so', () => {
      for (const expiry of [null, 'browser', { kind: 'later' }, { kind: 'after' }, { kind: 'after', seconds: -1 }, { kind: 'at', time: 'x' }]) {
        corrupt(withField({ expiry }), /invalid expiry/);
      }
    });

    // Found by spec/fuzz/records.spec.ts: each loaded, then failed every request of its session.
    it('when a value is one pso never writes (a time no Date holds, a lifetime past ten years), says so', () => {
      corrupt(withField({ expires: 8.64e15 + 1 }), /missing or invalid times/);
      corrupt(withField({ created: 1e300 }), /missing or invalid times/);
      corrupt(withField({ expiry: { kind: 'at', time: 8640000000000001 } }), /invalid expiry/);
      corrupt(withField({ expiry: { kind: 'after', seconds: 1e300 } }), /invalid expiry/);
      corrupt(withField({ expiry: { kind: 'after', seconds: 315360001 } }), /invalid expiry/);
      corrupt(withField({ timeouts: { absolute: 3.3e277 } }), /invalid absolute timeout/);
      corrupt(withField({ timeouts: { idle: 0.5 } }), /invalid idle timeout/);
      assert.equal(parseRecord(withField({ expires: 8.64e15, expiry: { kind: 'after', seconds: 315360000 } })).expires, 8.64e15);
    });

    it('when the data nests deeper than a session can be saved with, says so, however deep', () => {
      const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      corrupt(withField({}).replace('{"a":1}', nested(65)), /nested deeper than 64 levels/);
      corrupt(withField({}).replace('{"a":1}', `{"d":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), /nested deeper than 64 levels/);
      const kept = parseRecord(withField({}).replace('{"a":1}', nested(64)));
      assert.doesNotThrow(() => serializeRecord(kept));
    });
  });

  describe('"__proto__" in stored data', () => {
    const text = '{"v":1,"created":1,"expires":2,"data":{"__proto__":{"polluted":"yes"},"isAdmin":false}}';

    it('when parsed, does not change Object.prototype', () => {
      parseRecord(text);
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    });

    it('when parsed, keeps it as an ordinary key of the data', () => {
      const { data } = parseRecord(text);
      assert.equal(Object.getPrototypeOf(data), null);
      assert.ok(Object.hasOwn(data, '__proto__'));
      assert.deepEqual(data['__proto__'], { polluted: 'yes' });
      assert.equal((data as { polluted?: unknown }).polluted, undefined);
      assert.deepEqual(Object.keys(data), ['__proto__', 'isAdmin']);
    });

    it('when written back, keeps it', () => {
      const again = serializeRecord(parseRecord(text));
      assert.equal(again, text);
    });
  });
});
