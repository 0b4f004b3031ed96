// A handler for the FastCGI suites, run in-process (serveFastCgi), as a
// process given a listening socket (mod_fcgid's way), or bundled for Apache:
//   /count          increments the session's counter; answers "<pid> <count>"
//   /slow?ms=N      the same after N milliseconds
//   /body           reads the body; answers its length
//   /env?name=...   answers the named variables as JSON
//   /throw          fails
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

interface Counted {
  count?: number;
}

export async function handler(request: ServiceRequest<Counted>): Promise<void> {
  const query = new URLSearchParams(request.queryString);
  request.sendHttpHeaders('text/plain');
  switch (request.getEnviron('PATH_INFO') || '/') {
    case '/slow':
    case '/count':
      if (request.getEnviron('PATH_INFO') === '/slow') await new Promise((r) => setTimeout(r, Number(query.get('ms') ?? '100')));
      request.write(`${process.pid} ${request.session.increment('count')}`);
      return;
    case '/body':
      request.write(String((await request.body()).byteLength));
      return;
    case '/env': {
      const out: Record<string, string | null> = {};
      for (const name of query.getAll('name')) out[name] = request.getDirective(name) ?? request.getEnviron(name) ?? null;
      request.write(JSON.stringify({ ...out, path: request.path, query: request.queryString, method: request.method }));
      return;
    }
    case '/throw':
      throw new Error('fastcgi fixture failure');
    default:
      // Says it ran: a 404 the server answered itself has no such header.
      request.setHeader('X-Handler', 'ran');
      request.sendStatus(404);
  }
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
