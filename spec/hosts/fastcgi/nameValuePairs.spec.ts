import assert from 'node:assert/strict';
import { FastCgiProtocolError } from '../../../src/hosts/fastcgi/FastCgiProtocolError.js';
import { decodeNameValuePairs, encodeNameValuePairs } from '../../../src/hosts/fastcgi/nameValuePairs.js';
import { pairs } from '../../support/fastcgiClient.js';

function decode(bytes: Uint8Array): [string, string][] {
  const out: [string, string][] = [];
  decodeNameValuePairs(bytes, (n, v) => out.push([n, v]));
  return out;
}

describe('FastCGI name-value pairs', () => {
  it('round-trip names and values of every length class: empty, 127 (one byte), 128 and 100 000 (four bytes)', () => {
    const entries: [string, string][] = [
      ['EMPTY', ''],
      ['A'.repeat(127), 'b'.repeat(127)],
      ['C'.repeat(128), 'd'.repeat(128)],
      ['HTTP_COOKIE', 'x'.repeat(100_000)],
      ['UNICODE', 'Zoë ✓ 😀'],
    ];
    const bytes = encodeNameValuePairs(entries);
    assert.deepEqual(decode(bytes), entries);
    assert.ok(bytes.equals(pairs(entries)), 'the same bytes as the test client writes');
  });

  it('uses one byte for lengths up to 127 and four, top bit set, from 128', () => {
    assert.deepEqual([...encodeNameValuePairs([['A', 'b']])], [1, 1, 0x41, 0x62]);
    const long = encodeNameValuePairs([['A', 'x'.repeat(128)]]);
    assert.deepEqual([...long.subarray(0, 5)], [1, 0x80, 0, 0, 128]);
  });

  it('reads an empty list, and a name without value (as FCGI_GET_VALUES asks)', () => {
    assert.deepEqual(decode(Buffer.alloc(0)), []);
    assert.deepEqual(decode(Buffer.from([14, 0, ...Buffer.from('FCGI_MAX_CONNS')])), [['FCGI_MAX_CONNS', '']]);
  });

  it('refuses, as a protocol error, a value length missing, a four-byte length cut short, and lengths past the end', () => {
    for (const bad of [
      Buffer.from([3]),
      Buffer.from([3, 0x80, 0, 0]),
      Buffer.from([0x80, 0, 0]),
      Buffer.from([3, 2, 0x41, 0x42]),
      Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0x41]),
    ]) {
      assert.throws(() => decode(bad), FastCgiProtocolError, `${bad.toString('hex')}`);
    }
  });
});
