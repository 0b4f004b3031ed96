import { withDefaults } from '../../config/directives.js';
import type { Handler, RunOptions, ServiceCore } from '../../service/ServiceCore.js';
import { closeStores } from '../../session/stores/registry.js';
import { keepRequestsYoung } from '../../util/servingHeap.js';
import { createFastCgiServer } from './createFastCgiServer.js';

/**
 * Serves FastCGI on the listening socket the process was given as
 * descriptor 0 (by mod_fcgid), until SIGTERM (or SIGINT): then it takes no
 * more connections, finishes the requests it has, closes the session stores
 * and resolves with 0. Directives: those of `options`, under the `PSO*`
 * variables of the process's environment (`FcgidInitialEnv`), under each
 * request's params (`SetEnv`). Sessions in files are locked across the
 * processes of the script, as always.
 *
 * @example
 * ```ts
 * if (stdinListens()) process.exitCode = await serveListenSocket(new ServiceCore(), handler, {});
 * ```
 */
export async function serveListenSocket<D extends object>(serviceHandler: ServiceCore, handler: Handler<D>, options: RunOptions): Promise<number> {
  keepRequestsYoung();
  const logger = serviceHandler.logger;
  const fromEnvironment: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('PSO') && v !== undefined) fromEnvironment[k] = v;
  const directives = withDefaults(options.directives ?? {}, fromEnvironment);
  // No favicon rule: the script has its own path, as under CGI.
  const fastcgi = createFastCgiServer(handler, { ...options, serviceHandler, directives, handleFavicon: true });
  try {
    await new Promise<void>((resolve, reject) => {
      fastcgi.server.once('error', reject);
      fastcgi.server.listen({ fd: 0 }, () => {
        fastcgi.server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    logger.log('error', `serving FastCGI on the socket given as standard input: ${(e as Error).message}`);
    process.exitCode = 1;
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await fastcgi.close();
  await closeStores().catch((e: unknown) => logger.log('warn', `closing session stores: ${(e as Error).message}`));
  // Whatever else holds the event loop open (a handler's timer) must not keep a stopped responder.
  setTimeout(() => process.exit(), 1000).unref();
  return 0;
}
