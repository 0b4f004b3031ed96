import { describeAddress, type ListenAddress } from '../../server/ListenAddress.js';
import { listenOn } from '../../server/listenOn.js';
import type { SessionData } from '../../session/json.js';
import type { Handler } from '../../service/ServiceCore.js';
import { resolveTimeouts } from '../ServerTimeouts.js';
import { HttpDrain } from './HttpDrain.js';
import { createRequestListener, type PsoServer, type ServeOptions } from './serve.js';

/**
 * Serves a handler with node:http on a TCP address or a unix socket: the
 * server `pso serve` runs in each worker. {@link serve} is the same for a
 * port.
 *
 * @example
 * ```ts
 * const server = await listenHttp(handler, {}, { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 });
 * process.once('SIGTERM', () => server.close(10_000));
 * ```
 */
export async function listenHttp<D extends object = SessionData>(
  handler: Handler<D>,
  options: ServeOptions,
  address: ListenAddress,
): Promise<PsoServer> {
  // Loaded here, not at the top: CGI scripts bundle this module but never serve.
  const { createServer } = await import('node:http');
  const t = resolveTimeouts(options.timeouts);
  const server = createServer({
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    // node:http looks for requests past their time every 30 s by default: a 5 s limit could last 35.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, t.headersMs / 4)),
  }, createRequestListener(handler, { ...options, timeouts: t }));
  const drain = new HttpDrain(server);
  const bound = await listenOn(server, address);
  const url = bound.kind === 'unix' ? describeAddress(bound) : `http://${describeAddress(bound)}/`;
  return {
    server,
    url,
    port: bound.kind === 'tcp' ? bound.port : 0,
    close: (graceMs?: number) => {
      if (graceMs !== undefined || drain.draining) return drain.drain(graceMs ?? Number.POSITIVE_INFINITY).then(() => undefined);
      return new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * Serves a handler with node:http on a port. (It lives here, not in
 * `serve.ts` with an on-demand `import()` of this module: that import and
 * this module's import of `serve.ts` made esbuild wrap every module of a
 * bundle for lazy start-up, 351 of them, which a bundled CGI script paid for
 * on every request, about 1.5 ms.)
 *
 * @example
 * ```ts
 * const server = await serve(handler, { port: 8080 });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export async function serve<D extends object = SessionData>(handler: Handler<D>, options: ServeOptions = {}): Promise<PsoServer> {
  const port = options.port ?? (process.env.PORT ? Number(process.env.PORT) : 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid port ${port}`);
  return listenHttp(handler, options, { kind: 'tcp', host: options.host ?? '127.0.0.1', port });
}
