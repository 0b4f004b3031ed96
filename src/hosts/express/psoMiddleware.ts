import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import { moduleNameOf } from '../../service/moduleName.js';
import { ServiceCore, type Handler, type HandlerOptions } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import { NodeHttpRequest } from '../node-http/NodeHttpRequest.js';
import { keepRequestsYoung, type HeapOptions } from '../../util/servingHeap.js';

/** Options of {@link psoMiddleware}. */
export interface MiddlewareOptions extends HandlerOptions, HeapOptions {
  /** Directives, as `SetEnv` would give them to a CGI script. */
  directives?: Readonly<Record<string, string>>;
  /** The bootstrap to use (default: a new {@link ServiceHandler}). */
  serviceHandler?: ServiceCore;
}

/**
 * Express/Connect middleware that runs a pso handler: the handler answers
 * the request (with its session), as under any other host. Mounted on a
 * path, the handler sees the path below the mount point, as a CGI script
 * sees its PATH_INFO.
 *
 * @example
 * ```ts
 * const app = express();
 * app.use('/counter', psoMiddleware(handler, { directives: { PSOServiceId: 'counter' } }));
 * ```
 */
export function psoMiddleware<D extends object = SessionData>(
  handler: Handler<D>,
  options: MiddlewareOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const { serviceHandler, logger, directives, moduleName } = middlewareSetup(options);
  return (req, res, next) => {
    const request = new NodeHttpRequest<D>({ req, res, directives, moduleName, logger });
    // handle() answers every failure itself; next() only hears of what it could not.
    serviceHandler.handle(request, handler, options).catch(next);
  };
}

/** What both middlewares build once, when they are made: a bad option fails at start-up, not per request. */
export function middlewareSetup(options: MiddlewareOptions) {
  keepRequestsYoung(options);
  const serviceHandler = options.serviceHandler ?? new ServiceCore();
  return {
    serviceHandler,
    logger: serviceHandler.logger,
    directives: new ServerDirectives(options.directives),
    moduleName: options.moduleName ?? moduleNameOf(process.argv[1]),
    impl: serviceHandler.sessionImplFor(options),
  };
}
