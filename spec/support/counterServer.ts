// The session counter behind node:http on a given store, and the check that
// 200 concurrent increments of one session all count: shared by the store specs.
import assert from 'node:assert/strict';
import { ServiceHandler, TOKENS, createContainer, serve, type PsoServer } from '../../src/index.js';
import { CookieJar } from './http.js';
import { MemoryLogger } from './memoryLogger.js';

/** A server whose handler increments `n` in its session and prints it; its logger keeps the lines. */
export async function startCounterServer(moduleName: string, directives: Record<string, string>): Promise<{ server: PsoServer; logger: MemoryLogger }> {
  const container = createContainer();
  const logger = new MemoryLogger();
  container.rebind(TOKENS.Logger).toConstantValue(logger);
  const server = await serve((r) => r.write(String(r.session.increment('n'))), {
    port: 0, moduleName, serviceHandler: new ServiceHandler(container), directives,
  });
  return { server, logger };
}

/** One request, then 200 at once on the same session: every one answered 200, and the count ends at 202. */
export async function assertNoLostIncrements(url: string): Promise<CookieJar> {
  const jar = new CookieJar();
  assert.equal(await (await jar.fetch(url)).text(), '1');
  const statuses = await Promise.all(Array.from({ length: 200 }, () => jar.fetch(url).then(async (r) => (await r.text(), r.status))));
  assert.deepEqual([...new Set(statuses)], [200]);
  assert.equal(await (await jar.fetch(url)).text(), '202');
  return jar;
}
