// A handler for the specs of users' sessions and id rotation: log in, who am
// I (with a counter), list and revoke a user's sessions, regenerate, log out.
// Served in-process (serve()) and by `pso serve` (its `handler` export).
import type { ServiceRequest } from '../../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function handler(request: ServiceRequest): Promise<void> {
  const session = request.session;
  const q = new URLSearchParams(request.queryString);
  const user = q.get('user') ?? undefined;
  request.sendHttpHeaders('text/plain');
  switch (request.path) {
    case '/login':
      request.login(user!);
      if (q.has('ttl')) session.expire(Number(q.get('ttl')));
      if (q.has('only')) await session.revokeUserSessions({ keepCurrent: true });
      request.write(`logged in ${user}\n`);
      return;
    case '/me': {
      if (q.has('ms')) await sleep(Number(q.get('ms')));
      const n = session.increment('n');
      request.write(`user: ${session.userId ?? '-'}\nn: ${n}\n`);
      return;
    }
    case '/list':
      request.write(JSON.stringify(await session.userSessions(user)));
      return;
    case '/revoke':
      request.write(String(await session.revokeUserSessions({ user, keepCurrent: q.has('keep') })));
      return;
    case '/regenerate':
      session.regenerate();
      request.write(`user: ${session.userId ?? '-'}\n`);
      return;
    case '/logout':
      session.destroy();
      request.write('bye\n');
      return;
    default:
      request.setStatus(404);
      request.write('no such page\n');
  }
}
