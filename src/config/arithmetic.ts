/**
 * Evaluates the small integer arithmetic the How-To allows in directives
 * (`SetEnv PSOSessionExpire "15*60"`), without `eval`.
 *
 * Grammar (whitespace allowed between tokens):
 * ```
 * expr   = term *( ("+" / "-") term )
 * term   = factor *( ("*" / "/") factor )
 * factor = ["-" / "+"] ( 1*DIGIT / "(" expr ")" )
 * ```
 * Division is integer division (truncating). Results must stay within
 * `Number.MAX_SAFE_INTEGER`.
 *
 * @throws SyntaxError naming the position and what was found there.
 * @example
 * ```ts
 * evaluateArithmetic('15*60');        // 900
 * evaluateArithmetic('60*60*(24+1)'); // 90000
 * ```
 */
export function evaluateArithmetic(source: string): number {
  const parser = new ArithmeticParser(source);
  const value = parser.expression();
  parser.expectEnd();
  return value;
}

const MAX_LENGTH = 256;
const MAX_DEPTH = 32;

class ArithmeticParser {
  #pos = 0;
  #depth = 0;

  constructor(readonly source: string) {
    if (source.length > MAX_LENGTH) throw new SyntaxError(`expression longer than ${MAX_LENGTH} characters`);
  }

  expression(): number {
    let value = this.term();
    for (;;) {
      const op = this.peek();
      if (op !== '+' && op !== '-') return value;
      this.#pos++;
      value = checked(op === '+' ? value + this.term() : value - this.term());
    }
  }

  expectEnd(): void {
    this.skipSpace();
    if (this.#pos < this.source.length) {
      throw new SyntaxError(`unexpected ${JSON.stringify(this.source[this.#pos])} at position ${this.#pos + 1}`);
    }
  }

  private term(): number {
    let value = this.factor();
    for (;;) {
      const op = this.peek();
      if (op !== '*' && op !== '/') return value;
      this.#pos++;
      const right = this.factor();
      if (op === '/' && right === 0) throw new SyntaxError('division by zero');
      value = checked(op === '*' ? value * right : Math.trunc(value / right));
    }
  }

  private factor(): number {
    const c = this.peek();
    if (c === '-' || c === '+') {
      this.#pos++;
      const v = this.factor();
      return c === '-' ? -v : v;
    }
    if (c === '(') {
      if (++this.#depth > MAX_DEPTH) throw new SyntaxError('parentheses nested too deeply');
      this.#pos++;
      const v = this.expression();
      if (this.peek() !== ')') throw new SyntaxError(`missing ")" at position ${this.#pos + 1}`);
      this.#pos++;
      this.#depth--;
      return v;
    }
    const start = this.#pos;
    while (this.#pos < this.source.length && isDigit(this.source.charCodeAt(this.#pos))) this.#pos++;
    if (start === this.#pos) {
      throw new SyntaxError(
        this.#pos >= this.source.length
          ? 'the expression ends where a number was expected'
          : `expected a number at position ${this.#pos + 1}, found ${JSON.stringify(this.source[this.#pos])}`,
      );
    }
    return checked(Number(this.source.slice(start, this.#pos)));
  }

  private peek(): string | undefined {
    this.skipSpace();
    return this.source[this.#pos];
  }

  private skipSpace(): void {
    while (this.#pos < this.source.length && /\s/.test(this.source[this.#pos]!)) this.#pos++;
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function checked(n: number): number {
  if (!Number.isSafeInteger(n)) throw new SyntaxError('number too large');
  return n;
}
