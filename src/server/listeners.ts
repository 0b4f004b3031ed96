import type { Listen } from './Listen.js';

/**
 * The servers `pso serve` can run in each worker, by name. A worker is a
 * separate process, so it is told a name, and loads the function here. A
 * protocol is added with one line here (a {@link Listen} function, loaded
 * only by the processes that use it) and the option that names it in
 * `readServeArgs`; workers, reloads, draining and unix sockets come with it
 * (its server draining in `close(graceMs)`, and listening through `listenOn`).
 *
 * @example
 * ```ts
 * const listen = await LISTENERS.http();
 * const server = await listen(handler, options, address);
 * ```
 */
export const LISTENERS = {
  http: async (): Promise<Listen> => (await import('../hosts/node-http/listenHttp.js')).listenHttp,
  fastcgi: async (): Promise<Listen> => (await import('../hosts/fastcgi/listenFastCgi.js')).listenFastCgi,
} satisfies Record<string, () => Promise<Listen>>;

/** The name of a server kind in {@link LISTENERS}. */
export type ListenerName = keyof typeof LISTENERS;

/**
 * How `pso serve` says where it serves: `on http://127.0.0.1:8080/`, or
 * `over FastCGI on unix:/run/pso/app.sock`.
 *
 * @example
 * ```ts
 * servingText('fastcgi', 'unix:/run/pso/app.sock'); // 'over FastCGI on unix:/run/pso/app.sock'
 * ```
 */
export function servingText(listener: ListenerName, url: string): string {
  return listener === 'fastcgi' ? `over FastCGI on ${url}` : `on ${url}`;
}
