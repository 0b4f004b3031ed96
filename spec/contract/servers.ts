// The contract handler (or the handler module named after the mode) in an
// Express app (`node servers.js express [module.js]`) or behind a fetch handler
// fed by node:http (`node servers.js fetch [module.js]`): a child process that
// listens on a free loopback port and prints its address. Directives come from
// the PSO* variables of its environment, as they do for `pso serve`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createFetchHandler, psoMiddleware, type HandlerOptions, type ServiceRequest } from '../../src/index.js';

/** What the servers take from a handler module: its handler, and its options as `pso serve` reads them. */
interface HandlerExports {
  handler: (request: ServiceRequest<any>) => unknown;
  csrf?: HandlerOptions['csrf'];
  readOnlySession?: HandlerOptions['readOnlySession'];
}

const modulePath = process.argv[3];
const { handler, csrf, readOnlySession } = (await import(modulePath ? pathToFileURL(modulePath).href : './handler.js')) as HandlerExports;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function expressApp(): Listener {
  // express is a development dependency of the tests, not of pso.
  const express = createRequire(import.meta.url)('express');
  const app = express();
  app.use(psoMiddleware(handler, { moduleName: 'contract', csrf, readOnlySession }));
  return app;
}

/** node:http to Request and Response back to node:http, both bodies streamed. */
function fetchAdapter(): Listener {
  const fetchHandler = createFetchHandler(handler, { moduleName: 'contract', csrf, readOnlySession });
  return (req, res) => {
    void (async () => {
      const headers = new Headers();
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
        method: req.method,
        headers,
        ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
      } as RequestInit);
      res.once('finish', () => {
        // A body the handler left unread is drained, so the connection can carry the next request.
        if (!req.complete) { req.removeAllListeners('data'); req.resume(); }
      });
      const response = await fetchHandler(request, { remoteAddress: req.socket.remoteAddress });
      const out: [string, string][] = [];
      response.headers.forEach((value, name) => { if (name !== 'set-cookie') out.push([name, value]); });
      for (const cookie of response.headers.getSetCookie()) out.push(['set-cookie', cookie]);
      res.writeHead(response.status, out.flat());
      if (!response.body) { res.end(); return; }
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
      res.end();
    })().catch((e: unknown) => {
      process.stderr.write(`fetch adapter: ${(e as Error).stack}\n`);
      res.destroy();
    });
  };
}

const mode = process.argv[2];
const listener = mode === 'express' ? expressApp() : mode === 'fetch' ? fetchAdapter() : undefined;
if (!listener) {
  process.stderr.write('usage: node servers.js express|fetch\n');
  process.exit(2);
}
const server = createServer(listener);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${mode} host listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 3000).unref();
});
