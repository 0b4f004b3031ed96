import { lstat, stat, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { ListenError } from './ListenError.js';

/** How long a socket file's server has to accept a connection before the file is taken for stale. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Makes `path` free to bind a unix socket on: a socket file left by a server
 * that is gone (nothing accepts on it) is removed; a socket a server still
 * answers on, or a file that is not a socket, is refused with a
 * {@link ListenError}, so that starting a second server never takes the
 * first one's socket away.
 *
 * @example
 * ```ts
 * await prepareUnixSocket('/run/pso/app.sock');
 * server.listen('/run/pso/app.sock');
 * ```
 */
export async function prepareUnixSocket(path: string): Promise<void> {
  const where = `unix:${path}`;
  let info;
  try {
    info = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ListenError(where, (e as Error).message, 'check the path and its permissions');
    await directoryExists(path);
    return;
  }
  if (!info.isSocket()) throw new ListenError(where, 'the path exists and is not a socket', 'choose another path, or remove that file yourself');
  const probe = await probeSocket(path);
  if (probe === 'live') throw new ListenError(where, 'a server is running on that socket', 'stop that server first, or choose another path');
  if (probe !== 'stale') throw new ListenError(where, `the socket cannot be tried (${probe})`, 'check its permissions, or choose another path');
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ListenError(where, `the stale socket file cannot be removed (${(e as Error).message})`, 'remove it, or give pso write access to its directory');
    }
  }
}

async function directoryExists(path: string): Promise<void> {
  const dir = dirname(path);
  try {
    if ((await stat(dir)).isDirectory()) return;
  } catch {
    // reported below
  }
  throw new ListenError(`unix:${path}`, `the directory ${dir} does not exist`, `create it (under systemd: RuntimeDirectory=)`);
}

/** Whether something accepts connections on the socket at `path` ('live'), nothing does ('stale'), or the error code of trying. */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    const done = (result: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A listener too busy to accept within the timeout is still a listener.
    const timer = setTimeout(() => done('live'), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('live'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'stale' : (e.code ?? e.message)));
  });
}
