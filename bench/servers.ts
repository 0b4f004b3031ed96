// One benchmark server per process: node dist/bench/servers.js <kind> <session-dir>
// Kinds: bare, pso, pso-processlock, pso-fsync, express. Started by file-store.ts
// through fork(); reports its port over IPC and stops on 'stop' or disconnect.
//
//   GET /      loads the session, increments `count`, saves, answers the count
//   GET /peek  answers the count without changing it
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { serve } from 'pso-ts';
import { listen, psoCounter, serveChild } from './lib.js';

const SERVER_KINDS = ['bare', 'pso', 'pso-processlock', 'pso-fsync', 'express'] as const;
type ServerKind = (typeof SERVER_KINDS)[number];

const require = createRequire(import.meta.url);

function psoDirectives(kind: ServerKind, dir: string): Record<string, string> {
  const directives: Record<string, string> = { PSOSessionFileLoader_Path: dir };
  if (kind === 'pso-processlock') directives.PSOSessionLock = 'process';
  if (kind === 'pso-fsync') directives.PSOSessionFileLoader_Fsync = 'on';
  return directives;
}

function bareServer(): Server {
  let count = 0;
  return createServer((req, res) => {
    const body = `${req.url === '/peek' ? count : ++count}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

function expressServer(dir: string): Server {
  const express = require('express');
  const session = require('express-session');
  const FileStore = require('session-file-store')(session);
  const app = express();
  app.use(
    session({
      secret: 'pso-bench-secret',
      resave: false,
      saveUninitialized: true,
      store: new FileStore({ path: dir, logFn: () => {} }),
    }),
  );
  app.get('/', (req: any, res: any) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.type('text/plain').send(`${req.session.count}\n`);
  });
  app.get('/peek', (req: any, res: any) => {
    res.type('text/plain').send(`${req.session.count ?? 0}\n`);
  });
  return createServer(app);
}

async function main(): Promise<void> {
  const [kind, dir] = process.argv.slice(2) as [ServerKind, string];
  if (!SERVER_KINDS.includes(kind) || !dir) throw new Error(`usage: servers.js <${SERVER_KINDS.join('|')}> <dir>`);
  await serveChild(async () => {
    if (kind === 'bare' || kind === 'express') {
      const server = kind === 'bare' ? bareServer() : expressServer(dir);
      return { server, port: await listen(server) };
    }
    const pso = await serve(psoCounter, { port: 0, host: '127.0.0.1', moduleName: 'bench', directives: psoDirectives(kind, dir) });
    return { server: pso.server, port: pso.port };
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
