import type { ServeOptions } from '../hosts/node-http/serve.js';
import type { Handler } from '../service/ServiceCore.js';
import type { ListenAddress } from './ListenAddress.js';

/**
 * A server that a handler is served with, as `pso serve` runs one in each
 * worker process.
 *
 * @example
 * ```ts
 * const server: ListeningServer = await listenHttp(handler, {}, { kind: 'tcp', host: '127.0.0.1', port: 0 });
 * await server.close(10_000);
 * ```
 */
export interface ListeningServer {
  /** Where it listens, as people read it: `http://127.0.0.1:8080/`, `unix:/run/pso/app.sock`. */
  readonly url: string;
  /**
   * Stops accepting connections and resolves once the requests in progress
   * have been answered; with `graceMs`, those still running after that long
   * are cut off.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * What a server is made with: serves `handler` on `address`. node:http's is
 * {@link listenHttp}; another protocol is another function of this shape,
 * named in `./listeners.ts`, and every worker of `pso serve` runs it.
 *
 * @example
 * ```ts
 * const listen: Listen = listenHttp;
 * const server = await listen(handler, { directives: { PSOSessionExpire: '15*60' } }, address);
 * ```
 */
export type Listen = (handler: Handler<any>, options: ServeOptions, address: ListenAddress) => Promise<ListeningServer>;
