import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';

/**
 * Where a server listens: a TCP host and port, or a unix socket with the
 * permissions it is given.
 *
 * @example
 * ```ts
 * const tcp: ListenAddress = { kind: 'tcp', host: '127.0.0.1', port: 8080 };
 * const unix: ListenAddress = { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 };
 * ```
 */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string; readonly mode: number };

/** The permissions of a unix socket when none are asked for: the owner and its group may connect. */
export const DEFAULT_SOCKET_MODE = 0o660;

/**
 * Reads `unix:/path/to.sock`, `HOST:PORT`, `[IPv6]:PORT` or a bare `PORT`
 * (on 127.0.0.1). A relative socket path is taken from the current directory.
 *
 * @example
 * ```ts
 * parseListenAddress('unix:/run/pso/app.sock');   // { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 }
 * parseListenAddress('0.0.0.0:8080');             // { kind: 'tcp', host: '0.0.0.0', port: 8080 }
 * ```
 */
export function parseListenAddress(text: string, socketMode = DEFAULT_SOCKET_MODE, option = '--listen'): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path) throw new UsageError(`${option} unix: needs a path, e.g. unix:/run/pso/app.sock`);
    return { kind: 'unix', path: resolve(path), mode: socketMode };
  }
  // [::1]:8080, host:8080, or 8080
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))?:(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined && text.includes(':'))) {
    throw new UsageError(`${option} needs unix:/path/to.sock, HOST:PORT or PORT, got ${JSON.stringify(text)}`);
  }
  return { kind: 'tcp', host: m[1] || m[2] || '127.0.0.1', port: parsePort(m[3]!, option) };
}

/**
 * A port number from the command line.
 *
 * @example
 * ```ts
 * parsePort('8080', '--port'); // 8080
 * ```
 */
export function parsePort(text: string | undefined, option: string): number {
  const port = text !== undefined && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${option} needs a number from 0 to 65535`);
  return port;
}

/**
 * Reads a unix socket's permissions written in octal (`0660`, `660`, `0o660`).
 *
 * @example
 * ```ts
 * parseSocketMode('0660'); // 0o660
 * ```
 */
export function parseSocketMode(text: string | undefined): number {
  const m = /^(?:0o?)?([0-7]{1,3})$/i.exec(text ?? '');
  if (!m) throw new UsageError(`--socket-mode needs permissions in octal, e.g. 0660, got ${JSON.stringify(text ?? '')}`);
  const mode = Number.parseInt(m[1]!, 8);
  if ((mode & 0o600) !== 0o600) throw new UsageError(`--socket-mode ${text} would lock the server out of its own socket: keep 0600 in it, e.g. 0660`);
  return mode;
}

/**
 * How an address is shown to people: `127.0.0.1:8080`, `[::1]:8080` or `unix:/run/pso/app.sock`.
 *
 * @example
 * ```ts
 * describeAddress({ kind: 'tcp', host: '::1', port: 80 }); // '[::1]:80'
 * ```
 */
export function describeAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
