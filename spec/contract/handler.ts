// The one handler of the contract suite: every host runs this file unchanged
// (bundled as a CGI script, loaded by `pso serve`, mounted in Express, behind
// a fetch adapter, or run from the command line).
import { existsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ServiceHandler, isMain, type HandlerOptions, type ServiceRequest } from '../../src/index.js';

/** Counts per session, so that a host that loses or mixes sessions shows. */
interface ContractSession {
  count?: number;
  lastHeader?: string | null;
}

/**
 * The route: the path below the script under CGI (PATH_INFO), the whole path
 * elsewhere, where the other hosts give PATH_INFO the same value.
 */
function routeOf(request: ServiceRequest<any>): string {
  return request.getEnviron('PATH_INFO') || '/';
}

/** Token checks for the /csrf/ routes; the rest keeps PSOCsrf's default (the origin check). `pso serve` reads this export. */
export const csrf: HandlerOptions['csrf'] = (request) => (routeOf(request).startsWith('/csrf/') ? 'on' : undefined);

/** /poll, and /hold?mode=ro, open the session read-only. `pso serve` reads this export. */
export const readOnlySession: HandlerOptions['readOnlySession'] = (request) =>
  routeOf(request) === '/poll' || (routeOf(request) === '/hold' && request.getInput('mode') === 'ro') ? true : undefined;

/** Waits (at most 20 s) until the test creates `<file>.go`, having created `<file>.inside`: requests of several processes meet so. */
async function meet(file: string): Promise<void> {
  writeFileSync(`${file}.inside`, '');
  for (let i = 0; i < 400 && !existsSync(`${file}.go`); i++) await new Promise((r) => setTimeout(r, 50));
}

/** What a change to the session gives: `ok`, or the error's name. */
function attempt(change: () => unknown): string {
  try {
    change();
    return 'ok';
  } catch (e) {
    return (e as Error).name;
  }
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
    case '/flash/note': {
      request.session.flash('info', `noted ${request.getInput('text', '')}`);
      return request.redirect(`${request.getEnviron('SCRIPT_NAME', '')}/flash/show`, 303);
    }
    case '/flash/show': {
      request.sendHttpHeaders('application/json');
      request.write(JSON.stringify(request.session.flashes()));
      return;
    }
    case '/csrf/token': {
      request.sendHttpHeaders('text/plain');
      request.write(request.csrfToken());
      return;
    }
    case '/csrf/post': {
      request.sendHttpHeaders('text/plain');
      request.write(`posted ${request.getInput('text', '')}\n`);
      return;
    }
    case '/poll': {
      const count = request.session.get('count', 0);
      request.sendHttpHeaders('text/plain');
      request.write(`count: ${count}, change: ${attempt(() => request.session.increment('count'))}\n`);
      return;
    }
    case '/release': {
      const count = request.session.increment('count');
      await request.session.release();
      request.sendHttpHeaders('text/plain');
      request.write(`count: ${count}, change after release: ${attempt(() => request.session.increment('count'))}\n`);
      return;
    }
    case '/hold': {
      // mode=release: saved and unlocked before waiting; mode=ro: opened read-only.
      if (query.get('mode') === 'release') await request.session.release();
      await meet(query.get('file')!);
      request.sendHttpHeaders('text/plain');
      request.write(`held, count: ${request.session.get('count', 0)}\n`);
      return;
    }
    case '/touch': {
      request.sendHttpHeaders('text/plain');
      request.write(`touched: ${await request.session.touch()}\n`);
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

if (isMain(import.meta.url)) void new ServiceHandler().run(handler, { csrf, readOnlySession });
