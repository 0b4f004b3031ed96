import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { moduleNameOf } from '../../service/moduleName.js';
import { ServiceCore, type Handler, type HandlerOptions } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import { NodeHttpRequest } from './NodeHttpRequest.js';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import type { HttpDrain } from './HttpDrain.js';
import { TIMEOUT_DEFAULTS, type ServerTimeouts } from '../ServerTimeouts.js';
import { keepRequestsYoung, type HeapOptions } from '../../util/servingHeap.js';

/** Options of {@link serve} and {@link createRequestListener}. */
export interface ServeOptions extends HandlerOptions, HeapOptions {
  /** Port to listen on (default: env `PORT`, else 8080; 0 picks a free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Directives, as `SetEnv` would give them to a CGI script. */
  directives?: Readonly<Record<string, string>>;
  /** The bootstrap to use (default: a new {@link ServiceHandler} with the default container). */
  serviceHandler?: ServiceCore;
  /**
   * Pass `GET /favicon.ico` to the handler too. By default it is answered 404
   * without a session: browsers ask every site for it, and each ask would
   * otherwise run the handler (a page that counts visits would count two).
   */
  handleFavicon?: boolean;
  /**
   * How long the server waits on a slow or stalled client, each in
   * milliseconds; those left out keep {@link TIMEOUT_DEFAULTS}. A request
   * listener alone applies `sendMs`; the others are the server's.
   *
   * @example
   * ```ts
   * await serve(handler, { port: 8080, timeouts: { headersMs: 10_000, sendMs: 30_000 } });
   * ```
   */
  timeouts?: Partial<ServerTimeouts>;
}

/** A running pso server. */
export interface PsoServer {
  /** The node:http server. */
  readonly server: Server;
  /** Its address, e.g. `http://127.0.0.1:8080/` (`unix:/run/pso/app.sock` on a unix socket). */
  readonly url: string;
  /** The port it listens on (0 on a unix socket). */
  readonly port: number;
  /**
   * Stops accepting connections and waits for open requests to end. Without
   * `graceMs`, idle keep-alive connections are closed at once; with it, the
   * server drains as for a reload: new connections are refused, requests still
   * on their way are answered, with `Connection: close`, and what is still
   * running after `graceMs` is cut off.
   */
  close(graceMs?: number): Promise<void>;
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
  keepRequestsYoung(options);
  const serviceHandler = options.serviceHandler ?? new ServiceCore();
  const logger = serviceHandler.logger;
  const directives = new ServerDirectives(options.directives);
  const moduleName = options.moduleName ?? moduleNameOf(process.argv[1]);
  const sendTimeoutMs = options.timeouts?.sendMs ?? TIMEOUT_DEFAULTS.sendMs;
  // Resolve the session policy now, so a wiring mistake shows at start-up.
  serviceHandler.sessionImplFor(options);
  return (req, res) => {
    if (!options.handleFavicon && (req.method === 'GET' || req.method === 'HEAD') && req.url?.split('?')[0] === '/favicon.ico') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '10' });
      res.end(req.method === 'HEAD' ? undefined : 'Not Found\n');
      return;
    }
    const request = new NodeHttpRequest<D>({ req, res, directives, moduleName, logger, sendTimeoutMs });
    serviceHandler.handle(request, handler, options).catch((e: unknown) => {
      // handle() never rejects; this is the last line of defence for the process.
      logger.log('error', `unhandled failure: ${(e as Error)?.stack ?? e}`);
      res.destroy();
    });
  };
}
