// A handler run as a real CGI process by the server suites: reports what the
// server passed (/env) and fails on purpose (/throw).
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

export async function handler(request: ServiceRequest): Promise<void> {
  if (request.path.endsWith('/throw')) throw new Error(`probe failure ${request.queryString}`);
  // Read the body whatever the method, as a handler that accepts forms would.
  const body = await request.body();
  request.sendHttpHeaders('application/json');
  request.write(JSON.stringify({
    method: request.method,
    path: request.path,
    contentLength: request.getEnviron('CONTENT_LENGTH') ?? null,
    bodyBytes: body.byteLength,
    query: [...new URLSearchParams(request.queryString)],
    visits: request.session.increment('visits'),
  }));
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
