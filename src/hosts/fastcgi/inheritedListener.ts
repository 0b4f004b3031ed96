import { fstatSync, readFileSync } from 'node:fs';
import type { Handler, RunOptions, ServiceHandler } from '../../service/ServiceHandler.js';
// Imported, not loaded on demand: a bundler makes an on-demand module and all it imports (the whole
// of pso) start lazily, which costs every CGI request; this module's top level only defines functions.
import { serveListenSocket } from './serveListenSocket.js';

/** A unix socket's flags in /proc/net/unix: __SO_ACCEPTCON, set while it listens. */
const SO_ACCEPTCON = 0x10000;
/** A TCP socket's state in /proc/net/tcp: TCP_LISTEN. */
const TCP_LISTEN = '0A';

/**
 * Serves FastCGI on standard input when the process was started with a
 * listening socket there (FCGI_LISTENSOCK_FILENO, FastCGI §2.2): so Apache's
 * mod_fcgid, spawn-fcgi and the like start a FastCGI responder, and the same
 * file `pso bundle` writes runs as a CGI script or under mod_fcgid unchanged.
 * Resolves with the exit code once a signal has stopped it; undefined when
 * the process was not started so.
 *
 * A CGI request pays nothing for this: `GATEWAY_INTERFACE` answers first.
 * Otherwise one fstat of descriptor 0; only a socket there costs a look into
 * /proc, because a connected socket (mod_cgid's standard input, a pipe node
 * made) is not a listening one.
 *
 * @example
 * ```ts
 * const served = serveInheritedListener(serviceHandler, handler, options, env);
 * if (served) return served;
 * ```
 */
export function serveInheritedListener<D extends object>(
  serviceHandler: ServiceHandler,
  handler: Handler<D>,
  options: RunOptions,
  env: NodeJS.ProcessEnv,
): Promise<number> | undefined {
  if (env.GATEWAY_INTERFACE || options.stdin || options.stdout || !stdinListens()) return undefined;
  return serveListenSocket(serviceHandler, handler, options);
}

/**
 * Whether descriptor 0 is a listening socket. Linux says so in /proc (a
 * unix socket's flags, a TCP socket's state); without /proc the answer is no.
 *
 * @example
 * ```ts
 * if (stdinListens()) server.listen({ fd: 0 });
 * ```
 */
export function stdinListens(): boolean {
  let inode: number;
  try {
    const stats = fstatSync(0);
    if (!stats.isSocket()) return false;
    inode = stats.ino;
  } catch {
    return false;
  }
  return unixListens(inode) || tcpListens(inode);
}

/** /proc/net/unix: `Num RefCount Protocol Flags Type St Inode Path`, in hex but the inode. */
function unixListens(inode: number): boolean {
  const table = readProc('/proc/self/net/unix');
  const line = table && lineWithInode(table, inode, 6);
  return line !== undefined && (Number.parseInt(line[3]!, 16) & SO_ACCEPTCON) !== 0;
}

/** /proc/net/tcp and tcp6: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`. */
function tcpListens(inode: number): boolean {
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const table = readProc(file);
    const line = table && lineWithInode(table, inode, 9);
    if (line) return line[3] === TCP_LISTEN;
  }
  return false;
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** The fields of the line whose `column` is `inode`. */
function lineWithInode(table: string, inode: number, column: number): string[] | undefined {
  const wanted = String(inode);
  let from = 0;
  for (;;) {
    const at = table.indexOf(` ${wanted}`, from);
    if (at < 0) return undefined;
    from = at + 1;
    const start = table.lastIndexOf('\n', at) + 1;
    const end = table.indexOf('\n', at);
    const fields = table.slice(start, end < 0 ? undefined : end).trim().split(/\s+/);
    if (fields[column] === wanted) return fields;
  }
}
