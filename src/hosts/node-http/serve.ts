import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { moduleNameOf } from '../../service/moduleName.js';
import { ServiceHandler, type Handler, type HandlerOptions } from '../../service/ServiceHandler.js';
import type { SessionData } from '../../session/json.js';
import { NodeHttpRequest } from './NodeHttpRequest.js';

/** Options of {@link serve} and {@link createRequestListener}. */
export interface ServeOptions extends HandlerOptions {
  /** Port to listen on (default: env `PORT`, else 8080; 0 picks a free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Directives, as `SetEnv` would give them to a CGI script. */
  directives?: Readonly<Record<string, string>>;
  /** The bootstrap to use (default: a new {@link ServiceHandler} with the default container). */
  serviceHandler?: ServiceHandler;
}

/** A running pso server. */
export interface PsoServer {
  /** The node:http server. */
  readonly server: Server;
  /** Its address, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting connections and waits for open requests to end. */
  close(): Promise<void>;
}

/**
 * A `(req, res)` listener for node:http that runs a pso handler: the module is
 * loaded once and the handler called per request (the mod_python analogue).
 *
 * @example
 * ```ts
 * http.createServer(createRequestListener(handler, { directives: { PSOSessionExpire: '15*60' } }));
 * ```
 */
export function createRequestListener<D extends object = SessionData>(
  handler: Handler<D>,
  options: ServeOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const serviceHandler = options.serviceHandler ?? new ServiceHandler();
  const logger = serviceHandler.logger;
  const directives = { ...(options.directives ?? {}) };
  const moduleName = options.moduleName ?? moduleNameOf(process.argv[1]);
  // Resolve the session policy now, so a wiring mistake shows at start-up.
  serviceHandler.sessionImplFor(options);
  return (req, res) => {
    const request = new NodeHttpRequest<D>({ req, res, directives, moduleName, logger });
    serviceHandler.handle(request, handler, options).catch((e: unknown) => {
      // handle() never rejects; this is the last line of defence for the process.
      logger.log('error', `unhandled failure: ${(e as Error)?.stack ?? e}`);
      res.destroy();
    });
  };
}

/**
 * Serves a handler with node:http.
 *
 * @example
 * ```ts
 * const server = await serve(handler, { port: 8080 });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export async function serve<D extends object = SessionData>(handler: Handler<D>, options: ServeOptions = {}): Promise<PsoServer> {
  // Loaded here, not at the top: CGI scripts bundle this module but never serve.
  const { createServer } = await import('node:http');
  const server = createServer(createRequestListener(handler, options));
  const port = options.port ?? (process.env.PORT ? Number(process.env.PORT) : 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid port ${port}`);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    port: address.port,
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
