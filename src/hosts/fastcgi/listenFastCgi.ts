import { ServerDirectives } from '../../config/ServerDirectives.js';
import { describeAddress, type ListenAddress } from '../../server/ListenAddress.js';
import { listenOn } from '../../server/listenOn.js';
import type { ListeningServer } from '../../server/Listen.js';
import { ServiceCore, type Handler } from '../../service/ServiceCore.js';
import type { SessionData } from '../../session/json.js';
import type { ServeOptions } from '../node-http/serve.js';
import { resolveTimeouts } from '../ServerTimeouts.js';
import { createFastCgiServer } from './createFastCgiServer.js';

/**
 * Serves a handler over FastCGI on a TCP address or a unix socket: the server
 * `pso serve --fastcgi` runs in each worker, for nginx `fastcgi_pass` or
 * Apache `mod_proxy_fcgi` in front. Its `url` is the address (`unix:/path`,
 * `host:port`).
 *
 * @example
 * ```ts
 * const server = await listenFastCgi(handler, {}, { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 });
 * process.once('SIGTERM', () => server.close(10_000));
 * ```
 */
export async function listenFastCgi<D extends object = SessionData>(handler: Handler<D>, options: ServeOptions, address: ListenAddress): Promise<ListeningServer> {
  const handle = createFastCgiServer(handler, {
    ...options,
    // The PSO* variables of the environment under those given in code, as for serve().
    directives: new ServerDirectives(options.directives).values,
    serviceHandler: options.serviceHandler ?? new ServiceCore(),
    // The web server in front times its clients; what is left here is a web server that stops reading.
    sendTimeoutMs: resolveTimeouts(options.timeouts).sendMs,
  });
  const bound = await listenOn(handle.server, address);
  return {
    url: describeAddress(bound),
    close: async (graceMs?: number) => {
      if (graceMs === undefined || graceMs === Number.POSITIVE_INFINITY) return handle.close();
      let timer: NodeJS.Timeout | undefined;
      const cutOff = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
        timer.unref();
      });
      await Promise.race([handle.close(), cutOff]);
      clearTimeout(timer);
    },
  };
}
