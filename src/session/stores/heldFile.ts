// How the file store reads a session for the holder of its lock, keeps the
// file open, and writes the next version: in place into the older slot
// (slotFile.ts) where it fits, else as a new file renamed over the old one
// through the session's spare (spareFile.ts).
import { constants as fsConstants } from 'node:fs';
import { dirname } from 'node:path';
import { syncDirectory, type FsOps } from '../../util/fs.js';
import { CorruptSessionError, parseRecord, type SessionRecord } from '../SessionRecord.js';
import { HOLD, SPARE, SUFFIX } from './fileLayout.js';
import { capacityFor, encodeFile, encodeSlot, fits, readVersion, slotOffset, type SlotLayout } from './slotFile.js';
import { keepAlive, openSpare } from './spareFile.js';

/** Open a session's file to read it and later rewrite a slot in place; never through a symbolic link. */
const SESSION_FLAGS = fsConstants.O_RDWR | fsConstants.O_NOFOLLOW;

/** A session's file as the holder of its lock knows it, from its load to its release. */
export interface HeldFile {
  /** The file, open for reading and writing, once read. */
  fd: number | undefined;
  /** Where its current version lies; undefined for no file, one of the earlier format, or one unreadable. */
  layout: SlotLayout | undefined;
  /** Whether the file has other names (a backup's hard link, say): then it is never written in place. */
  shared: boolean;
  /**
   * The JSON of the version the file holds, as this hold last read or wrote
   * it; undefined while unknown (nothing read, a write that failed, a delete).
   */
  json: string | undefined;
}

export function newHeldFile(): HeldFile {
  return { fd: undefined, layout: undefined, shared: false, json: undefined };
}

/**
 * Opens and reads a session's file for the holder of its lock, keeping it
 * open for the save; undefined where there is none.
 *
 * @throws CorruptSessionError naming the file, for one that cannot be read back (it stays open: a save replaces it).
 */
export async function openHeld(ops: FsOps, file: string, held: HeldFile): Promise<SessionRecord | undefined> {
  try {
    held.fd = await ops.open(file, SESSION_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(file, e);
  }
  const fd = held.fd;
  let version: { json: string; layout: SlotLayout | undefined };
  try {
    const st = await ops.fstat(fd);
    held.shared = st.nlink > 1;
    version = await readVersion(st.size, (position, length) => ops.readAt(fd, position, length));
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const record = parseRecord(version.json);
    held.layout = version.layout;
    held.json = version.json;
    return record;
  } catch (e) {
    throw unreadable(file, e);
  }
}

/** Closes a held file (a later write opens it again, or makes it anew). */
export async function closeHeld(ops: FsOps, held: HeldFile): Promise<void> {
  const fd = held.fd;
  held.fd = undefined;
  if (fd !== undefined) await ops.close(fd);
}

/**
 * Writes the next version of a held session: into the older slot of its
 * file, in place, where it fits; else as a new file (a new layout, its slots
 * sized for the session) renamed over the old one.
 */
export async function writeHeld(ops: FsOps, file: string, fsync: boolean, held: HeldFile, json: string): Promise<void> {
  // Unknown until the write is done: a write that fails leaves either version.
  held.json = undefined;
  const length = Buffer.byteLength(json);
  if (held.fd === undefined && held.layout) {
    // The file this hold laid out itself: opened again for the next version.
    const fd = await ops.open(file, SESSION_FLAGS);
    held.fd = fd;
    held.shared = (await ops.fstat(fd)).nlink > 1;
  }
  const layout = held.layout;
  if (held.fd !== undefined && layout && !held.shared && fits(length, layout.capacity)) {
    const slot = layout.slot === 0 ? 1 : 0;
    const seq = layout.seq + 1;
    await ops.writeAt(held.fd, encodeSlot(seq, json), slotOffset(layout.capacity, slot));
    if (fsync) await ops.fsync(held.fd);
    held.layout = { capacity: layout.capacity, slot, seq };
    held.json = json;
    return;
  }
  await closeHeld(ops, held);
  held.layout = undefined;
  const capacity = capacityFor(length);
  const seq = (layout?.seq ?? 0) + 1;
  // The version replaced is not kept as a spare: a slot file's next save is in place, and the spare
  // would keep that version's data on disk for as long as the session lives.
  await replaceFile(ops, file, encodeFile(capacity, seq, json), fsync, false);
  held.layout = { capacity, slot: 0, seq };
  held.shared = false;
  held.json = json;
}

/**
 * Replaces a session's file atomically: the new content is written to a
 * spare file, then renamed over the current one. The spare is the inode of
 * an older version, rewritten in place. With `recycle` (the JSON format,
 * which replaces the file at every save) the current version is kept under
 * a second name across the rename, then becomes the next spare: no inode is
 * allocated or freed, which on ext4 costs far more than the writing itself.
 * Only the holder of the session's lock writes it.
 */
export async function replaceFile(ops: FsOps, file: string, content: string | Uint8Array, fsync: boolean, recycle = true): Promise<void> {
  const base = file.slice(0, -SUFFIX.length);
  const { fd, size } = await openSpare(ops, `${base}${SPARE}`);
  try {
    // A spare no longer than the new version is not cut to length: the write covers it all.
    await ops.rewrite(fd, content, size);
    if (fsync) await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
  const kept = recycle && (await keepAlive(ops, file, `${base}${HOLD}`));
  await ops.rename(`${base}${SPARE}`, file);
  if (kept) await ops.rename(`${base}${HOLD}`, `${base}${SPARE}`).catch(() => ops.unlink(`${base}${HOLD}`).catch(() => {}));
  // The rename itself must reach the disk too.
  if (fsync) await syncDirectory(ops, dirname(file));
}

/** A session file that cannot be read back, as the error pso shows for it. */
export function unreadable(file: string, e: unknown): CorruptSessionError {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new CorruptSessionError(`session file ${name} is a symbolic link, which pso never makes nor follows`);
  if (code !== undefined) return new CorruptSessionError(`session file ${name} cannot be read: ${(e as Error).message}`);
  return new CorruptSessionError(`session file ${name}: ${(e as Error).message}`);
}
