import assert from 'node:assert/strict';
import { evaluateArithmetic } from '../../src/config/arithmetic.js';

function syntaxError(source: string, message: RegExp): void {
  assert.throws(() => evaluateArithmetic(source), (e: unknown) => {
    assert.ok(e instanceof SyntaxError, `expected SyntaxError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

describe('evaluateArithmetic', () => {
  describe('values', () => {
    it('when given a plain number, returns it', () => {
      assert.equal(evaluateArithmetic('900'), 900);
      assert.equal(evaluateArithmetic('0'), 0);
      assert.equal(evaluateArithmetic('007'), 7);
    });

    it('when given the How-To example "15*60", returns 900', () => {
      assert.equal(evaluateArithmetic('15*60'), 900);
    });
  });

  describe('precedence', () => {
    it('when mixing + and *, multiplies first', () => {
      assert.equal(evaluateArithmetic('2+3*4'), 14);
      assert.equal(evaluateArithmetic('2*3+4'), 10);
    });

    it('when subtracting repeatedly, associates to the left', () => {
      assert.equal(evaluateArithmetic('10-2-3'), 5);
    });

    it('when dividing repeatedly, associates to the left', () => {
      assert.equal(evaluateArithmetic('100/10/5'), 2);
      // (2*3)/4 = 1, whereas 2*(3/4) would be 0
      assert.equal(evaluateArithmetic('2*3/4'), 1);
    });
  });

  describe('parentheses', () => {
    it('when grouping, overrides precedence', () => {
      assert.equal(evaluateArithmetic('(2+3)*4'), 20);
      assert.equal(evaluateArithmetic('60*60*(24+1)'), 90000);
      assert.equal(evaluateArithmetic('((((7))))'), 7);
    });

    it('when nested 32 deep, is accepted', () => {
      assert.equal(evaluateArithmetic(`${'('.repeat(32)}5${')'.repeat(32)}`), 5);
    });

    it('when nested 33 deep, is refused', () => {
      syntaxError(`${'('.repeat(33)}5${')'.repeat(33)}`, /nested too deeply/);
    });

    it('when a ")" is missing, names the position', () => {
      syntaxError('(1+2', /missing "\)" at position 5/);
    });

    it('when a ")" is extra, names it and the position', () => {
      syntaxError('1+2)', /unexpected "\)" at position 4/);
    });

    it('when empty, is refused', () => {
      syntaxError('()', /expected a number at position 2, found "\)"/);
    });
  });

  describe('unary signs', () => {
    it('when a number is negated, returns the negative', () => {
      assert.equal(evaluateArithmetic('-5'), -5);
      assert.equal(evaluateArithmetic('2*-3'), -6);
      assert.equal(evaluateArithmetic('-(2+3)'), -5);
    });

    it('when signs repeat, applies each', () => {
      assert.equal(evaluateArithmetic('--5'), 5);
      assert.equal(evaluateArithmetic('-+-5'), 5);
      assert.equal(evaluateArithmetic('+5'), 5);
    });

    it('when a minus follows a minus operator, subtracts a negative', () => {
      assert.equal(evaluateArithmetic('1--1'), 2);
    });
  });

  describe('integer division', () => {
    it('when the quotient is not whole, truncates toward zero', () => {
      assert.equal(evaluateArithmetic('7/2'), 3);
      assert.equal(evaluateArithmetic('-7/2'), -3);
      assert.equal(evaluateArithmetic('7/-2'), -3);
      assert.equal(evaluateArithmetic('1/3'), 0);
    });

    it('when dividing by zero, is refused', () => {
      syntaxError('1/0', /division by zero/);
      syntaxError('5/(3-3)', /division by zero/);
    });
  });

  describe('whitespace', () => {
    it('when spaces, tabs and newlines surround tokens, ignores them', () => {
      assert.equal(evaluateArithmetic('  15 *\t60 '), 900);
      assert.equal(evaluateArithmetic('\n( 1 + 2 )\n* 3'), 9);
    });

    it('when a space splits a number, is refused', () => {
      syntaxError('1 2', /unexpected "2" at position 3/);
    });
  });

  describe('errors', () => {
    it('when empty, says a number was expected', () => {
      syntaxError('', /ends where a number was expected/);
      syntaxError('   ', /ends where a number was expected/);
    });

    it('when the expression ends after an operator ("15*"), says so', () => {
      syntaxError('15*', /ends where a number was expected/);
      syntaxError('15+', /ends where a number was expected/);
    });

    it('when something follows the expression ("15*60; rm -rf /"), names it and its position', () => {
      syntaxError('15*60; rm -rf /', /unexpected ";" at position 6/);
    });

    it('when given letters, names the first one and its position', () => {
      syntaxError('abc', /expected a number at position 1, found "a"/);
      syntaxError('15*x', /expected a number at position 4, found "x"/);
    });

    it('when given decimals or exponents, refuses them', () => {
      syntaxError('1.5', /unexpected "\." at position 2/);
      syntaxError('1e3', /unexpected "e" at position 2/);
      syntaxError('0x10', /unexpected "x" at position 2/);
    });

    it('when given operators JavaScript has but the grammar lacks, refuses them', () => {
      syntaxError('2**3', /expected a number at position 3, found "\*"/);
      syntaxError('7%2', /unexpected "%" at position 2/);
    });

    it('when longer than 256 characters, is refused before parsing', () => {
      const ok = `${'0'.repeat(255)}1`;
      assert.equal(ok.length, 256);
      assert.equal(evaluateArithmetic(ok), 1);
      syntaxError(`${'0'.repeat(256)}1`, /longer than 256 characters/);
      syntaxError(`1${' '.repeat(300)}`, /longer than 256 characters/);
    });
  });

  describe('large numbers', () => {
    it('when a literal is Number.MAX_SAFE_INTEGER, accepts it', () => {
      assert.equal(evaluateArithmetic(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    });

    it('when a literal is beyond Number.MAX_SAFE_INTEGER, is refused', () => {
      syntaxError(String(Number.MAX_SAFE_INTEGER + 1), /number too large/);
      syntaxError('99999999999999999999999', /number too large/);
    });

    it('when a sum, difference or product leaves the safe range, is refused', () => {
      syntaxError(`${Number.MAX_SAFE_INTEGER}+1`, /number too large/);
      syntaxError(`-${Number.MAX_SAFE_INTEGER}-2`, /number too large/);
      syntaxError('99999999*99999999', /number too large/);
    });
  });
});
