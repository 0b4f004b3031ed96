import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigurationError, CookieFileImpl, ServiceHandler, TOKENS, UrlFileImpl, createContainer, serve, type ServiceRequest,
} from '../../src/index.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';

describe('UrlFileImpl', () => {
  let dir: string;
  let cleanup: () => void;
  let handler: ServiceHandler;
  let impl: UrlFileImpl;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    handler = new ServiceHandler(createContainer());
    impl = handler.sessionImplFor({ sessionImpl: UrlFileImpl }) as UrlFileImpl;
  });
  afterEach(() => cleanup());

  function req(init: FakeRequestInit = {}): FakeRequest {
    return new FakeRequest({ ...init, env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...init.env } });
  }
  async function handle(init: FakeRequestInit, fn: (r: FakeRequest) => unknown): Promise<FakeRequest> {
    const r = req(init);
    await handler.handle(r, (x) => fn(x as FakeRequest), { sessionImpl: UrlFileImpl });
    assert.ok(r.ended);
    return r;
  }
  const referrerPolicy = (r: FakeRequest) => r.head!.headers.find(([n]) => n === 'Referrer-Policy')?.[1];

  it('is a CookieFileImpl: sessions are files', () => {
    assert.ok(impl instanceof CookieFileImpl);
  });

  it('defaults to "on"; PSOSessionUrl off and only still apply; an invalid value is refused', () => {
    const mode = (v: string | undefined) => impl.urlSessionMode(req({ env: { PSOSessionUrl: v } }));
    assert.equal(mode(undefined), 'on');
    assert.equal(mode(''), 'on');
    // An explicit "off" switches URL ids off again by configuration.
    assert.equal(mode('off'), 'off');
    assert.equal(mode('on'), 'on');
    assert.equal(mode('only'), 'only');
    assert.throws(() => mode('never'), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionUrl' && e.value === 'never');
  });

  it('without any directive: links carry the id, the cookie is sent too, and the query id continues the session', async () => {
    const first = await handle({}, (x) => { x.session.set('n', 1); x.write(x.mkurl('/a')); });
    const id = /^spec=([^;]+)/.exec(first.setCookies()[0]!)![1]!;
    assert.equal(first.sentBody, `/a?spec=${id}`);
    assert.equal(referrerPolicy(first), 'no-referrer');
    assert.ok(existsSync(join(dir, `${sessionFileName('spec', id)}`)));
    const second = await handle({ query: `spec=${id}` }, (x) => x.write(String(x.session.increment('n'))));
    assert.equal(second.sentBody, '2');
    assert.deepEqual(second.setCookies(), []);
  });

  describe('over HTTP', () => {
    let stop: (() => Promise<void>) | undefined;
    afterEach(async () => { await stop?.(); stop = undefined; });

    it('a browser without cookies keeps its session by links and by a posted form; one with cookies gets bare links', async () => {
      const container = createContainer();
      container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
      const server = await serve(async (r: ServiceRequest) => {
        if (r.method === 'POST') await r.form();
        const n = r.session.increment('visits');
        r.write(`${n} ${r.mkurl('/page', { tag: ['x', 'y'] })}`);
      }, { port: 0, moduleName: 'shop', sessionImpl: UrlFileImpl, serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir } });
      stop = () => server.close();

      const first = await fetch(server.url);
      assert.equal(first.headers.get('referrer-policy'), 'no-referrer');
      const [n1, href] = (await first.text()).split(' ');
      assert.equal(n1, '1');
      const m = /^\/page\?tag=x&tag=y&shop=([A-Za-z0-9_-]{27})$/.exec(href!);
      assert.ok(m, href);
      assert.equal(first.headers.getSetCookie()[0]!.split(';')[0], `shop=${m[1]}`);

      // No cookie sent back: the link alone carries the session.
      const second = await fetch(new URL(href!, server.url));
      assert.equal((await second.text()).split(' ')[0], '2');
      const posted = await fetch(new URL('/page', server.url), {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `shop=${m[1]}&q=1`,
      });
      assert.equal(await posted.text(), `3 /page?tag=x&tag=y&shop=${m[1]}`);

      // A browser that keeps cookies gets links without the id after its first visit.
      const jar = new CookieJar();
      await (await jar.fetch(server.url)).text();
      const withCookie = await jar.fetch(server.url);
      assert.equal(await withCookie.text(), '2 /page?tag=x&tag=y');
      assert.equal(withCookie.headers.get('referrer-policy'), null);
    });
  });
});
