import 'reflect-metadata/lite';
import { writeSync } from 'node:fs';
import { Container } from 'inversify';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { readFlag, withDefaults } from '../config/directives.js';
import { createContainer } from '../container/createContainer.js';
import { injectableSubclass } from '../container/injectableSubclass.js';
import { TOKENS } from '../container/tokens.js';
import { CgiRequest } from '../hosts/cgi/CgiRequest.js';
import { serveInheritedListener } from '../hosts/fastcgi/inheritedListener.js';
import { ScriptRequest, parseScriptArgs } from '../hosts/script/ScriptRequest.js';
import type { Logger } from '../logging/Logger.js';
import type { SessionData } from '../session/json.js';
import type { Session } from '../session/Session.js';
import { SessionImpl, SessionStoreError } from '../session/SessionImpl.js';
import { closeStores } from '../session/stores/registry.js';
import { HttpError, ServiceReturn } from './errors.js';
import { kAttachSession, kCleanup, kFinish, kHeadCommitted, kPrepare, kSendError } from './internal.js';
import { moduleNameOf } from './moduleName.js';
import type { ServiceRequest } from './ServiceRequest.js';
import { reasonPhrase } from './status.js';

/**
 * A request handler: takes the request, may be sync or async, and may return
 * a status (`OK`, or an HTTP status code).
 *
 * @example
 * ```ts
 * const handler: Handler = (request) => { request.write('hello world\n'); };
 * ```
 */
export type Handler<D extends object = SessionData> = (request: ServiceRequest<D>) => unknown;

const WARM_UP = Symbol.for('pso.bundle.warmUp');

/** A concrete {@link SessionImpl} class, as given to `options.sessionImpl`. */
export type SessionImplClass = new (...args: any[]) => SessionImpl;

/** Options shared by every host. */
export interface HandlerOptions {
  /** The session policy: a {@link SessionImpl} subclass (the How-To's `sessionImpl=MyFileImpl`). */
  sessionImpl?: SessionImplClass;
  /** The default service id; defaults to the handler module's file name. */
  moduleName?: string;
}

/** Options of {@link ServiceHandler.run}. */
export interface RunOptions extends HandlerOptions {
  /** The environment (default `process.env`); CGI is chosen when it has `GATEWAY_INTERFACE`. */
  env?: NodeJS.ProcessEnv;
  /** Command-line arguments for the script host (default `process.argv.slice(2)`). */
  argv?: string[];
  /** Where the response goes (default: standard output, written directly). */
  stdout?: NodeJS.WritableStream;
  /** Where the request body comes from (default: standard input, read directly). */
  stdin?: NodeJS.ReadableStream;
  /** Default directives; the environment (`SetEnv`) overrides them. */
  directives?: Readonly<Record<string, string>>;
}

/**
 * The bootstrap: builds the request for the server the handler runs under,
 * opens its session, calls the handler, saves the session and sends the
 * response. One instance can serve any number of requests.
 *
 * @example
 * ```ts
 * export function handler(request: ServiceRequest) {
 *   request.write(`You reloaded: ${request.session.increment('reloads')} times\n`);
 * }
 * if (isMain(import.meta.url)) new ServiceHandler().run(handler);
 * ```
 */
export class ServiceHandler {
  /** The container the defaults are taken from. */
  readonly container: Container;
  #impls = new WeakMap<SessionImplClass, SessionImpl>();
  #defaultImpl: SessionImpl | undefined;

  constructor(container: Container = createContainer()) {
    this.container = container;
  }

  /** The logger bound in the container. */
  get logger(): Logger {
    return this.container.get<Logger>(TOKENS.Logger);
  }

  /**
   * The session policy for `options`: the container's `TOKENS.SessionImpl`, or
   * `options.sessionImpl` built by a child container (one instance per class).
   */
  sessionImplFor(options: HandlerOptions = {}): SessionImpl {
    const cls = options.sessionImpl;
    if (!cls) return (this.#defaultImpl ??= this.container.get<SessionImpl>(TOKENS.SessionImpl));
    let impl = this.#impls.get(cls);
    if (!impl) {
      if (!(cls.prototype instanceof SessionImpl)) {
        throw new TypeError(`options.sessionImpl must be a subclass of SessionImpl (such as CookieFileImpl); got ${cls.name || String(cls)}`);
      }
      const child = new Container({ parent: this.container });
      child.bind(TOKENS.SessionImpl).to(injectableSubclass(cls)).inSingletonScope();
      impl = child.get<SessionImpl>(TOKENS.SessionImpl);
      this.#impls.set(cls, impl);
    }
    return impl;
  }

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

  /**
   * Handles one request on any host: opens the session, calls the handler,
   * saves the session before the response completes, and turns every failure
   * into a short error response and a log line. Never rejects.
   */
  async handle<D extends object>(request: ServiceRequest<D>, handler: Handler<D>, options: HandlerOptions = {}): Promise<void> {
    let impl: SessionImpl | undefined;
    let session: Session<D> | undefined;
    try {
      await request[kPrepare]();
      impl = this.sessionImplFor(options);
      session = await impl.open(request);
      const opened = session;
      const policy = impl;
      request[kAttachSession](opened, () => policy.beforeHead(opened), (params) => policy.decorateUrl(request, opened, params));
      let result: unknown;
      try {
        result = await handler(request);
      } catch (e) {
        if (!(e instanceof ServiceReturn)) throw e;
      }
      if (typeof result === 'number' && result >= 100 && result <= 599 && !request[kHeadCommitted]) {
        request.setStatus(result);
        if (!request.headersSent && result >= 400) {
          request.sendHttpHeaders('text/plain');
          request.write(`${reasonPhrase(result)}\n`);
        }
      }
      await impl.close(session, true);
      await request[kFinish]();
    } catch (e) {
      if (impl && session) await impl.close(session, false).catch((err) => request.logWith('error', err));
      await this.#fail(request, e);
    } finally {
      await request[kCleanup]();
    }
  }

  async #fail(request: ServiceRequest<any>, error: unknown): Promise<void> {
    const status = error instanceof HttpError ? error.status : 500;
    const err = error instanceof Error ? error : new Error(String(error));
    if (error instanceof HttpError && status < 500) request.logWith('info', `${status}: ${err.message}`);
    else if (error instanceof ConfigurationError || error instanceof SessionStoreError || error instanceof HttpError) {
      request.logWith('error', `${status}: ${err.message}`);
    } else request.logWith('error', `handler failed: ${err.stack ?? err.message}`);

    let debug = false;
    try {
      debug = readFlag(request, 'PSODebug');
    } catch {
      // an invalid PSODebug must not hide the original error
    }
    let body = `${status} ${reasonPhrase(status)}\n`;
    if (error instanceof HttpError && error.expose) body += `${err.message}\n`;
    if (debug) body += `\n${err.stack ?? err.message}\n`;
    try {
      if (request[kHeadCommitted]) request.logWith('error', 'the response had already started; it was cut short');
      await request[kSendError](status, body, error instanceof HttpError ? error.headers : {});
    } catch (e) {
      request.logWith('error', `could not send the error response: ${(e as Error).message}`);
    }
  }
}
