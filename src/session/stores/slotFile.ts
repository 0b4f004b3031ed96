// How the file store keeps a session in one file that it can rewrite in
// place and still never tear: two slots, each a version of the session with
// a sequence number and a checksum. A save writes the older slot (one
// pwrite); a reader takes the newest slot whose checksum holds. A write cut
// short (a crash, a power cut, a reader that reads while it is written)
// leaves the slot it was writing with a wrong checksum, and the other slot,
// the version before, whole.
//
//   offset 0         file head, 32 bytes: "#pso-slots 1 <capacity>" then spaces and "\n"
//   32               slot 0: head of 40 bytes, then the record's JSON
//   32 + capacity    slot 1: the same
//
// A slot's head is "@<seq, 12 hex> <length, 8 hex> <crc32, 8 hex>", spaces
// and "\n"; the CRC-32 covers the sequence number, the length and the JSON.
// A file may end before slot 1 (a new layout has slot 0 only). A file that
// starts with "{" is the earlier format, one JSON record, still read.
import type { FsOps } from '../../util/fs.js';
import { parseRecord, type SessionRecord } from '../SessionRecord.js';

/** The bytes before slot 0. */
export const FILE_HEAD = 32;
/** The bytes of a slot's head, before its JSON. */
export const SLOT_HEAD = 40;
const MAGIC = '#pso-slots 1 ';
/** The smallest slot (head and JSON). */
const MIN_CAPACITY = 512;
/** The largest a layout makes a slot; the spec's limits on a session's size keep far below. */
const MAX_CAPACITY = 0x7fff_ffff;
const SEQ_DIGITS = 12;
const MAX_SEQ = 16 ** SEQ_DIGITS - 1;

/** Where a session's current version lies in its file, for the next write. */
export interface SlotLayout {
  /** The bytes of each slot. */
  capacity: number;
  /** The slot of the current version, 0 or 1. */
  slot: 0 | 1;
  /** The current version's sequence number. */
  seq: number;
}

/** A file that holds no version intact: torn in both slots, or not a session file at all. */
export class UnreadableSessionFile extends Error {
  override readonly name = 'UnreadableSessionFile';
  constructor(
    message: string,
    /** A slot file whose two slots both fail their checksum: a reader without the lock may try again. */
    readonly torn = false,
  ) {
    super(message);
  }
}

let table: Int32Array | undefined;

/** CRC-32 (IEEE 802.3, as zip and PNG), continued from `crc`. In JavaScript: node:zlib's costs a CGI process 3 ms to load. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const t = (table ??= makeTable());
  let c = ~crc;
  for (let i = start; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function makeTable(): Int32Array {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
}

/** The capacity a new layout gives slots for a JSON of `length` bytes: room to grow to twice its size in place. */
export function capacityFor(length: number): number {
  const need = 2 * (SLOT_HEAD + length);
  let capacity = MIN_CAPACITY;
  while (capacity < need && capacity < MAX_CAPACITY) capacity *= 2;
  return Math.min(capacity, MAX_CAPACITY);
}

/** Whether a JSON of `length` bytes fits a slot of `capacity`. */
export function fits(length: number, capacity: number): boolean {
  return SLOT_HEAD + length <= capacity;
}

/** Where slot `slot` starts. */
export function slotOffset(capacity: number, slot: 0 | 1): number {
  return FILE_HEAD + slot * capacity;
}

/** A slot: its head, then `json` (UTF-8). */
export function encodeSlot(seq: number, json: string): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new RangeError(`session version ${seq} out of range`);
  const length = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(SLOT_HEAD + length);
  out.write(`@${hex(seq, SEQ_DIGITS)} ${hex(length, 8)} `, 0, 'latin1');
  out.write(json, SLOT_HEAD, 'utf8');
  const crc = crc32(out, SLOT_HEAD, out.length, crc32(out, 1, 23));
  out.write(`${hex(crc, 8)}${' '.repeat(SLOT_HEAD - 32)}\n`, 23, 'latin1');
  return out;
}

/** A whole new file: the head for `capacity`, then slot 0. */
export function encodeFile(capacity: number, seq: number, json: string): Buffer {
  const head = Buffer.from(`${MAGIC}${String(capacity).padStart(10, '0')}`.padEnd(FILE_HEAD - 1, ' ') + '\n', 'latin1');
  return Buffer.concat([head, encodeSlot(seq, json)]);
}

/**
 * The JSON text of a session file's current version (the newest intact slot
 * of the slot format, or the one record of the earlier format), and where it
 * lies in the file.
 *
 * @throws UnreadableSessionFile where no version is intact (`torn` when a write may be under way).
 */
export function currentVersion(bytes: Uint8Array): { json: string; layout: SlotLayout | undefined } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (buf.length > 0 && buf[0] === 0x7b /* { */) return { json: buf.toString('utf8'), layout: undefined };
  const capacity = capacityOf(buf);
  let best: { slot: 0 | 1; seq: number; start: number; end: number } | undefined;
  for (const slot of [0, 1] as const) {
    const found = readSlot(buf, slotOffset(capacity, slot), capacity);
    if (found && (!best || found.seq > best.seq)) best = { slot, ...found };
  }
  if (!best) throw new UnreadableSessionFile('no intact version in session file (both slots fail their checksum)', true);
  return { json: buf.toString('utf8', best.start, best.end), layout: { capacity, slot: best.slot, seq: best.seq } };
}

/** Reads `length` bytes at `position` of a file (fewer where it ends sooner). */
export type ReadRange = (position: number, length: number) => Promise<Buffer>;

/**
 * Files up to this size are read whole, in one call; a larger one is read
 * where its slots' heads say, so that a session's spare room (up to three
 * times its size) is never read.
 */
export const WHOLE_READ_MAX = 64 * 1024;

/**
 * {@link currentVersion} of a file of `size` bytes, read through `read`:
 * whole when small, else the file's head, slot 1's head, and the JSON of
 * the newest version (of the other, where the newest fails its checksum).
 *
 * @throws UnreadableSessionFile where no version is intact.
 */
export async function readVersion(size: number, read: ReadRange): Promise<{ json: string; layout: SlotLayout | undefined }> {
  if (size <= WHOLE_READ_MAX) return currentVersion(await read(0, size));
  const head = await read(0, FILE_HEAD + SLOT_HEAD);
  if (head[0] === 0x7b /* { */) return currentVersion(await read(0, size));
  const capacity = capacityOf(head);
  const found: { slot: 0 | 1; at: number; head: Buffer; seq: number; length: number; crc: number }[] = [];
  for (const slot of [0, 1] as const) {
    const at = slotOffset(capacity, slot);
    if (at + SLOT_HEAD > size) continue;
    const slotHeadBytes = slot === 0 ? head.subarray(FILE_HEAD) : await read(at, SLOT_HEAD);
    const parsed = slotHead(slotHeadBytes, 0, capacity);
    if (parsed && at + SLOT_HEAD + parsed.length <= size) found.push({ slot, at, head: slotHeadBytes, ...parsed });
  }
  found.sort((a, b) => b.seq - a.seq);
  for (const v of found) {
    const body = await read(v.at + SLOT_HEAD, v.length);
    if (body.length === v.length && crc32(body, 0, body.length, crc32(v.head, 1, 23)) === v.crc) {
      return { json: body.toString('utf8'), layout: { capacity, slot: v.slot, seq: v.seq } };
    }
  }
  throw new UnreadableSessionFile('no intact version in session file (both slots fail their checksum)', true);
}

/** The slot size a file's head names. @throws UnreadableSessionFile for a head that is not one. */
function capacityOf(buf: Buffer): number {
  if (buf.length < FILE_HEAD || buf.toString('latin1', 0, MAGIC.length) !== MAGIC || buf[FILE_HEAD - 1] !== 0x0a) {
    throw new UnreadableSessionFile('not a session file (neither slot format nor JSON)');
  }
  const capacity = decimal(buf.toString('latin1', MAGIC.length, MAGIC.length + 10));
  if (capacity === undefined || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) throw new UnreadableSessionFile('session file head names no valid slot size');
  return capacity;
}

/** A slot's head at `at`: its sequence number, length and checksum, or undefined where it is not one. */
function slotHead(buf: Buffer, at: number, capacity: number): { seq: number; length: number; crc: number } | undefined {
  if (at + SLOT_HEAD > buf.length || buf[at] !== 0x40 /* @ */ || buf[at + SLOT_HEAD - 1] !== 0x0a) return undefined;
  const seq = hexValue(buf, at + 1, at + 1 + SEQ_DIGITS);
  const length = hexValue(buf, at + 14, at + 22);
  const crc = hexValue(buf, at + 23, at + 31);
  if (seq === undefined || length === undefined || crc === undefined || seq < 1 || !fits(length, capacity)) return undefined;
  return { seq, length, crc };
}

/** A slot's sequence number and JSON bounds, or undefined where it is absent or fails its checksum. */
function readSlot(buf: Buffer, at: number, capacity: number): { seq: number; start: number; end: number } | undefined {
  const head = slotHead(buf, at, capacity);
  if (!head || at + SLOT_HEAD + head.length > buf.length) return undefined;
  const start = at + SLOT_HEAD;
  const end = start + head.length;
  if (crc32(buf, start, end, crc32(buf, at + 1, at + 23)) !== head.crc) return undefined;
  return { seq: head.seq, start, end };
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}

/** Lower-case hex digits only, else undefined. */
function hexValue(buf: Buffer, start: number, end: number): number | undefined {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return undefined;
    n = n * 16 + d;
  }
  return n;
}

function decimal(s: string): number | undefined {
  return /^[0-9]{10}$/.test(s) ? Number(s) : undefined;
}

/**
 * A session file's record, read without its lock: a reader that meets both
 * slots torn (a write under way, twice over while it read) reads again.
 *
 * @throws the file system's error (ENOENT where there is no file), {@link UnreadableSessionFile}, or {@link parseRecord}'s.
 */
export async function readSessionFile(ops: Pick<FsOps, 'open' | 'fstat' | 'readAt' | 'close'>, file: string): Promise<SessionRecord> {
  const fd = await ops.open(file, 'r');
  try {
    for (let attempt = 0; ; attempt++) {
      const { size } = await ops.fstat(fd);
      try {
        return parseRecord((await readVersion(size, (position, length) => ops.readAt(fd, position, length))).json);
      } catch (e) {
        if (!(e instanceof UnreadableSessionFile && e.torn) || attempt >= 2) throw e;
      }
    }
  } finally {
    await ops.close(fd);
  }
}
