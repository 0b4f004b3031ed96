// Mounting a pso handler in an Express app: the same handler as under CGI or
// `pso serve`, with its session, beside the app's own routes; and pso's
// session given to the app's own middleware with psoSession().
//
//   node dist/samples/express.js          # http://127.0.0.1:8080/counter/
//                                         # http://127.0.0.1:8080/app/views
import { createRequire } from 'node:module';
import { isMain, psoMiddleware, psoSession, type PsoSessionRequest, type ServiceRequest } from 'pso-ts';

export function handler(request: ServiceRequest) {
  request.sendHttpHeaders('text/plain');
  request.write(`visits: ${request.session.increment('visits')}\n`);
}

if (isMain(import.meta.url)) {
  // express is the application's dependency, not pso's.
  const express = createRequire(import.meta.url)('express');
  const app = express();
  app.get('/', (_req: unknown, res: { send(s: string): void }) => res.send('<a href="/counter/">counter</a>'));
  app.use('/counter', psoMiddleware(handler, { moduleName: 'counter' }));
  // The app's own routes with pso's session (its own cookie, its own directives).
  app.use('/app', psoSession({ moduleName: 'app' }));
  app.get('/app/views', (req: PsoSessionRequest, res: { send(s: string): void }) => res.send(`views: ${req.pso.session.increment('views')}\n`));
  const port = Number(process.env.PORT ?? 8080);
  const server = app.listen(port, '127.0.0.1', () => console.log(`express with pso on http://127.0.0.1:${server.address().port}/`));
}
