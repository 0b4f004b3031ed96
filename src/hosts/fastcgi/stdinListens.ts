import { fstatSync, readFileSync } from 'node:fs';

/** A unix socket's flags in /proc/net/unix: __SO_ACCEPTCON, set while it listens. */
const SO_ACCEPTCON = 0x10000;
/** A TCP socket's state in /proc/net/tcp: TCP_LISTEN. */
const TCP_LISTEN = '0A';

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
