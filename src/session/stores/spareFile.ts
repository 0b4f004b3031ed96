// How the file store replaces a session's file (the JSON format at every
// save; a slot file when it is made or outgrows its slots) without
// allocating an inode per save: the spare file (an older version's inode) is
// rewritten in place, and, for the JSON format, the current version keeps a
// second name across the rename, then becomes the next spare (see
// replaceFile in heldFile.ts).
import { constants as fsConstants } from 'node:fs';
import type { FsOps } from '../../util/fs.js';

/** Open for writing, create if missing, keep the content (rewritten in place), refuse a symbolic link. */
const SPARE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW;

/**
 * Opens a session's spare file to be rewritten in place, with its length
 * (undefined for a spare made anew below: that rare path cuts to length
 * after writing, as every save once did). A spare with another name too
 * (the session's file itself, left so by two writers at once; or a backup's
 * hard link) is not written in place: the current version would change
 * under its readers, and be torn by a crash mid-write. Its name is given a
 * file of its own instead.
 */
export async function openSpare(ops: FsOps, spare: string): Promise<{ fd: number; size: number | undefined }> {
  const fd = await ops.open(spare, SPARE_FLAGS, 0o600);
  let shared: boolean;
  let size: number;
  try {
    const st = await ops.fstat(fd);
    shared = st.nlink > 1;
    size = st.size;
  } catch (e) {
    await ops.close(fd);
    throw e;
  }
  if (!shared) return { fd, size };
  await ops.close(fd);
  await ops.unlink(spare).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return { fd: await ops.open(spare, SPARE_FLAGS | fsConstants.O_EXCL, 0o600), size: undefined };
}

/**
 * Gives `file`'s inode the name `hold` too, so that renaming over `file`
 * frees nothing; false where there is no file yet or links are not supported.
 */
export async function keepAlive(ops: FsOps, file: string, hold: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await ops.link(file, hold);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Left by a crash between the two renames: it is only a second name of an older version.
      if (code === 'EEXIST' && attempt === 0) {
        await ops.unlink(hold).catch(() => {});
        continue;
      }
      if (code === 'ENOENT' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK' || code === 'EXDEV') return false;
      throw e;
    }
  }
  return false;
}
