import assert from 'node:assert/strict';
import { RandomSessionIdGenerator } from '../../src/session/SessionIdGenerator.js';

describe('RandomSessionIdGenerator', () => {
  const ids = new RandomSessionIdGenerator();

  it('makes well-formed ids of 160 bits, all different, across many draws from the random source', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = ids.generate();
      assert.ok(ids.isWellFormed(id), id);
      assert.equal(Buffer.from(id, 'base64url').length, 20);
      seen.add(id);
    }
    assert.equal(seen.size, 5000);
  });

  it('makes ids whose bits are spread evenly (no byte of a draw reused or left zero)', () => {
    // 4000 ids x 160 bits: each bit position is set in about half of them.
    const counts = new Array<number>(160).fill(0);
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.from(ids.generate(), 'base64url');
      for (let b = 0; b < 160; b++) if (bytes[b >> 3]! & (1 << (b & 7))) counts[b]!++;
    }
    for (const [b, c] of counts.entries()) assert.ok(c > n * 0.4 && c < n * 0.6, `bit ${b} set in ${c} of ${n}`);
  });

  it('refuses what it cannot have made', () => {
    for (const bad of ['', '../etc/passwd', 'a'.repeat(26), 'a'.repeat(28), `${'a'.repeat(26)}.`, `${'a'.repeat(26)}/`]) {
      assert.equal(ids.isWellFormed(bad), false, bad);
    }
  });
});
