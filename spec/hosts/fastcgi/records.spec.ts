import assert from 'node:assert/strict';
import { decodeHeader, encodeHeader, encodeRecord, encodeStream, endRequestBody, unknownTypeBody } from '../../../src/hosts/fastcgi/records.js';
import { ProtocolStatus, RecordType } from '../../../src/hosts/fastcgi/protocol.js';
import { parse, rec } from '../../support/fastcgiClient.js';

describe('FastCGI records', () => {
  describe('encodeHeader / decodeHeader', () => {
    it('round-trips every field at its limits, big-endian, version 1', () => {
      for (const [type, id, length, padding] of [[1, 0, 0, 0], [6, 1, 5, 3], [11, 0xffff, 0xffff, 0xff], [0xff, 0x1234, 0x0100, 7]] as const) {
        const header = encodeHeader(type, id, length, padding);
        assert.equal(header.byteLength, 8);
        assert.deepEqual(decodeHeader(header), { version: 1, type, requestId: id, contentLength: length, paddingLength: padding });
      }
      assert.deepEqual([...encodeHeader(RecordType.STDOUT, 0x0102, 0x0304, 5)], [1, 6, 1, 2, 3, 4, 5, 0]);
    });

    it('matches the headers the test client writes', () => {
      const theirs = rec(RecordType.STDIN, 300, Buffer.alloc(1000), 0);
      assert.deepEqual(encodeHeader(RecordType.STDIN, 300, 1000), theirs.subarray(0, 8));
    });

    it('refuses a field out of range, and a header cut short', () => {
      assert.throws(() => encodeHeader(6, 0x10000, 0), RangeError);
      assert.throws(() => encodeHeader(6, 1, 0x10000), RangeError);
      assert.throws(() => encodeHeader(6, 1, 0, 256), RangeError);
      assert.throws(() => encodeHeader(256, 1, 0), RangeError);
      assert.throws(() => decodeHeader(Buffer.alloc(7)), RangeError);
    });

    it('reads a header at an offset, and gives another version as found', () => {
      const bytes = Buffer.concat([Buffer.alloc(3), Buffer.from([2, 5, 0, 9, 0, 1, 0, 0])]);
      assert.deepEqual(decodeHeader(bytes, 3), { version: 2, type: 5, requestId: 9, contentLength: 1, paddingLength: 0 });
    });
  });

  describe('encodeRecord', () => {
    it('pads the content to a multiple of 8 bytes and reads back whole', () => {
      for (const n of [0, 1, 7, 8, 9, 65535]) {
        const bytes = Buffer.concat(encodeRecord(RecordType.STDOUT, 3, Buffer.alloc(n, 0x61)));
        assert.equal(bytes.byteLength % 8, 0, `${n} bytes of content`);
        const { records, rest } = parse(bytes);
        assert.equal(rest.byteLength, 0);
        assert.equal(records.length, 1);
        assert.equal(records[0]!.content.byteLength, n);
        assert.equal(records[0]!.type, RecordType.STDOUT);
        assert.equal(records[0]!.id, 3);
      }
    });

    it('refuses content of more than 65535 bytes', () => {
      assert.throws(() => encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(65536)), RangeError);
    });
  });

  describe('encodeStream', () => {
    it('cuts data into records of at most 65535 bytes that put it back together, and writes nothing for nothing', () => {
      const data = Buffer.alloc(200_003);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      const { records } = parse(Buffer.concat(encodeStream(RecordType.STDOUT, 7, data)));
      assert.ok(records.length >= 4);
      for (const r of records) {
        assert.ok(r.content.byteLength <= 65535 && r.content.byteLength > 0);
        assert.equal(r.id, 7);
      }
      assert.ok(Buffer.concat(records.map((r) => r.content)).equals(data));
      assert.deepEqual(encodeStream(RecordType.STDOUT, 7, Buffer.alloc(0)), []);
    });
  });

  describe('bodies', () => {
    it('FCGI_END_REQUEST: app status in 32 bits, then the protocol status', () => {
      assert.deepEqual([...endRequestBody(0x01020304, ProtocolStatus.UNKNOWN_ROLE)], [1, 2, 3, 4, 3, 0, 0, 0]);
      assert.deepEqual([...endRequestBody(-1, 0)].slice(0, 4), [255, 255, 255, 255]);
    });

    it('FCGI_UNKNOWN_TYPE: the type, then seven reserved bytes', () => {
      assert.deepEqual([...unknownTypeBody(42)], [42, 0, 0, 0, 0, 0, 0, 0]);
    });
  });
});
