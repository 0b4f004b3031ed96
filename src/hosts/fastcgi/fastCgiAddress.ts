import { isAbsolute } from 'node:path';
import { FastCgiAddressError } from './FastCgiAddressError.js';

/** Where a FastCGI server listens: a unix socket, or a TCP host and port. */
export type FastCgiAddress = { readonly path: string } | { readonly host: string; readonly port: number };

/**
 * Reads `unix:/absolute/path`, `HOST:PORT`, `[IPv6]:PORT` or a bare `PORT`
 * (on 127.0.0.1: a FastCGI port should not be reachable from elsewhere).
 *
 * @throws FastCgiAddressError naming what is wrong.
 * @example
 * ```ts
 * parseFastCgiAddress('unix:/run/pso/app.sock'); // { path: '/run/pso/app.sock' }
 * parseFastCgiAddress('127.0.0.1:9000');         // { host: '127.0.0.1', port: 9000 }
 * ```
 */
export function parseFastCgiAddress(address: string): FastCgiAddress {
  if (address.startsWith('unix:')) {
    const path = address.slice(5);
    if (!isAbsolute(path)) throw new FastCgiAddressError(address, 'a unix socket path must be absolute');
    return { path };
  }
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):)?(\d+)$/.exec(address);
  if (!m) throw new FastCgiAddressError(address, 'not a unix socket nor a host and port');
  const port = Number(m[2]);
  if (port > 65535) throw new FastCgiAddressError(address, `port ${port} is above 65535`);
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/**
 * An address as `unix:/path` or `host:port` (`[::1]:port` for IPv6).
 *
 * @example
 * ```ts
 * formatFastCgiAddress({ host: '::1', port: 9000 }); // '[::1]:9000'
 * ```
 */
export function formatFastCgiAddress(address: FastCgiAddress): string {
  if ('path' in address) return `unix:${address.path}`;
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
