import 'reflect-metadata/lite';
import { Container } from 'inversify';
import { readFlag } from '../config/directives.js';
import { createContainer } from '../container/createContainer.js';
import { injectableSubclass } from '../container/injectableSubclass.js';
import { TOKENS } from '../container/tokens.js';
import type { Logger } from '../logging/Logger.js';
import type { SessionData } from '../session/json.js';
import type { Session } from '../session/Session.js';
import { SessionImpl } from '../session/SessionImpl.js';
import { SAFE_METHODS } from './csrf/checkCsrf.js';
import type { CsrfOption } from './csrf/csrfSettings.js';
import { verifyCsrf } from './csrf/verifyCsrf.js';
import { answerFor } from './errorAnswer.js';
import { HttpError, ServiceReturn } from './errors.js';
import { sessionHead } from './sessionHead.js';
import { readOnlyOf, type ReadOnlyOption } from './sessionMode.js';
import { internalsOf, type ServiceRequest } from './ServiceRequest.js';
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

const READ_ONLY = { readOnly: true } as const;

/** A concrete {@link SessionImpl} class, as given to `options.sessionImpl`. */
export type SessionImplClass = new (...args: never[]) => SessionImpl;

/** Options shared by every host. */
export interface HandlerOptions {
  /** The session policy: a {@link SessionImpl} subclass (the How-To's `sessionImpl=MyFileImpl`). */
  sessionImpl?: SessionImplClass;
  /** The default service id; defaults to the handler module's file name. */
  moduleName?: string;
  /**
   * Called with every failure before it is answered (a handler that threw, a
   * busy session, a store that is down): return an `HttpError` to answer with
   * it instead of pso's mapping (a 503 for a busy session or a store that is
   * down, a 500 otherwise), or nothing to keep it.
   *
   * @example
   * ```ts
   * onError: (e) => (e instanceof PaymentDeclined ? new HttpError(402, e.message) : undefined)
   * ```
   */
  onError?: (error: unknown, request: ServiceRequest<any>) => HttpError | undefined | void;
  /**
   * Open sessions read-only: no lock is taken and nothing is saved, so this
   * handler's requests never hold up the same visitor's others (a poll, a
   * stream, a download). `true`, `false`, or a function deciding per request
   * (`undefined` from it: the `PSOSessionReadOnly` directive, which decides without the option).
   *
   * @example
   * ```ts
   * readOnlySession: (request) => request.path.startsWith('/events')
   * ```
   */
  readOnlySession?: ReadOnlyOption<ServiceRequest<any>>;
  /**
   * CSRF checks of this handler's unsafe requests: `true` or `'on'` (the
   * origin and a token from `request.csrfToken()`), `'origin'`, `false` or
   * `'off'` (a webhook, an API checked otherwise); a function decides per
   * request (`undefined` from it: the directive). Without it, `PSOCsrf`
   * decides (default `'origin'`).
   *
   * @example
   * ```ts
   * csrf: (request) => (request.path === '/webhook' ? false : 'on')
   * ```
   */
  csrf?: CsrfOption<ServiceRequest<any>>;
}

/** Options of `ServiceHandler.run()`: where a CGI or command-line request comes from and goes to. */
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
 * The request lifecycle every host runs: reads a form body, opens the
 * session, calls the handler, saves the session before the response
 * completes, and turns every failure into a short error response and a log
 * line. {@link ServiceHandler} adds `run()`, which picks the host.
 *
 * @example
 * ```ts
 * const core = new ServiceCore(createContainer());
 * http.createServer((req, res) => core.handle(new NodeHttpRequest({ req, res, directives: {}, moduleName: 'app', logger: core.logger }), handler));
 * ```
 */
export class ServiceCore {
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
   * Opens a request's session (read-only when `options.readOnlySession` or
   * `PSOSessionReadOnly` say so) and ties it to the request: its cookie goes
   * out with the head, with a `Cache-Control` that keeps shared caches from
   * keeping it (`PSOSessionCacheControl`); `mkurl()` carries it where asked.
   */
  async openSession<D extends object>(request: ServiceRequest<D>, impl: SessionImpl, options: HandlerOptions = {}): Promise<Session<D>> {
    const session = await impl.open<D>(request, readOnlyOf(request, options.readOnlySession) ? READ_ONLY : undefined);
    const internals = internalsOf(request);
    const head = sessionHead(request, internals, impl, session, { getHeader: (n) => request.getHeader(n), addHeader: (n, v) => request.addHeader(n, v) });
    internals.bind({
      session,
      beforeHead: head,
      decorateUrl: (params) => impl.decorateUrl(request, session, params),
    });
    return session;
  }

  /**
   * Handles one request on any host: opens the session, calls the handler,
   * saves the session before the response completes, and turns every failure
   * into a short error response and a log line. Never rejects.
   */
  async handle<D extends object>(request: ServiceRequest<D>, handler: Handler<D>, options: HandlerOptions = {}): Promise<void> {
    const { response, forms } = internalsOf(request);
    let impl: SessionImpl | undefined;
    let session: Session<D> | undefined;
    let settled = false;
    try {
      const prepared = forms.prepare();
      if (prepared) await prepared;
      impl = this.sessionImplFor(options);
      session = await this.openSession(request, impl, options);
      if (!SAFE_METHODS.has(request.method)) await verifyCsrf(request, impl, session, options.csrf);
      let result: unknown;
      try {
        result = await handler(request);
      } catch (e) {
        if (!(e instanceof ServiceReturn)) throw e;
      }
      if (typeof result === 'number' && result >= 100 && result <= 599 && !response.committed) {
        request.setStatus(result);
        if (!request.headersSent && result >= 400) {
          request.sendHttpHeaders('text/plain');
          request.write(`${reasonPhrase(result)}\n`);
        }
      }
      await impl.close(session, true);
      // Uploads go before the last bytes, so a client that has the whole answer never finds them.
      const settling = this.#settle(request);
      if (settling) await settling;
      settled = true;
      await response.finish();
    } catch (e) {
      settled = false;
      if (impl && session) await impl.close(session, false).catch((err) => request.logWith('error', err));
      await this.fail(request, e, options);
    } finally {
      if (!settled) await this.#settle(request);
    }
  }

  /** Answers a failed request (when nothing has gone out yet) and logs why. Never rejects. */
  async fail(request: ServiceRequest<any>, error: unknown, options: HandlerOptions = {}): Promise<void> {
    let replaced: unknown = error;
    try {
      replaced = options.onError?.(error, request) ?? error;
    } catch (e) {
      request.logWith('error', `onError failed: ${(e as Error).stack ?? e}`);
    }
    const answer = answerFor(replaced);
    const err = replaced instanceof Error ? replaced : new Error(String(replaced));
    request.logWith(answer.level, answer.stack ? `handler failed: ${err.stack ?? err.message}` : `${answer.status}: ${err.message}`);
    let debug = false;
    try {
      debug = readFlag(request, 'PSODebug');
    } catch {
      // an invalid PSODebug must not hide the original error
    }
    let body = `${answer.status} ${reasonPhrase(answer.status)}\n`;
    if (answer.expose) body += `${err.message}\n`;
    if (debug) body += `\n${err.stack ?? err.message}\n`;
    const { response } = internalsOf(request);
    try {
      if (response.committed) request.logWith('error', 'the response had already started; it was cut short');
      await this.#settle(request);
      await response.fail(answer.status, body, answer.headers, (e) => request.logWith('error', `left out of the error response: ${e.message}`));
    } catch (e) {
      request.logWith('error', `could not send the error response: ${(e as Error).message}`);
    }
  }

  /** Removes the uploads the handler did not keep and reads what it left of the body; without a promise when there is neither. */
  #settle(request: ServiceRequest<any>): Promise<void> | void {
    const { forms, drainInput } = internalsOf(request);
    const report = (errors: Error[]) => {
      for (const e of errors) request.logWith('warn', `removing an upload: ${e.message}`);
    };
    const left = forms.cleanup();
    if (left instanceof Promise) return left.then(report).then(() => drainInput());
    report(left);
    return drainInput();
  }
}
