import assert from 'node:assert/strict';
import { checkField, locationOf } from "../../src/service/fieldValue.js";
import { InvalidHeaderError } from '../../src/index.js';

describe('fieldValue', () => {
  describe('checkField()', () => {
    it('takes tab, space, visible ASCII and U+0080-U+00FF', () => {
      checkField('X-A', '\t !~\u0080\u00ff caf\u00e9');
    });

    for (const [value, what] of [['\r', 'CR U+000D'], ['\n', 'LF U+000A'], ['\0', 'NUL U+0000'], ['\u010a', 'the character U+010A'], ['\u007f', 'the character U+007F'], ['\ud800', 'the character U+D800']] as const) {
      it(`refuses ${what} with an InvalidHeaderError that names it and where`, () => {
        assert.throws(() => checkField('X-A', `ok${value}`), (e: Error) => e instanceof InvalidHeaderError && e.message.startsWith(`header X-A has ${what.startsWith('the') ? '' : 'a '}${what} at position 2 `));
      });
    }

    it('refuses a name that is not a token', () => {
      assert.throws(() => checkField('X A', 'v'), InvalidHeaderError);
      assert.throws(() => checkField('X-\u00e9', 'v'), InvalidHeaderError);
      assert.throws(() => checkField('', 'v'), InvalidHeaderError);
    });
  });

  describe('locationOf()', () => {
    it('keeps what a URL carries as it is, %XX included', () => {
      assert.equal(locationOf("https://u:p@example.org:8/a/b;c?d=e&f=%41+g#h!$'()*,[]~"), "https://u:p@example.org:8/a/b;c?d=e&f=%41+g#h!$'()*,[]~");
    });

    it('percent-encodes the rest as UTF-8, surrogate pairs whole', () => {
      assert.equal(locationOf('/\u010d\u010a <"\\^`{|}>\u00e9\ud83d\ude00'), '/%C4%8D%C4%8A%20%3C%22%5C%5E%60%7B%7C%7D%3E%C3%A9%F0%9F%98%80');
    });

    it('refuses control characters and lone surrogates', () => {
      for (const bad of ['/a\rb', '/a\nb', '/a\0', '/a\tb', '/a\x7f', '/\ud83d', '/\ude00x']) {
        assert.throws(() => locationOf(bad), InvalidHeaderError, JSON.stringify(bad));
      }
    });
  });
});
