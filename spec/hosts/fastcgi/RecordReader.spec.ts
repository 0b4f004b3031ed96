import assert from 'node:assert/strict';
import { FastCgiProtocolError } from '../../../src/hosts/fastcgi/FastCgiProtocolError.js';
import { RecordReader } from '../../../src/hosts/fastcgi/RecordReader.js';
import { T, begin, rec } from '../../support/fastcgiClient.js';

type Seen = [number, number, string];

function read(chunks: Buffer[]): Seen[] {
  const seen: Seen[] = [];
  const reader = new RecordReader((type, id, content) => seen.push([type, id, content.toString('hex')]));
  for (const c of chunks) reader.push(c);
  assert.equal(reader.pendingBytes, 0, 'nothing left over');
  return seen;
}

/** Cuts `bytes` into pieces of `size`. */
function cut(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

describe('RecordReader', () => {
  const stream = Buffer.concat([
    begin(1),
    rec(T.PARAMS, 1, 'abc', 5),
    rec(T.PARAMS, 1),
    rec(T.STDIN, 1, Buffer.alloc(70_000 - 65535 + 1000, 7)),
    rec(T.STDIN, 1, Buffer.alloc(65535, 9), 255),
    rec(T.STDIN, 1),
    rec(T.GET_VALUES, 0, 'x'),
  ]);

  it('gives the same records whether the bytes come in one read, byte by byte, or in any cut', () => {
    const whole = read([stream]);
    assert.equal(whole.length, 7);
    assert.deepEqual(whole.map(([t, id]) => [t, id]), [[T.BEGIN_REQUEST, 1], [T.PARAMS, 1], [T.PARAMS, 1], [T.STDIN, 1], [T.STDIN, 1], [T.STDIN, 1], [T.GET_VALUES, 0]]);
    assert.equal(whole[1]![2], Buffer.from('abc').toString('hex'), 'padding is not content');
    assert.deepEqual(read(cut(stream, 1)), whole);
    for (const size of [3, 7, 8, 9, 4096, 65536]) assert.deepEqual(read(cut(stream, size)), whole, `pieces of ${size}`);
  });

  it('hands on content as a view of what was read, not a copy', () => {
    const bytes = rec(T.STDIN, 2, 'hello');
    let content: Buffer | undefined;
    new RecordReader((_t, _id, c) => (content = c)).push(bytes);
    bytes[8] = 0x4a;
    assert.equal(content!.toString(), 'Jello', 'the content changes with the bytes read');
  });

  it('holds an incomplete record until the rest comes', () => {
    const seen: Seen[] = [];
    const reader = new RecordReader((type, id, c) => seen.push([type, id, c.toString()]));
    const bytes = rec(T.STDIN, 1, 'abcdef');
    reader.push(bytes.subarray(0, 10));
    assert.equal(seen.length, 0);
    assert.equal(reader.pendingBytes, 10);
    reader.push(bytes.subarray(10));
    assert.deepEqual(seen, [[T.STDIN, 1, 'abcdef']]);
  });

  it('refuses a record of another version as soon as its header is there', () => {
    const reader = new RecordReader(() => {});
    assert.throws(() => reader.push(rec(T.STDIN, 1, 'x', 0, 2)), (e: unknown) => e instanceof FastCgiProtocolError && /version 2/.test(e.message));
    const split = new RecordReader(() => {});
    split.push(Buffer.concat([begin(1), Buffer.from([0])]));
    assert.throws(() => split.push(Buffer.alloc(7)), FastCgiProtocolError);
  });
});
