import * as fs from 'node:fs';
import { dirname } from 'node:path';

/**
 * The file operations the file store and its locks use, as promises, in two
 * implementations: `asyncFs` for servers (the event loop keeps running)
 * and `syncFs` for CGI processes and scripts, which serve one request
 * and gain nothing from the thread pool but its latency.
 *
 * Both go through node:fs rather than node:fs/promises, which spares a CGI
 * process loading fs/promises and the stream modules it pulls in.
 */
export interface FsOps {
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string, options: { flag: string; mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options: { recursive: boolean; mode: number }): Promise<void>;
  lstat(path: string): Promise<fs.Stats>;
  stat(path: string): Promise<fs.Stats>;
  readdir(path: string): Promise<string[]>;
  open(path: string, flags: string | number, mode?: number): Promise<number>;
  /**
   * Replaces the whole content of an open file. `size`, the file's length
   * before, when known: a file no longer than the new content needs no
   * cutting to length (one system call fewer).
   */
  rewrite(fd: number, data: string | Uint8Array, size?: number): Promise<void>;
  /** `length` bytes at `position` of an open file (fewer where it ends sooner). */
  readAt(fd: number, position: number, length: number): Promise<Buffer>;
  /** Writes all of `data` at `position` of an open file, the rest of it unchanged. */
  writeAt(fd: number, data: Uint8Array, position: number): Promise<void>;
  fstat(fd: number): Promise<fs.Stats>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
}

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}
const done = (cb: (err: NodeJS.ErrnoException | null, value: void) => void) => (e: NodeJS.ErrnoException | null) => cb(e, undefined);

/** {@link FsOps} on node:fs callbacks (the thread pool). */
export const asyncFs: FsOps = {
  readFile: (path) => call((cb) => fs.readFile(path, 'utf8', cb)),
  writeFile: (path, data, options) => call<void>((cb) => fs.writeFile(path, data, options, done(cb))),
  rename: (from, to) => call<void>((cb) => fs.rename(from, to, done(cb))),
  link: (existing, newPath) => call<void>((cb) => fs.link(existing, newPath, done(cb))),
  unlink: (path) => call<void>((cb) => fs.unlink(path, done(cb))),
  mkdir: (path, options) => call<void>((cb) => fs.mkdir(path, options, done(cb))),
  lstat: (path) => call((cb) => fs.lstat(path, cb)),
  stat: (path) => call((cb) => fs.stat(path, cb)),
  readdir: (path) => call((cb) => fs.readdir(path, cb)),
  open: (path, flags, mode) => call((cb) => fs.open(path, flags, mode, cb)),
  rewrite: async (fd, data, size) => {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    await asyncFs.writeAt(fd, buf, 0);
    if (size === undefined || size > buf.length) await call<void>((cb) => fs.ftruncate(fd, buf.length, done(cb)));
  },
  readAt: async (fd, position, length) => {
    const buf = Buffer.allocUnsafe(length);
    let at = 0;
    while (at < length) {
      const n = await call<number>((cb) => fs.read(fd, buf, at, length - at, position + at, cb));
      if (n === 0) break;
      at += n;
    }
    return at < length ? buf.subarray(0, at) : buf;
  },
  writeAt: async (fd, data, position) => {
    // write() may take part (a disk short of space takes what fits): the rest follows, or the error comes.
    for (let at = 0; at < data.length;) at += await call<number>((cb) => fs.write(fd, data, at, data.length - at, position + at, cb));
  },
  fstat: (fd) => call((cb) => fs.fstat(fd, cb)),
  fsync: (fd) => call<void>((cb) => fs.fsync(fd, done(cb))),
  close: (fd) => call<void>((cb) => fs.close(fd, done(cb))),
};

/** {@link FsOps} on synchronous calls: the fastest for a process that serves one request. */
export const syncFs: FsOps = {
  readFile: async (path) => fs.readFileSync(path, 'utf8'),
  writeFile: async (path, data, options) => fs.writeFileSync(path, data, options),
  rename: async (from, to) => fs.renameSync(from, to),
  link: async (existing, newPath) => fs.linkSync(existing, newPath),
  unlink: async (path) => fs.unlinkSync(path),
  mkdir: async (path, options) => void fs.mkdirSync(path, options),
  lstat: async (path) => fs.lstatSync(path),
  stat: async (path) => fs.statSync(path),
  readdir: async (path) => fs.readdirSync(path),
  open: async (path, flags, mode) => fs.openSync(path, flags, mode),
  rewrite: async (fd, data, size) => {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < buf.length;) at += fs.writeSync(fd, buf, at, buf.length - at, at);
    if (size === undefined || size > buf.length) fs.ftruncateSync(fd, buf.length);
  },
  readAt: async (fd, position, length) => {
    const buf = Buffer.allocUnsafe(length);
    let at = 0;
    while (at < length) {
      const n = fs.readSync(fd, buf, at, length - at, position + at);
      if (n === 0) break;
      at += n;
    }
    return at < length ? buf.subarray(0, at) : buf;
  },
  writeAt: async (fd, data, position) => {
    for (let at = 0; at < data.length;) at += fs.writeSync(fd, data, at, data.length - at, position + at);
  },
  fstat: async (fd) => fs.fstatSync(fd),
  fsync: async (fd) => fs.fsyncSync(fd),
  close: async (fd) => fs.closeSync(fd),
};

/** Writes a new file (O_EXCL) and forces it to disk before closing it. */
export async function writeFileSynced(ops: FsOps, path: string, data: string, mode: number): Promise<void> {
  const fd = await ops.open(path, 'wx', mode);
  try {
    await ops.rewrite(fd, data);
    await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
}

/** Forces a directory's entries (a rename) to disk. */
export async function syncDirectory(ops: FsOps, path: string): Promise<void> {
  const fd = await ops.open(path, 'r');
  try {
    await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
}

/**
 * `mkdir -p`, one level at a time, each made with `mode`. Node's own
 * (`recursive: true`) never returns where mkdir says ENOENT under a parent
 * that exists, as it does in /proc: it makes the parent and tries again,
 * forever, at full CPU. Here an ENOENT after the parent was made or found is
 * final: an error (code `ENOENT`, `parent` set) that says so.
 *
 * @example
 * ```ts
 * await makeDirectories(asyncFs, '/var/lib/pso/sessions', 0o700);
 * ```
 */
export async function makeDirectories(ops: FsOps, dir: string, mode: number): Promise<void> {
  try {
    await ops.mkdir(dir, { recursive: false, mode });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
  }
  const parent = dirname(dir);
  await makeDirectories(ops, parent, mode);
  try {
    await ops.mkdir(dir, { recursive: false, mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || !(await ops.stat(parent).then((s) => s.isDirectory(), () => false))) throw e;
    throw Object.assign(
      new Error(`mkdir says ${dir} does not exist, yet ${parent} does (a file system such as /proc takes no new directory)`, { cause: e }),
      { code: 'ENOENT', parent },
    );
  }
}
