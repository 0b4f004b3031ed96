// One store benchmark server per process: node dist/bench/store-servers.js <kind> <config JSON>
// Started by stores.ts through fork(); reports its port over IPC and stops on
// 'stop' or disconnect, closing its store connections first.
//
//   GET /      loads the session, increments `count`, saves, answers the count
//   GET /peek  answers the count without changing it
//
// config: { url } for the pso kinds (the PSOSessionStore directive), and for
// the anchors { url, prefix } (connect-redis) or { url, table } (SQL stores).
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { listen, psoCounter, serveChild } from './lib.js';

const STORE_SERVER_KINDS = [
  'bare',
  'pso-memory',
  'fastify-memory',
  'express-memory',
  'pso-redis',
  'express-redis',
  'pso-postgres',
  'express-postgres',
  'pso-mysql',
  'express-mysql',
  'pso-sqlite',
] as const;
type StoreServerKind = (typeof STORE_SERVER_KINDS)[number];

interface StoreServerConfig {
  url?: string;
  prefix?: string;
  table?: string;
}

const require = createRequire(import.meta.url);
const SECRET = 'pso-bench-secret-at-least-32-characters';

type Started = { server: Server; port: number; cleanup?: () => Promise<unknown> };

function bareServer(): Server {
  let count = 0;
  return createServer((req, res) => {
    const body = `${req.url === '/peek' ? count : ++count}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** express 5 + express-session (`resave: false`, `saveUninitialized: true`) over `store` (default: its MemoryStore). */
function expressApp(store: unknown): Server {
  const express = require('express');
  const session = require('express-session');
  const app = express();
  app.use(session({ secret: SECRET, resave: false, saveUninitialized: true, ...(store ? { store } : {}) }));
  app.get('/', (req: any, res: any) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.type('text/plain').send(`${req.session.count}\n`);
  });
  app.get('/peek', (req: any, res: any) => {
    res.type('text/plain').send(`${req.session.count ?? 0}\n`);
  });
  return createServer(app);
}

async function fastifyServer(): Promise<Started> {
  const Fastify = require('fastify');
  const app = Fastify({ logger: false });
  await app.register(require('@fastify/cookie'));
  // Default store (in memory); plain-HTTP cookies.
  await app.register(require('@fastify/session'), { secret: SECRET, cookie: { secure: false }, saveUninitialized: true });
  app.get('/', async (req: any, reply: any) => {
    const count = ((req.session.get('count') as number | undefined) ?? 0) + 1;
    req.session.set('count', count);
    reply.type('text/plain');
    return `${count}\n`;
  });
  app.get('/peek', async (req: any, reply: any) => {
    reply.type('text/plain');
    return `${req.session.get('count') ?? 0}\n`;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { server: app.server, port: app.server.address().port, cleanup: () => app.close() };
}

async function expressRedis(c: StoreServerConfig): Promise<Started> {
  const { createClient } = await import('redis');
  const { RedisStore } = await import('connect-redis');
  const client = createClient({ url: c.url });
  client.on('error', () => undefined);
  await client.connect();
  const server = expressApp(new RedisStore({ client, prefix: c.prefix }));
  return { server, port: await listen(server), cleanup: () => client.quit() };
}

async function expressPostgres(c: StoreServerConfig): Promise<Started> {
  const session = require('express-session');
  const PgStore = require('connect-pg-simple')(session);
  const store = new PgStore({ conString: c.url, tableName: c.table });
  const server = expressApp(store);
  return { server, port: await listen(server), cleanup: () => store.close() };
}

async function expressMysql(c: StoreServerConfig): Promise<Started> {
  const session = require('express-session');
  const MySQLStore = require('express-mysql-session')(session);
  const u = new URL(c.url!);
  const store = new MySQLStore({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password) || undefined,
    database: u.pathname.slice(1),
    createDatabaseTable: true,
    schema: { tableName: c.table },
  });
  await store.onReady();
  const server = expressApp(store);
  return { server, port: await listen(server), cleanup: () => store.close() };
}

async function start(kind: StoreServerKind, c: StoreServerConfig): Promise<Started> {
  if (kind.startsWith('pso-')) {
    // pso only in its own servers.
    const { closeStores, serve } = await import('pso-ts');
    const pso = await serve(psoCounter, { port: 0, host: '127.0.0.1', moduleName: 'bench', directives: { PSOSessionStore: c.url! } });
    return { server: pso.server, port: pso.port, cleanup: () => closeStores() };
  }
  switch (kind) {
    case 'bare': {
      const server = bareServer();
      return { server, port: await listen(server) };
    }
    case 'fastify-memory':
      return fastifyServer();
    case 'express-memory': {
      const server = expressApp(undefined);
      return { server, port: await listen(server) };
    }
    case 'express-redis':
      return expressRedis(c);
    case 'express-postgres':
      return expressPostgres(c);
    case 'express-mysql':
      return expressMysql(c);
    default:
      throw new Error(`no server for ${kind}`);
  }
}

async function main(): Promise<void> {
  const [kind, config] = process.argv.slice(2) as [StoreServerKind, string | undefined];
  if (!STORE_SERVER_KINDS.includes(kind)) throw new Error(`usage: store-servers.js <${STORE_SERVER_KINDS.join('|')}> [config JSON]`);
  await serveChild(() => start(kind, JSON.parse(config ?? '{}')));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
