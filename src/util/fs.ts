import * as fs from 'node:fs';

// Promise forms of the few callback-style fs calls the stores use. Going
// through node:fs rather than node:fs/promises spares a CGI process loading
// fs/promises and the stream modules it pulls in (a few milliseconds per request).

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

export const readFile = (path: string): Promise<string> => call((cb) => fs.readFile(path, 'utf8', cb));
export const writeFile = (path: string, data: string, options: { flag: string; mode: number }): Promise<void> =>
  call<void>((cb) => fs.writeFile(path, data, options, (e) => cb(e, undefined)));
export const rename = (from: string, to: string): Promise<void> => call<void>((cb) => fs.rename(from, to, (e) => cb(e, undefined)));
export const unlink = (path: string): Promise<void> => call<void>((cb) => fs.unlink(path, (e) => cb(e, undefined)));
export const mkdir = (path: string, options: { recursive: boolean; mode: number }): Promise<void> =>
  call<void>((cb) => fs.mkdir(path, options, (e) => cb(e, undefined)));
export const lstat = (path: string): Promise<fs.Stats> => call((cb) => fs.lstat(path, cb));
export const stat = (path: string): Promise<fs.Stats> => call((cb) => fs.stat(path, cb));
export const readdir = (path: string): Promise<string[]> => call((cb) => fs.readdir(path, cb));

/** Writes a new file (O_EXCL) and forces it to disk before closing it. */
export async function writeFileSynced(path: string, data: string, mode: number): Promise<void> {
  const fd = await call<number>((cb) => fs.open(path, 'wx', mode, cb));
  try {
    await call<void>((cb) => fs.writeFile(fd, data, (e) => cb(e, undefined)));
    await call<void>((cb) => fs.fsync(fd, (e) => cb(e, undefined)));
  } finally {
    await call<void>((cb) => fs.close(fd, (e) => cb(e, undefined)));
  }
}

/** Forces a directory's entries (a rename) to disk. */
export async function syncDirectory(path: string): Promise<void> {
  const fd = await call<number>((cb) => fs.open(path, 'r', cb));
  try {
    await call<void>((cb) => fs.fsync(fd, (e) => cb(e, undefined)));
  } finally {
    await call<void>((cb) => fs.close(fd, (e) => cb(e, undefined)));
  }
}
