import { writeSync } from 'node:fs';
import { withDefaults } from './config/directives.js';
import { CgiRequest } from './hosts/cgi/CgiRequest.js';
import { serveInheritedListener } from './hosts/fastcgi/inheritedListener.js';
import { ScriptRequest, parseScriptArgs } from './hosts/script/ScriptRequest.js';
import { moduleNameOf } from './service/moduleName.js';
import { ServiceCore, type Handler, type RunOptions } from './service/ServiceCore.js';
import type { ServiceRequest } from './service/ServiceRequest.js';
import type { SessionData } from './session/json.js';
import { closeStores } from './session/stores/registry.js';

export type { Handler, HandlerOptions, RunOptions, SessionImplClass } from './service/ServiceCore.js';

const WARM_UP = Symbol.for('pso.bundle.warmUp');

/**
 * The bootstrap, and pso's composition root: `run()` picks the host the
 * process was started under (CGI, FastCGI under mod_fcgid, or the command line), then
 * {@link ServiceCore.handle} opens the session, calls the handler, saves the
 * session and sends the response. One instance can serve any number of requests.
 *
 * @example
 * ```ts
 * export function handler(request: ServiceRequest) {
 *   request.write(`You reloaded: ${request.session.increment('reloads')} times\n`);
 * }
 * if (isMain(import.meta.url)) new ServiceHandler().run(handler);
 * ```
 */
export class ServiceHandler extends ServiceCore {
  /**
   * Runs one request the way the process was started: as a CGI script when
   * `GATEWAY_INTERFACE` is set, otherwise as a command-line script that prints
   * the headers and the body (see `--help`). Started by Apache's mod_fcgid (a
   * listening socket as standard input), it serves FastCGI until stopped.
   * Never rejects; resolves with the process exit code, which it also sets.
   */
  async run<D extends object = SessionData>(handler: Handler<D>, options: RunOptions = {}): Promise<number> {
    // `pso bundle` runs the bundle once to record V8's code cache: pso's request path
    // runs for real (sessions in a temporary directory) while the user's handler is left out.
    if ((globalThis as Record<symbol, unknown>)[WARM_UP]) handler = () => undefined;
    const env: NodeJS.ProcessEnv = withDefaults(options.directives ?? {}, options.env ?? process.env);
    const stdout = options.stdout;
    const logger = this.logger;
    const moduleName = options.moduleName ?? moduleNameOf(process.argv[1]);
    // Started by mod_fcgid (a listening socket as standard input): a FastCGI responder until stopped.
    const fastcgi = serveInheritedListener(this, handler, options, env);
    if (fastcgi) return fastcgi;
    let request: ServiceRequest<D>;
    try {
      if (env.GATEWAY_INTERFACE) {
        request = new CgiRequest<D>({ env, stdout, stdin: options.stdin, moduleName, logger });
      } else {
        const args = parseScriptArgs(options.argv ?? process.argv.slice(2));
        if (args.help) {
          if (stdout) stdout.write(ScriptRequest.usage(moduleName));
          else writeSync(1, ScriptRequest.usage(moduleName));
          return 0;
        }
        request = new ScriptRequest<D>({ env, stdout, stdin: options.stdin, moduleName, logger, args });
      }
    } catch (e) {
      logger.log('error', (e as Error).message);
      process.exitCode = 2;
      return 2;
    }
    await this.handle(request, handler, options);
    // Connection pools of stores opened by URL would keep a CGI process alive.
    await closeStores().catch((e: unknown) => logger.log('warn', `closing session stores: ${(e as Error).message}`));
    const code = request.status >= 500 && !env.GATEWAY_INTERFACE ? 1 : 0;
    if (code) process.exitCode = code;
    return code;
  }
}
