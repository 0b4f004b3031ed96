/**
 * An address to serve FastCGI on that cannot be used: not `unix:/path` nor
 * `HOST:PORT`, or already taken by another process.
 *
 * @example
 * ```ts
 * throw new FastCgiAddressError('unix:run/pso.sock', 'a unix socket path must be absolute');
 * ```
 */
export class FastCgiAddressError extends Error {
  override name = 'FastCgiAddressError';

  constructor(readonly address: string, reason: string) {
    super(`FastCGI address ${JSON.stringify(address)}: ${reason} (give unix:/absolute/path or HOST:PORT)`);
  }
}
