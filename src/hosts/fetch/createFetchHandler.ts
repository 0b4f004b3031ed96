import { moduleNameOf } from '../../service/moduleName.js';
import { ServiceCore, type Handler, type HandlerOptions } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import { FetchRequest } from './FetchRequest.js';
import { ServerDirectives } from '../../config/ServerDirectives.js';
import { keepRequestsYoung, type HeapOptions } from '../../util/servingHeap.js';

/** Options of {@link createFetchHandler}. */
export interface FetchHandlerOptions extends HandlerOptions, HeapOptions {
  /** Directives, as `SetEnv` would give them to a CGI script. */
  directives?: Readonly<Record<string, string>>;
  /** The bootstrap to use (default: a new {@link ServiceHandler}). */
  serviceHandler?: ServiceCore;
}

/**
 * Turns a pso handler into `(request: Request) => Promise<Response>`, for
 * fetch-style runtimes and frameworks.
 *
 * @example
 * ```ts
 * const fetchHandler = createFetchHandler(handler, { directives: { PSOSessionStore: 'redis://127.0.0.1:6379/0' } });
 * // Hono: app.all('*', (c) => fetchHandler(c.req.raw));
 * ```
 */
export function createFetchHandler<D extends object = SessionData>(
  handler: Handler<D>,
  options: FetchHandlerOptions = {},
): (request: Request, info?: { remoteAddress?: string }) => Promise<Response> {
  keepRequestsYoung(options);
  const serviceHandler = options.serviceHandler ?? new ServiceCore();
  const logger = serviceHandler.logger;
  const directives = new ServerDirectives(options.directives);
  const moduleName = options.moduleName ?? moduleNameOf(process.argv[1]);
  serviceHandler.sessionImplFor(options);
  return async (request, info) => {
    const r = new FetchRequest<D>({ request, directives, moduleName, logger, remoteAddress: info?.remoteAddress });
    // handle() never rejects; the response exists as soon as the head is sent.
    const done = serviceHandler.handle(r, handler, options);
    return Promise.race([r.response, done.then(() => r.response)]);
  };
}
