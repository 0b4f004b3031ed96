// A pso handler behind any fetch-style runtime: `(request: Request) => Promise<Response>`.
// Here Node's own server feeds it; Hono would be `app.all('*', (c) => fetchHandler(c.req.raw))`.
//
//   node dist/samples/fetch.js            # http://127.0.0.1:8080/
import { createServer } from 'node:http';
import { createFetchHandler, isMain, type ServiceRequest } from 'pso-ts';

export function handler(request: ServiceRequest) {
  request.sendHttpHeaders('text/plain');
  request.write(`visits: ${request.session.increment('visits')}\n`);
}

export const fetchHandler = createFetchHandler(handler, { moduleName: 'fetch' });

if (isMain(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const server = createServer(async (req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
      method: req.method, headers, ...(hasBody ? { body: req as unknown as ReadableStream, duplex: 'half' } : {}),
    } as RequestInit);
    const response = await fetchHandler(request, { remoteAddress: req.socket.remoteAddress });
    res.writeHead(response.status, [...response.headers].flat());
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  server.listen(port, '127.0.0.1', () => console.log(`fetch handler on http://127.0.0.1:${(server.address() as { port: number }).port}/`));
}
