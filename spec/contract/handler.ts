// The one handler of the contract suite: every host runs this file unchanged
// (bundled as a CGI script, loaded by `pso serve`, mounted in Express, behind
// a fetch adapter, or run from the command line).
import { dirname } from 'node:path';
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

/** Counts per session, so that a host that loses or mixes sessions shows. */
interface ContractSession {
  count?: number;
  lastHeader?: string | null;
}

/**
 * The route: the path below the script under CGI (PATH_INFO), the whole path
 * elsewhere, where the other hosts give PATH_INFO the same value.
 */
function routeOf(request: ServiceRequest<ContractSession>): string {
  return request.getEnviron('PATH_INFO') || '/';
}

export async function handler(request: ServiceRequest<ContractSession>): Promise<void> {
  const query = new URLSearchParams(request.queryString);
  const route = routeOf(request);
  switch (route) {
    case '/counter': {
      request.sendHttpHeaders('text/plain');
      request.write(`count: ${request.session.increment('count')}\n`);
      return;
    }
    case '/headers': {
      const seen = request.getRequestHeader('X-Test');
      // Kept in the session, so the response carries the session cookie beside the handler's own.
      request.session.set('lastHeader', seen ?? null);
      request.setHeader('X-Out', `seen ${seen ?? 'nothing'}`);
      request.setCookie('flavour', 'oat', { path: '/', sameSite: 'lax' });
      request.sendHttpHeaders('application/json');
      request.write(JSON.stringify({ xTest: seen ?? null }));
      return;
    }
    case '/header': {
      // A header value as the client gave it: refused when HTTP cannot carry it.
      request.sendHttpHeaders('text/plain');
      try {
        request.setHeader('X-Out', query.get('value') ?? '');
        request.write('set\n');
      } catch (e) {
        request.write(`refused: ${(e as Error).name}: ${(e as Error).message}\n`);
      }
      return;
    }
    case '/redirect': {
      const status = query.get('status');
      return request.redirect(query.get('to') ?? '/', status ? (Number(status) as 301 | 302 | 303 | 307 | 308) : false);
    }
    case '/status':
      return request.sendStatus(Number(query.get('code') ?? '204'));
    case '/log': {
      request.log('contract-log-line', query.get('token') ?? '');
      request.sendHttpHeaders('text/plain');
      request.write('logged\n');
      return;
    }
    case '/throw':
      throw new Error(`contract failure ${query.get('token') ?? ''}`);
    case '/form': {
      // pso has read the form (query string and body) before calling the handler.
      request.sendHttpHeaders('application/json');
      request.write(JSON.stringify(request.getInputDict()));
      return;
    }
    case '/upload': {
      const file = request.getFile('file');
      const dest = request.getInput('dest');
      if (!file || !dest) return request.sendStatus(400);
      const { filename, size, type } = file;
      const tempDir = dirname(file.path);
      await file.save(dest);
      request.sendHttpHeaders('application/json');
      request.write(JSON.stringify({ filename, size, type, tempDir, savedTo: file.path }));
      return;
    }
    case '/echo': {
      const body = Buffer.from(await request.body()).toString('utf8');
      request.sendHttpHeaders('application/json');
      request.write(JSON.stringify({ method: request.method, route, path: request.path, query: request.queryString, body }));
      return;
    }
    default:
      return request.sendStatus(404);
  }
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
