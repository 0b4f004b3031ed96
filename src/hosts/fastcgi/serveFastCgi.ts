import type { AddressInfo, Server } from 'node:net';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import { ServiceCore, type Handler } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import { createFastCgiServer, type FastCgiServerOptions } from './createFastCgiServer.js';
import { FastCgiAddressError } from './FastCgiAddressError.js';
import { formatFastCgiAddress, parseFastCgiAddress, type FastCgiAddress } from './fastCgiAddress.js';

/** Options of {@link serveFastCgi}. */
export interface ServeFastCgiOptions extends Omit<FastCgiServerOptions, 'serviceHandler'> {
  /** The bootstrap to use (default: a new {@link ServiceCore} with the default container). */
  serviceHandler?: ServiceCore;
  /** Where to listen: `unix:/absolute/path`, `HOST:PORT`, or a bare port (on 127.0.0.1). */
  address: string;
  /**
   * The mode of the unix socket (such as `0o660`), so that the web server's
   * user may connect; default: as the process's umask leaves it.
   */
  socketMode?: number;
}

/** A running FastCGI server. */
export interface FastCgiServer {
  /** The net server. */
  readonly server: Server;
  /** Where it listens: `unix:/path` or `host:port` (the port picked when 0 was asked). */
  readonly address: string;
  /** The TCP port, or undefined on a unix socket. */
  readonly port: number | undefined;
  /** Stops accepting connections and waits until every request has been handled. */
  close(): Promise<void>;
}

/**
 * Serves a handler over FastCGI, for a web server in front (Apache
 * mod_proxy_fcgi, nginx `fastcgi_pass`). Directives are given in code (and
 * by the `PSO*` variables of the environment), and each request's params
 * (`SetEnv`, `fastcgi_param`) override them.
 *
 * @example
 * ```ts
 * const server = await serveFastCgi(handler, { address: 'unix:/run/pso/app.sock', socketMode: 0o660 });
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export async function serveFastCgi<D extends object = SessionData>(handler: Handler<D>, options: ServeFastCgiOptions): Promise<FastCgiServer> {
  const where = parseFastCgiAddress(options.address);
  if (options.socketMode !== undefined && !('path' in where)) throw new FastCgiAddressError(options.address, 'a socket mode is for unix sockets only');
  // The PSO* variables of the environment under those given in code, as for serve().
  const directives = new ServerDirectives(options.directives).values;
  const handle = createFastCgiServer(handler, { ...options, directives, serviceHandler: options.serviceHandler ?? new ServiceCore() });
  await listen(handle.server, where, options.address);
  if ('path' in where && options.socketMode !== undefined) {
    await process.getBuiltinModule('node:fs/promises').chmod(where.path, options.socketMode);
  }
  const bound = 'path' in where ? where : { host: where.host, port: (handle.server.address() as AddressInfo).port };
  return {
    server: handle.server,
    address: formatFastCgiAddress(bound),
    port: 'port' in bound ? bound.port : undefined,
    close: () => handle.close(),
  };
}

/** Listens; a unix socket file left by a process that is gone is replaced, one in use is not. */
async function listen(server: Server, where: FastCgiAddress, address: string): Promise<void> {
  const attempt = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => { server.off('error', reject); resolve(); };
    if ('path' in where) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
  try {
    await attempt();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!('path' in where) || code !== 'EADDRINUSE') throw new FastCgiAddressError(address, (e as Error).message);
    if (await answers(where.path)) throw new FastCgiAddressError(address, 'another process listens on it');
    await process.getBuiltinModule('node:fs/promises').unlink(where.path).catch(() => {});
    try {
      await attempt();
    } catch (again) {
      throw new FastCgiAddressError(address, (again as Error).message);
    }
  }
}

/** Whether something accepts connections on a unix socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = process.getBuiltinModule('node:net').connect({ path });
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}
