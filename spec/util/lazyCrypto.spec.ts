import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fillRandom } from '../../src/util/lazyCrypto.js';

const UTIL = fileURLToPath(new URL('../../src/util/lazyCrypto.js', import.meta.url));
const IDS = fileURLToPath(new URL('../../src/session/SessionIdGenerator.js', import.meta.url));

/** Runs `body` (an ES module's text, `print(value)` in scope) in a fresh node and returns what it printed. */
function inFreshNode(body: string): unknown {
  const script = `const print = (v) => process.stdout.write(JSON.stringify(v));
const cryptoLoaded = () => process.moduleLoadList.includes('NativeModule crypto');
${body}`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('fillRandom()', () => {
  it('fills a buffer of any size with bytes that look uniform, different each time', () => {
    for (const size of [1, 20, 2560, 1 << 20]) {
      const a = fillRandom(Buffer.alloc(size));
      const b = fillRandom(Buffer.alloc(size));
      assert.equal(a.length, size);
      if (size >= 20) assert.notDeepEqual(a, b);
      if (size === 1 << 20) {
        // Each byte value about 4,096 times; a buffer left partly zero would fail.
        const counts = new Array<number>(256).fill(0);
        for (const byte of a) counts[byte]!++;
        for (const [v, c] of counts.entries()) assert.ok(c > 3500 && c < 4700, `byte ${v} seen ${c} times`);
      }
    }
  });

  (process.platform === 'linux' ? it : it.skip)('gives a process its session ids without loading node:crypto (a CGI\'s first visit)', () => {
    const r = inFreshNode(`
      const { RandomSessionIdGenerator } = await import(${JSON.stringify(IDS)});
      const ids = new RandomSessionIdGenerator();
      const made = new Set();
      for (let i = 0; i < 300; i++) made.add(ids.generate()); // more than one draw of the pool
      print({ crypto: cryptoLoaded(), distinct: made.size, wellFormed: [...made].every((id) => ids.isWellFormed(id)) });
    `);
    assert.deepEqual(r, { crypto: false, distinct: 300, wellFormed: true });
  });

  it('falls back to node:crypto when the random device cannot be read', () => {
    const r = inFreshNode(`
      const { fillRandom, useRandomDeviceForTests } = await import(${JSON.stringify(UTIL)});
      useRandomDeviceForTests('/nonexistent/urandom');
      const a = fillRandom(Buffer.alloc(32));
      const loaded = cryptoLoaded();
      useRandomDeviceForTests('/dev/urandom');
      const b = fillRandom(Buffer.alloc(32));
      print({ loaded, zero: a.every((x) => x === 0) || b.every((x) => x === 0), same: a.equals(b) });
    `);
    assert.deepEqual(r, { loaded: true, zero: false, same: false });
  });
});
