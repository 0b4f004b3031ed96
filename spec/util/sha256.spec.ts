import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { sha256, sha256Recent } from '../../src/util/sha256.js';

const reference = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64url');

describe('sha256', () => {
  it('gives the digest node:crypto gives, for empty, ASCII, multi-byte and block-boundary texts', () => {
    // Long then short again: a short ASCII text reuses one buffer, which must not keep a longer text's bytes.
    for (const text of ['', 'abc', 'é✓𝄞', 'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'z'.repeat(119), 'z'.repeat(120), 'y'.repeat(1000), 'abc', 'q'.repeat(100), 'é'.repeat(30), 'ab']) {
      assert.equal(sha256(text), reference(text), JSON.stringify(text.slice(0, 10)));
    }
  });

  it('sha256Recent gives the same digests for texts asked again, recent or long ago', () => {
    const texts = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
    // Each text three times close together (load, lock, save), then all again much later.
    for (const t of texts) for (let k = 0; k < 3; k++) assert.equal(sha256Recent(t), reference(t));
    for (const t of texts) assert.equal(sha256Recent(t), reference(t));
    for (let i = texts.length - 1; i >= 0; i--) assert.equal(sha256Recent(texts[i]!), reference(texts[i]!));
  });
});
