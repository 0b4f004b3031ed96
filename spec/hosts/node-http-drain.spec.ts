import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, TOKENS, createContainer, type Handler, type PsoServer } from '../../src/index.js';
import { listenHttp } from '../../src/hosts/node-http/listenHttp.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { get, sleep } from '../support/psoServe.js';

describe('listenHttp() close(graceMs): the drain', function () {
  this.timeout(20_000);
  let dir: string;
  let server: PsoServer;
  let agent: Agent;

  /** Handlers still running: one cut off by the drain goes on, and its session's end may touch the directory. */
  const running = new Set<Promise<void>>();
  /** Answers "ok", after `?sleep=MS` if asked. */
  const handler: Handler<any> = (r) => {
    const done = (async () => {
      const ms = Number(r.getInput('sleep', '0'));
      if (ms) await sleep(ms);
      r.write('ok');
    })();
    running.add(done);
    return done.finally(() => running.delete(done));
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pso-drain-'));
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
    server = await listenHttp(handler, { moduleName: 'drain', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir, PSOSessionLazy: 'on' } }, { kind: 'tcp', host: '127.0.0.1', port: 0 });
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
  });
  afterEach(async () => {
    agent.destroy();
    await server.close(0);
    // The directory goes once no handler can write to it (a cut-off one ends its request after its sleep).
    await Promise.allSettled([...running]);
    await sleep(50);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a request in progress finish, marked Connection: close, and refuses new connections', async () => {
    const slow = get(server.url, '/?sleep=500', { agent });
    await sleep(100);
    const closed = server.close(5000);
    await sleep(50);
    await assert.rejects(get(server.url), /ECONNREFUSED/);
    const answer = await slow;
    assert.equal(answer.body, 'ok');
    assert.equal(answer.headers.connection, 'close');
    await closed;
  });

  it('answers a request that comes on an idle kept-alive connection after the drain started, instead of resetting it', async () => {
    assert.equal((await get(server.url, '/', { agent })).body, 'ok');
    const closed = server.close(5000);
    await sleep(200);
    // The same connection: the agent has one socket, idle since the first answer.
    const late = await get(server.url, '/', { agent });
    assert.equal(late.body, 'ok');
    assert.equal(late.headers.connection, 'close');
    await closed;
  });

  it('closes a connection that stays idle after a second, and is done then', async () => {
    assert.equal((await get(server.url, '/', { agent })).body, 'ok');
    const started = Date.now();
    await server.close(10_000);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  });

  it('cuts off a request still running at the end of the grace period', async () => {
    const slow = get(server.url, '/?sleep=5000', { agent }).then(() => 'answered', (e: Error) => e.message);
    await sleep(100);
    const started = Date.now();
    await server.close(300);
    assert.ok(Date.now() - started < 2000);
    assert.match(await slow, /socket hang up|ECONNRESET/);
  });

  it('without a grace period closes idle connections at once, as node:http does', async () => {
    assert.equal((await get(server.url, '/', { agent })).body, 'ok');
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 500);
  });
});

describe('serve() on a port in use', () => {
  it('rejects with a ListenError that says what to do, with the system error as its cause', async () => {
    const { serve } = await import('../../src/index.js');
    const first = await serve(() => undefined, { port: 0 });
    try {
      const second = serve(() => undefined, { port: first.port });
      await assert.rejects(second, (e: Error & { cause?: NodeJS.ErrnoException }) => {
        assert.equal(e.name, 'ListenError');
        assert.match(e.message, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${first.port}: the address is in use; fix: `));
        assert.equal(e.cause?.code, 'EADDRINUSE');
        return true;
      });
    } finally {
      await first.close();
    }
  });
});
