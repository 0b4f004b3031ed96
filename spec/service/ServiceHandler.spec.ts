import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HttpError, OK, HTTP_NOT_FOUND, ServiceHandler, TOKENS, createContainer, serve, type Handler, type PsoServer, type ServiceRequest,
} from '../../src/index.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';

/** Serves `handler` in this process with a memory logger and a temp session directory. */
async function start(handler: Handler<any>, directives: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pso-handler-'));
  const container = createContainer();
  const logger = new MemoryLogger();
  container.rebind(TOKENS.Logger).toConstantValue(logger);
  const server = await serve(handler, {
    port: 0,
    moduleName: 'spec',
    serviceHandler: new ServiceHandler(container),
    directives: { PSOSessionFileLoader_Path: dir, ...directives },
  });
  return {
    server, logger, dir,
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('ServiceHandler', () => {
  let ctx: Awaited<ReturnType<typeof start>> | undefined;
  afterEach(async () => {
    await ctx?.stop();
    ctx = undefined;
  });
  const url = (path = '') => new URL(path, (ctx!.server as PsoServer).url).href;

  describe('handle()', () => {
    it('when the handler is async, waits for it and saves the session before responding', async () => {
      ctx = await start(async (req: ServiceRequest) => {
        await new Promise((r) => setTimeout(r, 20));
        req.session.set('x', 1);
        req.write('done');
      });
      const res = await fetch(url());
      assert.equal(await res.text(), 'done');
      const files = readdirSync(ctx.dir).filter((f) => f.endsWith('.json'));
      assert.equal(files.length, 1, 'saved before the response completed');
    });

    it('when the handler returns OK, sends what it wrote', async () => {
      ctx = await start((req) => {
        req.write('fine');
        return OK;
      });
      const res = await fetch(url());
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'fine');
    });

    it('when the handler returns a status and wrote nothing, answers that status with its reason', async () => {
      ctx = await start(() => HTTP_NOT_FOUND);
      const res = await fetch(url());
      assert.equal(res.status, 404);
      assert.equal(await res.text(), 'Not Found\n');
    });

    it('when the handler throws, answers 500 without a stack, logs it, and keeps serving', async () => {
      let n = 0;
      ctx = await start((req) => {
        if (n++ === 0) throw new Error('boom in handler');
        req.write('still alive');
      });
      const res = await fetch(url());
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.equal(body, '500 Internal Server Error\n');
      assert.doesNotMatch(body, /boom|at /);
      assert.match(ctx.logger.text(), /error GET \/: handler failed: Error: boom in handler\n\s+at /);
      const again = await fetch(url());
      assert.equal(await again.text(), 'still alive');
    });

    it('when the handler throws, the session keeps its previous state (nothing half-done is saved)', async () => {
      ctx = await start((req) => {
        req.session.increment('n');
        if (req.queryString === 'fail') throw new Error('fail after changing the session');
        req.write(String(req.session.get('n')));
      });
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(url())).text(), '1');
      assert.equal((await jar.fetch(url('?fail'))).status, 500);
      assert.equal(await (await jar.fetch(url())).text(), '2', 'the failed increment was not kept');
    });

    it('when PSODebug is on, the 500 body carries the error and its stack', async () => {
      ctx = await start(() => { throw new Error('visible boom'); }, { PSODebug: 'on' });
      const body = await (await fetch(url())).text();
      assert.match(body, /^500 Internal Server Error\n\nError: visible boom\n\s+at /);
    });

    it('when the handler throws an HttpError below 500, answers its status and message', async () => {
      ctx = await start(() => { throw new HttpError(403, 'members only'); });
      const res = await fetch(url());
      assert.equal(res.status, 403);
      assert.equal(await res.text(), '403 Forbidden\nmembers only\n');
    });

    it('when a directive is invalid, answers 500 and logs which directive and value', async () => {
      ctx = await start((req) => req.write('x'), { PSOSessionExpire: '15*60; rm -rf /' });
      const res = await fetch(url());
      assert.equal(res.status, 500);
      assert.doesNotMatch(await res.text(), /rm -rf/);
      assert.match(ctx.logger.text(), /PSOSessionExpire="15\*60; rm -rf \/" is invalid/);
    });

    it('when the session directory cannot be written, answers 500 and logs the directory', async () => {
      const blocker = join(tmpdir(), `pso-blocker-${process.pid}`);
      writeFileSync(blocker, 'a file where a directory should be');
      try {
        ctx = await start((req) => { req.session.set('x', 1); req.write('x'); }, { PSOSessionFileLoader_Path: join(blocker, 'sessions') });
        const res = await fetch(url());
        assert.equal(res.status, 500);
        assert.equal(await res.text(), '500 Internal Server Error\n');
        assert.match(ctx.logger.text(), new RegExp(`cannot create session directory ${blocker}/sessions`));
      } finally {
        rmSync(blocker, { force: true });
      }
    });

    it('when a session stays locked past PSOSessionLockTimeout, answers 503 with Retry-After', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      ctx = await start(async (req) => {
        req.session.increment('n');
        if (req.queryString === 'slow') await gate;
        req.write(String(req.session.get('n')));
      }, { PSOSessionLockTimeout: '1' });
      const jar = new CookieJar();
      await jar.fetch(url());
      const slow = jar.fetch(url('?slow'));
      await new Promise((r) => setTimeout(r, 50));
      const busy = await jar.fetch(url());
      assert.equal(busy.status, 503);
      assert.equal(busy.headers.get('retry-after'), '1');
      release();
      assert.equal(await (await slow).text(), '2');
      assert.equal(await (await jar.fetch(url())).text(), '3');
    });

    it('when 200 requests increment one session at once, none is lost', async () => {
      ctx = await start((req) => req.write(String(req.session.increment('n'))));
      const jar = new CookieJar();
      await jar.fetch(url());
      const results = await Promise.all(Array.from({ length: 200 }, () => jar.fetch(url()).then((r) => r.text())));
      assert.deepEqual(results.map(Number).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 2));
      assert.equal(await (await jar.fetch(url())).text(), '202');
    });
  });
});
