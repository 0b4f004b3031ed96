import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CsrfRequest } from '../../service/csrf/checkCsrf.js';
import { CsrfError } from '../../service/csrf/CsrfError.js';
import { verifyCsrf } from '../../service/csrf/verifyCsrf.js';
import { sessionHead } from '../../service/sessionHead.js';
import { internalsOf } from '../../service/ServiceRequest.js';
import type { SessionData } from '../../session/json.js';
import type { Session } from '../../session/Session.js';
import { NodeHttpRequest } from '../node-http/NodeHttpRequest.js';
import { middlewareSetup, type MiddlewareOptions } from './psoMiddleware.js';

/**
 * The bridge as later middleware sees it: headers pso sets (the session
 * cookie) go straight to the framework's response, which the framework
 * sends itself.
 */
class SessionBridge<D extends object> extends NodeHttpRequest<D> {
  override addHeader(name: string, value: string | number): void {
    super.addHeader(name, value);
    this.res.appendHeader(name, String(value));
  }

  override removeHeader(name: string): void {
    super.removeHeader(name);
    this.res.removeHeader(name);
  }

  /**
   * What the CSRF check reads: the form only once earlier middleware read
   * the body, since reading it here would leave none for the app's own parser.
   */
  csrfInput(): CsrfRequest {
    return {
      method: this.method,
      queryString: this.queryString,
      getRequestHeader: (name) => this.getRequestHeader(name),
      getEnviron: (key) => this.getEnviron(key),
      getDirective: (key) => this.getDirective(key),
      form: () => {
        if (this.req.readableEnded) return this.form();
        return Promise.reject(new CsrfError('token', 'psoSession() finds the CSRF token in its header, or in a form body that a parser before it has read (app.use(express.urlencoded()) before psoSession())'));
      },
    };
  }
}

/** What {@link psoSession} adds to the request. */
export interface PsoSessionRequest<D extends object = SessionData> extends IncomingMessage {
  /** pso's bridge for this request: `req.pso.session`, `req.pso.getDirective()`, `req.pso.log()`, ... */
  pso: NodeHttpRequest<D>;
}

/**
 * Express/Connect middleware that gives later middleware pso's session, as
 * express-session gives `req.session`: `req.pso.session` is opened (and
 * locked) before `next()`, its cookie is set when the response head goes
 * out, and it is saved before the response completes, then unlocked. Every
 * directive and store works as under any host.
 *
 * Use it, or {@link psoMiddleware}, on a route, not both: each opens the
 * session and the second would wait for the first's lock.
 *
 * @example
 * ```ts
 * app.use(psoSession({ directives: { PSOServiceId: 'shop', PSOSessionStore: 'redis://127.0.0.1:6379/0' } }));
 * app.get('/cart', (req, res) => {
 *   const n = (req as PsoSessionRequest).pso.session.increment('views');
 *   res.send(`views: ${n}`);
 * });
 * ```
 */
export function psoSession<D extends object = SessionData>(
  options: MiddlewareOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const { serviceHandler, logger, directives, moduleName, impl } = middlewareSetup(options);
  return (req, res, next) => {
    const request = new SessionBridge<D>({ req, res, directives, moduleName, logger });
    serviceHandler.openSession<D>(request, impl, options).then(
      async (session: Session<D>) => {
        try {
          await verifyCsrf(request, impl, session, options.csrf, request.csrfInput());
        } catch (e) {
          await impl.close(session, false).catch(() => undefined);
          request.logWith('info', `${(e as Error).message}`);
          next(e);
          return;
        }
        const head = sessionHead(request, internalsOf(request), impl, session, { getHeader: (n) => res.getHeader(n), addHeader: (n, v) => res.setHeader(n, v) });
        let headed = false;
        let ended = false;
        const writeHead = res.writeHead;
        res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
          if (!headed) {
            headed = true;
            try {
              head();
            } catch (e) {
              request.logWith('error', `setting the session cookie: ${(e as Error).message}`);
            }
          }
          return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
        } as typeof res.writeHead;
        const end = res.end;
        res.end = function (this: ServerResponse, ...args: unknown[]) {
          if (ended) return this;
          ended = true;
          // Saved before the last byte goes out, so a redirect never outruns the save.
          impl.close(session, true).then(
            () => (end as (...a: unknown[]) => ServerResponse).apply(res, args),
            (e: unknown) => {
              request.logWith('error', `saving the session: ${(e as Error).message}`);
              if (!res.headersSent) {
                res.statusCode = 500;
                (end as (...a: unknown[]) => ServerResponse).call(res, 'Internal Server Error\n');
              } else res.destroy();
            },
          );
          return this;
        } as typeof res.end;
        // A client gone before the end: nothing to save, but the lock must go.
        res.once('close', () => {
          if (!ended) {
            ended = true;
            impl.close(session, false).catch((e: unknown) => request.logWith('warn', `closing the session: ${(e as Error).message}`));
          }
        });
        (req as PsoSessionRequest<D>).pso = request;
        next();
      },
      (e: unknown) => {
        request.logWith('error', `opening the session: ${(e as Error).message}`);
        next(e);
      },
    );
  };
}
