import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { sha256, sha256Recent } from '../../src/util/sha256.js';

const SHA256 = fileURLToPath(new URL('../../src/util/sha256.js', import.meta.url));

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

  // A CGI request hashes its id once or twice: node:crypto (and OpenSSL's start) is left to servers,
  // which hash an id per request and take node:crypto's one-shot hash() after their first 16 digests.
  it('sha256Recent leaves node:crypto unloaded for a process\'s first digests, and takes it for the rest', () => {
    const script = `
      const { sha256Recent } = await import(${JSON.stringify(SHA256)});
      const loaded = () => process.moduleLoadList.includes('NativeModule crypto');
      const digests = [];
      for (let i = 0; i < 16; i++) digests.push(sha256Recent('first-' + i));
      const before = loaded();
      const crypto = process.getBuiltinModule ? process.getBuiltinModule('node:crypto') : undefined;
      let native = 0;
      if (crypto && typeof crypto.hash === 'function') {
        const hash = crypto.hash;
        crypto.hash = (...a) => (native++, hash(...a));
      }
      for (let i = 0; i < 300; i++) digests.push(sha256Recent('then-' + i));
      process.stdout.write(JSON.stringify({ before, native, digests }));
    `;
    const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { before: boolean; native: number; digests: string[] };
    assert.equal(r.before, false, 'node:crypto was loaded for the first 16 digests');
    assert.equal(r.native, 300, 'node:crypto made the digests after the first 16');
    const texts = [...Array.from({ length: 16 }, (_, i) => `first-${i}`), ...Array.from({ length: 300 }, (_, i) => `then-${i}`)];
    assert.deepEqual(r.digests, texts.map(reference));
  });

  it('sha256Recent hashes a returning visitor\'s id once while 2,048 others come between, not again', () => {
    const script = `
      const { sha256Recent } = await import(${JSON.stringify(SHA256)});
      for (let i = 0; i < 16; i++) sha256Recent('warm-' + i);
      const crypto = process.getBuiltinModule('node:crypto');
      let native = 0;
      const hash = crypto.hash;
      crypto.hash = (...a) => (native++, hash(...a));
      const ids = Array.from({ length: 2048 }, (_, i) => 'visitor-' + i);
      for (let round = 0; round < 3; round++) for (const id of ids) sha256Recent(id);
      process.stdout.write(JSON.stringify({ native }));
    `;
    const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { native: number };
    assert.equal(r.native, 2048, 'each of 2,048 ids hashed once over three rounds');
  });

  it('sha256Recent keeps no string its text was cut from (an id cut from a Cookie header keeps no header alive)', () => {
    const script = `
      const { sha256Recent } = await import(${JSON.stringify(SHA256)});
      for (let n = 0; n < 2000; n++) {
        const header = 'other=' + String(n).padStart(5, '0') + 'x'.repeat(50000) + '; counter=abcdefghijklmnopqrstuvwxy' + String(n).padStart(4, '0');
        sha256Recent(header.slice(header.length - 29));
      }
      globalThis.gc(); globalThis.gc();
      process.stdout.write(String(process.memoryUsage().heapUsed));
    `;
    const heap = Number(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' }));
    // Kept as cut, the 2,000 remembered ids would hold 2,000 headers of 50 KB: 100 MB.
    assert.ok(heap < 40e6, `heap ${(heap / 1e6).toFixed(1)} MB`);
  });
});
