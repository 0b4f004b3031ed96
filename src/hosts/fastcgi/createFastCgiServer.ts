import type { Server } from 'node:net';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import { moduleNameOf } from '../../service/moduleName.js';
import type { Handler, HandlerOptions, ServiceCore } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import { FASTCGI_DEFAULTS, FastCgiConnection, type FastCgiLimits } from './FastCgiConnection.js';
import type { FastCgiExchange } from './FastCgiExchange.js';
import { FastCgiRequest } from './FastCgiRequest.js';

/** Options of {@link createFastCgiServer}. */
export interface FastCgiServerOptions extends HandlerOptions, FastCgiLimits {
  /** Directives every request starts from; its params override them. */
  directives?: Readonly<Record<string, string>>;
  /** The bootstrap that handles each request. */
  serviceHandler: ServiceCore;
  /**
   * Pass `GET /favicon.ico` to the handler too. By default it is answered
   * 404 without a session, as `serve()` does (a page that counts visits
   * would count two).
   */
  handleFavicon?: boolean;
}

/** A FastCGI server, not yet listening. */
export interface FastCgiServerHandle {
  /** The net server: listen on it (a path, a port, or an inherited descriptor). */
  readonly server: Server;
  /** Requests being handled now. */
  readonly inFlight: number;
  /**
   * Takes no more connections, ends each one once its requests are
   * answered, and resolves when every request has been handled to its end
   * (sessions saved, locks released).
   */
  close(): Promise<void>;
}

const FAVICON_404 = Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\n');

/**
 * A net server whose connections speak FastCGI and whose requests run
 * `handler` (the module loaded once, the handler called per request, as
 * under `serve()`).
 *
 * @example
 * ```ts
 * const { server, close } = createFastCgiServer(handler, { serviceHandler: new ServiceCore(), directives: { PSOServiceId: 'shop' } });
 * server.listen('/run/pso/shop.sock');
 * process.once('SIGTERM', () => void close());
 * ```
 */
export function createFastCgiServer<D extends object = SessionData>(handler: Handler<D>, options: FastCgiServerOptions): FastCgiServerHandle {
  // Loaded here, not at the top: CGI scripts bundle this module but never serve FastCGI. (Not
  // `import()`: a bundle runs as a vm.Script, which has no dynamic import.)
  const { createServer } = process.getBuiltinModule('node:net');
  const serviceHandler = options.serviceHandler;
  const logger = serviceHandler.logger;
  const moduleName = options.moduleName ?? moduleNameOf(process.argv[1]);
  // Made once: each request looks its directives up here, under its params.
  const directives = new ServerDirectives(options.directives, {});
  // Resolve the session policy now, so a wiring mistake shows at start-up.
  serviceHandler.sessionImplFor(options);
  const connections = new Set<FastCgiConnection>();
  const running = new Set<Promise<void>>();

  const onRequest = (exchange: FastCgiExchange): void => {
    if (!options.handleFavicon && isFavicon(exchange)) {
      void exchange.end(exchange.params.get('REQUEST_METHOD') === 'HEAD' ? FAVICON_404 : Buffer.concat([FAVICON_404, Buffer.from('Not Found\n')]));
      return;
    }
    const request = new FastCgiRequest<D>({ exchange, directives, moduleName, logger });
    const run = serviceHandler.handle(request, handler, options).catch((e: unknown) => {
      // handle() never rejects; this is the last line of defence for the process.
      logger.log('error', `unhandled failure: ${(e as Error)?.stack ?? e}`);
      return exchange.end(undefined, 1);
    });
    running.add(run);
    void run.finally(() => running.delete(run));
  };

  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const connection = new FastCgiConnection(socket, { ...limitsOf(options), logger, onRequest });
    connections.add(connection);
    void connection.closed.then(() => connections.delete(connection));
  });
  server.maxConnections = options.maxConnections ?? FASTCGI_DEFAULTS.maxConnections;

  return {
    server,
    get inFlight() {
      return running.size;
    },
    async close() {
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
      for (const connection of connections) void connection.close();
      await closed;
      // A request whose connection went early may still be saving its session.
      while (running.size > 0) await Promise.all(running);
    },
  };
}

function limitsOf(options: FastCgiLimits): FastCgiLimits {
  const { maxParamsBytes, maxRequests, maxConnections, bodyHighWaterMark, lingerMs, sendTimeoutMs } = options;
  return { maxParamsBytes, maxRequests, maxConnections, bodyHighWaterMark, lingerMs, sendTimeoutMs };
}

function isFavicon(exchange: FastCgiExchange): boolean {
  const p = exchange.params;
  const method = p.get('REQUEST_METHOD');
  return (method === 'GET' || method === 'HEAD') && `${p.get('SCRIPT_NAME') ?? ''}${p.get('PATH_INFO') ?? ''}` === '/favicon.ico';
}
