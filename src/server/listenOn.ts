import cluster from 'node:cluster';
import { chmod } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import { describeAddress, type ListenAddress } from './ListenAddress.js';
import { ListenError } from './ListenError.js';
import { prepareUnixSocket } from './prepareUnixSocket.js';

/**
 * Makes any `net.Server` (node:http's, or another protocol's) listen on an
 * address, and gives the address it got (with the port a port 0 was given).
 * A unix socket is made ready first (a stale file replaced, a live one
 * refused) and gets the permissions asked for; it is bound with a umask that
 * allows no more than those, so it is never open wider, even for a moment.
 * In a cluster worker the primary binds the socket (and has made it ready),
 * and the worker only shares it.
 *
 * @example
 * ```ts
 * const bound = await listenOn(http.createServer(listener), { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 });
 * ```
 */
export async function listenOn(server: Server, address: ListenAddress): Promise<ListenAddress> {
  if (address.kind === 'unix' && !cluster.isWorker) await prepareUnixSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => reject(listenError(address, e));
    server.once('error', failed);
    const listening = () => {
      server.off('error', failed);
      resolve();
    };
    if (address.kind === 'tcp') {
      server.listen(address.port, address.host, listening);
      return;
    }
    // The bind happens within listen(), synchronously, so the umask covers exactly it.
    const umask = process.umask(~address.mode & 0o777);
    try {
      server.listen(address.path, listening);
    } finally {
      process.umask(umask);
    }
  });
  if (address.kind === 'unix') {
    await chmod(address.path, address.mode);
    return address;
  }
  const bound = server.address() as AddressInfo;
  return { kind: 'tcp', host: bound.address, port: bound.port };
}

/** What went wrong in words a user can act on. */
function listenError(address: ListenAddress, e: NodeJS.ErrnoException): ListenError {
  const where = describeAddress(address);
  const other = address.kind === 'tcp' ? 'choose another --port or --listen' : 'choose another path';
  switch (e.code) {
    case 'EADDRINUSE':
      return new ListenError(where, 'the address is in use', `stop what listens there, or ${other}`, e);
    case 'EACCES':
      return address.kind === 'tcp' && address.port < 1024
        ? new ListenError(where, 'ports below 1024 need privileges', 'listen on a higher port behind a proxy, or grant CAP_NET_BIND_SERVICE', e)
        : new ListenError(where, 'permission denied', `check the permissions of its directory, or ${other}`, e);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new ListenError(where, 'this machine has no such address', 'use one of its addresses, 127.0.0.1 or 0.0.0.0', e);
    default:
      return new ListenError(where, e.message, other, e);
  }
}
