import { readFileSync, type Stats } from 'node:fs';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { makeDirectories, type FsOps } from './fs.js';

/** The uid this process runs as; undefined where there are none (Windows). */
const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;

/** How {@link ensurePrivateDirectory} makes a missing directory, and what to name in errors. */
export interface PrivateDirectoryOptions {
  /** What the directory is for, in messages: "session directory", "upload directory". */
  what: string;
  /** The directive (or setting) that chose it, named in a {@link ConfigurationError}. */
  source: string;
  /**
   * Make missing parents too. A predictable default under a shared directory
   * (`/tmp/pso-sessions-<uid>`) is made without: if someone else made it first,
   * pso must find their directory and refuse it, not adopt it.
   */
  parents: boolean;
}

/**
 * Makes sure `dir` is a directory only this process's user controls, creating
 * it 0700 when missing. Refused: a symbolic link or a non-directory; a
 * directory owned by another user (root aside, who controls everything
 * anyway); one that its group or other users may write, directly or through
 * an ACL (an ACL that grants write shows in the group bits, which hold its
 * mask). Another user who controls the directory could plant a session with
 * data of their choosing, read the ids of live sessions, or break every request.
 *
 * @returns the directory's stats.
 * @throws ConfigurationError naming the directory, its owner and the fix.
 * @example
 * ```ts
 * await ensurePrivateDirectory(asyncFs, '/var/lib/pso/sessions', { what: 'session directory', source: 'PSOSessionFileLoader_Path', parents: true });
 * ```
 */
export async function ensurePrivateDirectory(ops: FsOps, dir: string, options: PrivateDirectoryOptions): Promise<Stats> {
  let info = await lstatOrUndefined(ops, dir);
  if (!info) {
    try {
      if (options.parents) await makeDirectories(ops, dir, 0o700);
      else await ops.mkdir(dir, { recursive: false, mode: 0o700 });
    } catch (e) {
      if ((e as { parent?: string }).parent !== undefined) {
        throw new ConfigurationError(options.source, dir, `the ${options.what} cannot be made: ${(e as Error).message}; choose another directory`);
      }
      // Made meanwhile, by this user's other process or by someone else: checked below either way.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    info = await ops.lstat(dir);
  }
  checkPrivate(dir, info, options);
  return info;
}

/** The checks of {@link ensurePrivateDirectory} on stats already read. */
export function checkPrivate(dir: string, info: Stats, options: Pick<PrivateDirectoryOptions, 'what' | 'source'>): void {
  if (!info.isDirectory()) {
    throw new ConfigurationError(options.source, dir, `the ${options.what} is not a directory (a symbolic link is not accepted): use a real directory of its own`);
  }
  if (uid === undefined) return;
  if (info.uid !== uid && info.uid !== 0) {
    throw new ConfigurationError(
      options.source, dir,
      `the ${options.what} belongs to ${userName(info.uid)}, not to ${userName(uid)} that this process runs as; ` +
        `a directory another user controls can plant or read sessions. Fix: chown ${uid} ${dir} && chmod 0700 ${dir}, or choose another directory`,
    );
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0');
    throw new ConfigurationError(
      options.source, dir,
      `the ${options.what} is writable by ${info.mode & 0o002 ? 'every user' : 'its group or through an ACL'} (mode ${mode}); ` +
        `only its owner may write there. Fix: chmod 0700 ${dir} (and setfacl -b ${dir} if it has an ACL)`,
    );
  }
}

async function lstatOrUndefined(ops: FsOps, dir: string): Promise<Stats | undefined> {
  try {
    return await ops.lstat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; mkdir then says so.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** `uid 33 (www-data)`, or `uid 33` when the name cannot be found. Only on the error path. */
function userName(id: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , field] = line.split(':');
      if (field === String(id)) return `uid ${id} (${name})`;
    }
  } catch {
    // no passwd file: the number alone
  }
  return `uid ${id}`;
}
