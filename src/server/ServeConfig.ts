import type { ServerTimeouts } from '../hosts/ServerTimeouts.js';
import type { ListenAddress } from './ListenAddress.js';
import type { ListenerName } from './listeners.js';

/**
 * What `pso serve` was asked to do, read from its command line.
 *
 * @example
 * ```ts
 * const config: ServeConfig = {
 *   module: 'handler.ts', address: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, listener: 'http',
 *   directives: {}, workers: 2, graceMs: 10_000, watch: false, timeouts: { sendMs: 30_000 },
 * };
 * ```
 */
export interface ServeConfig {
  /** The handler module, as written on the command line. */
  module: string;
  /** Where to listen. */
  address: ListenAddress;
  /** What each process serves with (node:http unless another protocol is asked for). */
  listener: ListenerName;
  /** `-D NAME=VALUE` directives: over the PSO* environment, which is over the module's own. */
  directives: Record<string, string>;
  /** Server processes: 1 serves in this process; more run a primary that forks them. */
  workers: number;
  /** How long a stop or a reload lets requests in progress run before they are cut off. */
  graceMs: number;
  /** Reload when the module or a file it imports changes. */
  watch: boolean;
  /** The timeouts given on the command line (`--headers-timeout` ...); the others keep their defaults. */
  timeouts: Partial<ServerTimeouts>;
}

/**
 * What one serving process needs: the config, and the module to import
 * (the module itself, or its compilation).
 *
 * @example
 * ```ts
 * const process: ProcessConfig = { ...config, importPath: '/tmp/pso-serve-x/handler.1.mjs', source: '/srv/app/handler.ts', moduleName: 'handler' };
 * ```
 */
export interface ProcessConfig extends ServeConfig {
  /** The file to import. */
  importPath: string;
  /** The module's own absolute path (where a syntax error is looked for). */
  source: string;
  /** The default service id, from the module's name. */
  moduleName: string;
}
