import type { Handler, RunOptions, ServiceCore } from '../../service/ServiceCore.js';
// Imported, not loaded on demand: a bundler makes an on-demand module and all it imports (the whole
// of pso) start lazily, which costs every CGI request; this module's top level only defines functions.
import { serveListenSocket } from './serveListenSocket.js';
import { stdinListens } from './stdinListens.js';

/**
 * Serves FastCGI on standard input when the process was started with a
 * listening socket there (FCGI_LISTENSOCK_FILENO, FastCGI §2.2): so Apache's
 * mod_fcgid, spawn-fcgi and the like start a FastCGI responder, and the same
 * file `pso bundle` writes runs as a CGI script or under mod_fcgid unchanged.
 * Resolves with the exit code once a signal has stopped it; undefined when
 * the process was not started so.
 *
 * A CGI request pays nothing for this: `GATEWAY_INTERFACE` answers first.
 * Otherwise one fstat of descriptor 0; only a socket there costs a look into
 * /proc, because a connected socket (mod_cgid's standard input, a pipe node
 * made) is not a listening one.
 *
 * @example
 * ```ts
 * const served = serveInheritedListener(serviceHandler, handler, options, env);
 * if (served) return served;
 * ```
 */
export function serveInheritedListener<D extends object>(
  serviceHandler: ServiceCore,
  handler: Handler<D>,
  options: RunOptions,
  env: NodeJS.ProcessEnv,
): Promise<number> | undefined {
  if (env.GATEWAY_INTERFACE || options.stdin || options.stdout || !stdinListens()) return undefined;
  return serveListenSocket(serviceHandler, handler, options);
}
