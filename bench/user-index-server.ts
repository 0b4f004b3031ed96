// One server for the user-index benchmark: node dist/bench/user-index-server.js <anonymous|users> <config JSON>
// Started by user-index.ts through fork(); reports its port over IPC and stops
// on 'stop' or disconnect, closing its store connections first.
//
//   GET /      loads the session, increments `count`, saves, answers the count;
//              in "users" mode a session bound to nobody is first logged in as
//              one of 100 users, so every measured request is on a bound session
//   GET /peek  answers the count without changing it
//
// config: { directives } (PSOSessionStore, or PSOSessionFileLoader_Path).
import type { ServiceRequest } from 'pso-ts';
import { psoCounter, serveChild } from './lib.js';

const USERS = 100;
let logins = 0;

function boundCounter(request: ServiceRequest) {
  if (request.path !== '/peek' && request.session.userId === undefined) request.login(`user${logins++ % USERS}`);
  psoCounter(request);
}

async function main(): Promise<void> {
  const [mode, config] = process.argv.slice(2);
  if (mode !== 'anonymous' && mode !== 'users') throw new Error('usage: user-index-server.js <anonymous|users> <config JSON>');
  const { directives } = JSON.parse(config ?? '{}') as { directives: Record<string, string> };
  const { closeStores, serve } = await import('pso-ts');
  await serveChild(async () => {
    const pso = await serve(mode === 'users' ? boundCounter : psoCounter, {
      port: 0, host: '127.0.0.1', moduleName: 'bench', directives: { PSOSessionGCProbability: '0', ...directives },
    });
    return { server: pso.server, port: pso.port, cleanup: () => closeStores() };
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
