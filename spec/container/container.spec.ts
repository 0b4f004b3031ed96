import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  CookieFileImpl, KeyedMutex, RandomSessionIdGenerator, ServiceHandler, StderrLogger, TOKENS, createContainer,
  injectableSubclass, type Logger, type ServiceRequest, type SessionIdGenerator,
} from '../../src/index.js';
import { parseCgiOutput } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';

/** Runs `handler` once as a CGI request in this process; returns the parsed response. */
async function runOnce(handler: (r: ServiceRequest) => unknown, serviceHandler: ServiceHandler, env: Record<string, string>, options: Parameters<ServiceHandler['run']>[1] = {}) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  await serviceHandler.run(handler, { ...options, moduleName: 'di', stdout: out, env: { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', ...env } });
  return parseCgiOutput(text);
}

const counter = (r: ServiceRequest) => r.write(String(r.session.increment('n')));

describe('createContainer()', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-di-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('binds every default, the session policy as a singleton', () => {
    const c = createContainer();
    assert.ok(c.get(TOKENS.Logger) instanceof StderrLogger);
    assert.ok(c.get(TOKENS.SessionIdGenerator) instanceof RandomSessionIdGenerator);
    assert.ok(c.get(TOKENS.SessionMutex) instanceof KeyedMutex);
    assert.ok(c.get(TOKENS.SessionImpl) instanceof CookieFileImpl);
    assert.equal(c.get(TOKENS.SessionImpl), c.get(TOKENS.SessionImpl));
  });

  describe('rebind', () => {
    it('replaces the logger for every request', async () => {
      const c = createContainer();
      const logger = new MemoryLogger();
      c.rebind(TOKENS.Logger).toConstantValue(logger satisfies Logger);
      await runOnce((r) => { r.log('from the handler'); r.write('ok'); }, new ServiceHandler(c), { PSOSessionFileLoader_Path: dir });
      assert.deepEqual(logger.lines, [{ level: 'info', message: 'GET /: from the handler' }]);
    });

    it('replaces the session id generator, and with it what ids are accepted', async () => {
      class CountingIds implements SessionIdGenerator {
        n = 0;
        generate() { return `id-${String(++this.n).padStart(4, '0')}-${'x'.repeat(20)}`; }
        isWellFormed(id: string) { return /^id-\d{4}-x{20}$/.test(id); }
      }
      const c = createContainer();
      c.rebind(TOKENS.SessionIdGenerator).toConstantValue(new CountingIds());
      const sh = new ServiceHandler(c);
      const first = await runOnce(counter, sh, { PSOSessionFileLoader_Path: dir });
      assert.match(first.header('set-cookie')!, /^di=id-0001-x{20};/);
      const second = await runOnce(counter, sh, { PSOSessionFileLoader_Path: dir, HTTP_COOKIE: 'di=id-0001-xxxxxxxxxxxxxxxxxxxx' });
      assert.equal(second.body, '2');
    });

    it('replaces the session policy with a subclass (made injectable) that changes PATH', async () => {
      class MyFileImpl extends CookieFileImpl {
        static override PATH = join(dir, 'by-rebind');
      }
      const c = createContainer();
      c.rebind(TOKENS.SessionImpl).to(injectableSubclass(MyFileImpl)).inSingletonScope();
      const r = await runOnce(counter, new ServiceHandler(c), {});
      assert.equal(r.body, '1');
      assert.equal(readdirSync(join(dir, 'by-rebind')).length, 1);
    });

    it('when a subclass is bound without being made injectable, says how to fix it', async () => {
      class Undecorated extends CookieFileImpl {
        static override PATH = join(dir, 'never');
      }
      const c = createContainer();
      const logger = new MemoryLogger();
      c.rebind(TOKENS.Logger).toConstantValue(logger);
      c.rebind(TOKENS.SessionImpl).to(Undecorated).inSingletonScope();
      const r = await runOnce(counter, new ServiceHandler(c), {});
      assert.equal(r.status, 500);
      assert.match(logger.text(), /Undecorated was constructed without its dependencies: give it as options.sessionImpl, or bind injectableSubclass\(Undecorated\)/);
      assert.equal(existsSync(join(dir, 'never')), false);
    });
  });
});

describe('ServiceHandler options.sessionImpl', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-di-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes an undecorated subclass, as in the How-To (PATH override)', async () => {
    class MyFileImpl extends CookieFileImpl {
      static override PATH = join(dir, 'path1');
    }
    const sh = new ServiceHandler();
    const first = await runOnce(counter, sh, {}, { sessionImpl: MyFileImpl });
    const id = /di=([^;]+)/.exec(first.header('set-cookie')!)![1];
    assert.ok(existsSync(join(dir, 'path1', `${sessionFileName('di', id)}`)));
    const second = await runOnce(counter, sh, { HTTP_COOKIE: `di=${id}` }, { sessionImpl: MyFileImpl });
    assert.equal(second.body, '2');
  });

  it('takes an undecorated subclass overriding getPath()', async () => {
    const seen: string[] = [];
    class MyFileImpl extends CookieFileImpl {
      override getPath(request: ServiceRequest) {
        seen.push(request.method);
        return join(dir, 'path2');
      }
    }
    await runOnce(counter, new ServiceHandler(), {}, { sessionImpl: MyFileImpl });
    assert.equal(readdirSync(join(dir, 'path2')).length, 1);
    assert.ok(seen.includes('GET'));
  });

  it('lets the PSOSessionFileLoader_Path directive win over PATH', async () => {
    class MyFileImpl extends CookieFileImpl {
      static override PATH = join(dir, 'not-used');
    }
    await runOnce(counter, new ServiceHandler(), { PSOSessionFileLoader_Path: join(dir, 'directive') }, { sessionImpl: MyFileImpl });
    assert.equal(readdirSync(join(dir, 'directive')).length, 1);
    assert.equal(existsSync(join(dir, 'not-used')), false);
  });

  it('refuses a class that is not a SessionImpl', async () => {
    const logger = new MemoryLogger();
    const c = createContainer();
    c.rebind(TOKENS.Logger).toConstantValue(logger);
    const r = await runOnce(counter, new ServiceHandler(c), {}, { sessionImpl: class NotAnImpl {} as never });
    assert.equal(r.status, 500);
    assert.match(logger.text(), /options.sessionImpl must be a subclass of SessionImpl \(such as CookieFileImpl\); got NotAnImpl/);
  });
});
