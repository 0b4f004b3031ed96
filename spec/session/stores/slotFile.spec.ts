import assert from 'node:assert/strict';
import { parseRecord, serializeRecord, type SessionRecord } from '../../../src/session/SessionRecord.js';
import {
  FILE_HEAD, SLOT_HEAD, UnreadableSessionFile, WHOLE_READ_MAX, capacityFor, crc32, currentVersion, encodeFile, encodeSlot, readVersion, slotOffset,
} from '../../../src/session/stores/slotFile.js';

/** A file's current record and where it lies, as the store reads it. */
function decodeSessionFile(bytes: Buffer): { record: SessionRecord; layout: ReturnType<typeof currentVersion>['layout'] } {
  const { json, layout } = currentVersion(bytes);
  return { record: parseRecord(json), layout };
}

const record = (n: number, pad = ''): SessionRecord => ({ data: { n, pad }, created: 1_700_000_000_000, expires: 1_900_000_000_000 });

/** A file whose slot 0 holds version `seq` and slot 1 version `seq + 1` (the current one). */
function twoVersions(capacity: number, seq: number, first: SessionRecord, second: SessionRecord): Buffer {
  const file = Buffer.alloc(slotOffset(capacity, 1));
  encodeFile(capacity, seq, serializeRecord(first)).copy(file);
  return Buffer.concat([file, encodeSlot(seq + 1, serializeRecord(second))]);
}

/** `file` with `write` applied at `at`, the first `k` bytes of it only (a write cut short), growing the file as a write would. */
function cutShort(file: Buffer, write: Buffer, at: number, k: number): Buffer {
  const out = Buffer.alloc(Math.max(file.length, at + k));
  file.copy(out);
  write.copy(out, at, 0, k);
  return out;
}

describe('slotFile (the file store\'s format)', () => {
  it('crc32 is the standard CRC-32 (check value of "123456789"), continued across calls', () => {
    const bytes = Buffer.from('123456789');
    assert.equal(crc32(bytes), 0xcbf43926);
    assert.equal(crc32(bytes, 4, 9, crc32(bytes, 0, 4)), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  it('a new file reads back its record, with slot 0 current', () => {
    const json = serializeRecord(record(1, 'é€😀'));
    const file = encodeFile(capacityFor(Buffer.byteLength(json)), 7, json);
    const { record: back, layout } = decodeSessionFile(file);
    assert.deepEqual({ ...back.data }, { n: 1, pad: 'é€😀' });
    assert.deepEqual(layout, { capacity: 512, slot: 0, seq: 7 });
    assert.equal(file.length, FILE_HEAD + SLOT_HEAD + Buffer.byteLength(json));
    assert.match(file.toString('latin1', 0, FILE_HEAD), /^#pso-slots 1 0000000512 +\n$/);
  });

  it('takes the slot with the higher sequence number, whichever slot it is', () => {
    const cap = 512;
    assert.equal(decodeSessionFile(twoVersions(cap, 3, record(3), record(4))).record.data.n, 4);
    // Slot 1 older than slot 0.
    const file = Buffer.from(twoVersions(cap, 3, record(3), record(4)));
    encodeSlot(5, serializeRecord(record(5))).copy(file, slotOffset(cap, 0));
    const { record: back, layout } = decodeSessionFile(file);
    assert.equal(back.data.n, 5);
    assert.deepEqual(layout, { capacity: cap, slot: 0, seq: 5 });
  });

  it('capacity leaves room to grow to twice the size, from 512 bytes up', () => {
    assert.equal(capacityFor(0), 512);
    assert.equal(capacityFor(216), 512);
    assert.equal(capacityFor(217), 1024);
    assert.equal(capacityFor(100_000), 262_144);
  });

  // A crash, a power cut or a full disk may stop a write after any byte; a reader without the lock may
  // read while it is under way. Either way the reader must get the version before or the new one whole.
  for (const [label, from, pad] of [['a short session', 0, 'x'], ['a session filling most of its slot', 0, 'y'.repeat(380)], ['slot 0 rewritten', 1, 'z']] as const) {
    it(`a write cut short after any byte leaves the version before readable (${label})`, () => {
      const cap = 512;
      const file = twoVersions(cap, 10, record(10, pad), record(11, pad));
      // The next version goes into the older slot: slot 0 (or slot 1 when slot 0 is current).
      let base = file;
      let target = 0 as 0 | 1;
      if (from === 1) {
        base = Buffer.from(file);
        encodeSlot(12, serializeRecord(record(12, pad))).copy(base, slotOffset(cap, 0));
        target = 1;
      }
      const before = decodeSessionFile(base).record.data.n as number;
      const write = encodeSlot(before + 1, serializeRecord(record(before + 1, `${pad}!`)));
      for (let k = 0; k <= write.length; k++) {
        const seen = decodeSessionFile(cutShort(base, write, slotOffset(cap, target), k)).record.data.n;
        assert.equal(seen, k === write.length ? before + 1 : before, `cut after ${k} of ${write.length} bytes`);
      }
    });
  }

  it('a write cut short over older bytes of the same slot (a torn page) is not taken for the new version', () => {
    const cap = 512;
    const file = twoVersions(cap, 1, record(1, 'a'.repeat(100)), record(2, 'b'.repeat(100)));
    const write = encodeSlot(3, serializeRecord(record(3, 'c'.repeat(100))));
    // Head and end written, a middle part not: the old slot's bytes show through.
    const torn = Buffer.from(file);
    write.copy(torn, slotOffset(cap, 0), 0, SLOT_HEAD + 10);
    write.copy(torn, slotOffset(cap, 0) + write.length - 10, write.length - 10);
    assert.equal(decodeSessionFile(torn).record.data.n, 2);
  });

  it('both slots torn: UnreadableSessionFile, marked torn (a reader without the lock reads again)', () => {
    const cap = 512;
    const file = Buffer.from(twoVersions(cap, 1, record(1), record(2)));
    file[slotOffset(cap, 0) + SLOT_HEAD + 3]! ^= 1;
    file[slotOffset(cap, 1) + SLOT_HEAD + 3]! ^= 1;
    assert.throws(() => decodeSessionFile(file), (e: unknown) => e instanceof UnreadableSessionFile && e.torn);
  });

  it('reads a file of the earlier format (one JSON record), with no layout', () => {
    const { record: back, layout } = decodeSessionFile(Buffer.from(serializeRecord(record(4))));
    assert.equal(back.data.n, 4);
    assert.equal(layout, undefined);
  });

  it('refuses what is not a session file, and heads that name no slot size, as not torn', () => {
    const json = serializeRecord(record(1));
    for (const bad of [
      Buffer.alloc(0),
      Buffer.from('garbage'),
      Buffer.from('#pso-slots 1 0000000512'),
      Buffer.from(encodeFile(512, 1, json).toString('latin1').replace('0000000512', '0000000016'), 'latin1'),
      Buffer.from(encodeFile(512, 1, json).toString('latin1').replace('0000000512', '00000005x2'), 'latin1'),
      Buffer.from(encodeFile(512, 1, json).toString('latin1').replace('#pso-slots 1', '#pso-slots 9'), 'latin1'),
    ]) {
      assert.throws(() => decodeSessionFile(bad), (e: unknown) => e instanceof UnreadableSessionFile && !e.torn, JSON.stringify(bad.toString('latin1')));
    }
  });

  it('a slot head whose length runs past its slot or its file is not a version', () => {
    const json = serializeRecord(record(1));
    const file = encodeFile(512, 1, json);
    // Claims more bytes than the file has.
    const long = Buffer.from(file);
    long.write('00000fff', FILE_HEAD + 14, 'latin1');
    assert.throws(() => decodeSessionFile(long), UnreadableSessionFile);
    assert.throws(() => decodeSessionFile(file.subarray(0, file.length - 1)), UnreadableSessionFile);
  });

  it('an intact slot whose JSON is not a session record is an error of its own (not a torn write)', () => {
    const file = encodeFile(512, 1, '{"data":1}');
    assert.throws(() => decodeSessionFile(file), (e: unknown) => !(e instanceof UnreadableSessionFile));
  });

  it('currentVersion gives the current JSON text of either format', () => {
    const json = serializeRecord(record(9));
    assert.equal(currentVersion(encodeFile(512, 1, json)).json, json);
    assert.equal(currentVersion(Buffer.from(json)).json, json);
  });

  it('sequence numbers outside 1..2^48-1 are refused when writing', () => {
    assert.throws(() => encodeSlot(0, '{}'), RangeError);
    assert.throws(() => encodeSlot(2 ** 48, '{}'), RangeError);
    assert.equal(currentVersion(encodeFile(512, 2 ** 48 - 1, '{}')).layout?.seq, 2 ** 48 - 1);
  });
  describe('readVersion (a file read by ranges)', () => {
    /** A reader over `file` that counts the bytes it hands out. */
    function reader(file: Buffer): { read: (position: number, length: number) => Promise<Buffer>; bytes: () => number } {
      let bytes = 0;
      return {
        read: async (position, length) => {
          const part = file.subarray(position, Math.min(file.length, position + length));
          bytes += part.length;
          return Buffer.from(part);
        },
        bytes: () => bytes,
      };
    }
    const big = (n: number, size: number) => record(n, String(n % 10).repeat(size));

    it('a small file is read whole, in one call, as currentVersion reads it', async () => {
      const file = twoVersions(512, 1, record(1), record(2));
      const r = reader(file);
      assert.deepEqual(await readVersion(file.length, r.read), currentVersion(file));
      assert.equal(r.bytes(), file.length);
    });

    for (const current of [0, 1] as const) {
      it(`a large file is read only where its newest version lies, not its spare room (slot ${current} current)`, async () => {
        const size = 100_000;
        const cap = capacityFor(size + 60);
        let file = twoVersions(cap, 1, big(1, size), big(2, size + 7));
        if (current === 0) {
          file = Buffer.from(file);
          encodeSlot(3, serializeRecord(big(3, size - 5))).copy(file, slotOffset(cap, 0));
        }
        assert.ok(file.length > WHOLE_READ_MAX);
        const r = reader(file);
        const got = await readVersion(file.length, r.read);
        assert.deepEqual(got, currentVersion(file));
        assert.equal(got.layout?.slot, current);
        assert.ok(r.bytes() < size + 300, `read ${r.bytes()} bytes of a ${file.length}-byte file for a ${size}-byte session`);
      });
    }

    it('a large file whose newest version is torn gives the one before it; both torn, a torn error', async () => {
      const size = 100_000;
      const cap = capacityFor(size + 60);
      const file = Buffer.from(twoVersions(cap, 4, big(4, size), big(5, size)));
      file[slotOffset(cap, 1) + SLOT_HEAD + 5_000]! ^= 0x20;
      assert.equal(JSON.parse((await readVersion(file.length, reader(file).read)).json).data.pad[0], '4');
      file[slotOffset(cap, 0) + SLOT_HEAD + 5_000]! ^= 0x20;
      await assert.rejects(readVersion(file.length, reader(file).read), (e: unknown) => e instanceof UnreadableSessionFile && e.torn);
    });

    it('a large file of the earlier format, and a large one that is not a session file', async () => {
      const json = Buffer.from(serializeRecord(big(6, 100_000)));
      assert.equal(JSON.parse((await readVersion(json.length, reader(json).read)).json).data.pad.length, 100_000);
      const junk = Buffer.alloc(100_000, 0x41);
      await assert.rejects(readVersion(junk.length, reader(junk).read), (e: unknown) => e instanceof UnreadableSessionFile && !e.torn);
    });
  });
});
