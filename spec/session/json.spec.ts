import assert from 'node:assert/strict';
import { SessionDataError, bareObject, stringifyJson } from '../../src/session/json.js';

function refused(value: unknown, message: RegExp): void {
  assert.throws(() => stringifyJson(value), (e: unknown) => {
    assert.ok(e instanceof SessionDataError, `expected SessionDataError, got ${String(e)}`);
    assert.ok(e instanceof TypeError);
    assert.match(e.message, message);
    return true;
  });
}

describe('stringifyJson', () => {
  describe('accepted values', () => {
    it('when given JSON values, returns what JSON.stringify does', () => {
      const value = { s: 'x', n: -1.5, b: false, z: null, a: [1, 'two', [3], { four: 4 }], o: { deep: { er: true } } };
      assert.equal(stringifyJson(value), JSON.stringify(value));
      assert.equal(stringifyJson('text'), '"text"');
      assert.equal(stringifyJson(null), 'null');
      assert.equal(stringifyJson([]), '[]');
    });

    it('when an object has no prototype, accepts it', () => {
      const o = Object.create(null) as Record<string, unknown>;
      o.a = 1;
      o.nested = Object.assign(Object.create(null), { b: 2 });
      assert.equal(stringifyJson(o), '{"a":1,"nested":{"b":2}}');
    });

    it('when an object property is undefined, drops the key', () => {
      assert.equal(stringifyJson({ a: undefined, b: 1 }), '{"b":1}');
    });

    it('when an object with numeric keys holds undefined, drops the key too', () => {
      assert.equal(stringifyJson({ cart: { 0: undefined, 17: 2 } }), '{"cart":{"17":2}}');
    });

    it('when given a Date, stores its ISO string', () => {
      assert.equal(stringifyJson({ d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z"}');
    });

    it('when nested 64 levels deep, accepts it', () => {
      let v: unknown = 1;
      for (let i = 0; i < 64; i++) v = [v];
      assert.equal(stringifyJson(v), `${'['.repeat(64)}1${']'.repeat(64)}`);
    });
  });

  describe('refused values', () => {
    it('when a value is a function, names its path', () => {
      refused({ a: { b: () => 1 } }, /"a"\."b" is a function/);
      refused(() => 1, /\(root\) is a function/);
    });

    it('when an object has a toJSON method, refuses it (it would not come back)', () => {
      refused({ x: { toJSON: () => 'y' } }, /"x"\."toJSON" is a function/);
    });

    it('when a value is a symbol or a bigint, names the type', () => {
      refused({ s: Symbol('x') }, /"s" is a symbol/);
      refused({ n: 10n }, /"n" is a bigint/);
    });

    it('when a value is a Map, Set or class instance, names the class', () => {
      class Cart {
        items = [];
      }
      refused({ m: new Map() }, /"m" is a Map; sessions store JSON values only/);
      refused({ s: new Set([1]) }, /"s" is a Set/);
      refused({ c: new Cart() }, /"c" is a Cart/);
      refused({ r: /x/ }, /"r" is a RegExp/);
      refused({ b: new String('boxed') }, /"b" is a String/);
    });

    it('when a number is NaN or infinite, refuses it', () => {
      refused({ n: NaN }, /"n" is NaN, which JSON cannot store/);
      refused({ n: Infinity }, /"n" is Infinity/);
      refused([-Infinity], /"0" is -Infinity/);
    });

    it('when an array holds undefined or a hole, names the index', () => {
      refused({ list: [1, undefined, 3] }, /"list"\."1" is undefined inside an array/);
      // eslint-disable-next-line no-sparse-arrays
      refused([1, , 3], /"1" is undefined inside an array/);
    });

    it('when nested deeper than 64 levels, refuses it', () => {
      let v: unknown = 1;
      for (let i = 0; i < 66; i++) v = { k: v };
      refused(v, /nested deeper than 64 levels/);
    });
  });
});

describe('bareObject', () => {
  it('when called without a source, makes an empty object with no prototype', () => {
    const o = bareObject();
    assert.equal(Object.getPrototypeOf(o), null);
    assert.deepEqual(Object.keys(o), []);
  });

  it('when copying, keeps own enumerable keys as plain data properties', () => {
    const o = bareObject<Record<string, unknown>>({ a: 1, b: { c: 2 } });
    assert.equal(Object.getPrototypeOf(o), null);
    assert.deepEqual(Object.keys(o), ['a', 'b']);
    o.a = 5;
    delete o.b;
    assert.deepEqual({ ...o }, { a: 5 });
  });

  it('when the source has a "__proto__" key, copies it as an ordinary key', () => {
    const from = JSON.parse('{"__proto__":{"polluted":true},"x":1}') as object;
    const o = bareObject<Record<string, unknown>>(from);
    assert.equal(Object.getPrototypeOf(o), null);
    assert.ok(Object.hasOwn(o, '__proto__'));
    assert.deepEqual(o['__proto__'], { polluted: true });
    assert.equal((o as { polluted?: unknown }).polluted, undefined);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    assert.equal(stringifyJson(o), '{"__proto__":{"polluted":true},"x":1}');
  });
});
