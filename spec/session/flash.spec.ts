// Flash messages: kept in the session until read once, and safe across a
// Post/Redirect/Get because the session is saved before the redirect goes out.
import assert from 'node:assert/strict';
import {
  CookieStoreImpl, MemoryStore, ServiceHandler, TOKENS, createContainer, serve,
  type Handler, type PsoServer, type SessionRecord,
} from '../../src/index.js';
import { addFlash, FLASH_KEY, takeFlashes } from '../../src/session/flash.js';
import type { JsonValue } from '../../src/session/json.js';
import { CookieJar } from '../support/http.js';
import { FakeRequest, tempDir } from '../support/fakeRequest.js';

/** The handler of the flash tests: POST /note flashes and redirects, GET / shows what waits. */
const notes: Handler = (request) => {
  if (request.method === 'POST') {
    request.session.flash('info', `noted ${request.getInput('text', '')}`);
    if (request.getInput('error')) request.session.flash('error', request.getInput('error')!);
    request.redirect('/', 303);
  }
  const kind = request.getInput('kind');
  request.sendHttpHeaders('text/plain');
  request.write(JSON.stringify(request.session.flashes(kind)));
};

describe('flash messages', () => {
  describe('addFlash and takeFlashes', () => {
    it('queue messages in order and take them once, all or one kind at a time', () => {
      const data: Record<string, JsonValue> = {};
      addFlash(data, 'info', 'one');
      addFlash(data, 'error', 'two');
      addFlash(data, 'info', 'three');
      assert.deepEqual(takeFlashes(data, 'info'), [{ kind: 'info', message: 'one' }, { kind: 'info', message: 'three' }]);
      assert.deepEqual(takeFlashes(data, 'info'), []);
      assert.deepEqual(takeFlashes(data), [{ kind: 'error', message: 'two' }]);
      assert.equal(Object.hasOwn(data, FLASH_KEY), false, 'the key goes with the last message');
      assert.deepEqual(takeFlashes(data), []);
    });

    it('refuse a kind that is no short string and a message that is no string', () => {
      const data: Record<string, JsonValue> = {};
      for (const kind of ['', 'k'.repeat(65), 3, undefined]) {
        assert.throws(() => addFlash(data, kind as string, 'm'), /kind must be a string of 1 to 64 characters/);
      }
      assert.throws(() => addFlash(data, 'info', { html: 1 } as unknown as string), /message must be a string/);
      assert.deepEqual(data, {});
    });

    it('leave out what is not a message in a queue stored by hand or damaged', () => {
      const data: Record<string, JsonValue> = { [FLASH_KEY]: [{ kind: 'info', message: 'ok' }, 'junk', null, { kind: 1, message: 'x' }, [1]] };
      assert.deepEqual(takeFlashes(data), [{ kind: 'info', message: 'ok' }]);
      assert.deepEqual(takeFlashes({ [FLASH_KEY]: 'not a list' }), []);
    });
  });

  describe('session.flash() and session.flashes()', () => {
    let dir: string;
    let cleanup: () => void;
    beforeEach(() => ({ dir, cleanup } = tempDir()));
    afterEach(() => cleanup());

    async function visit(cookie: string | undefined, method = 'GET', query = ''): Promise<FakeRequest> {
      const r = new FakeRequest({
        method, query, env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0' },
        headers: cookie ? { cookie: `spec=${cookie}` } : {},
      });
      await new ServiceHandler(createContainer()).handle(r, notes);
      return r;
    }

    it('give a message on the next request only: Post/Redirect/Get shows it once', async () => {
      const post = await visit(undefined, 'POST', 'text=milk');
      assert.equal(post.head!.status, 303);
      const id = /^spec=([^;]+)/.exec(post.setCookies()[0]!)![1]!;
      assert.deepEqual(JSON.parse((await visit(id)).sentBody), [{ kind: 'info', message: 'noted milk' }]);
      assert.deepEqual(JSON.parse((await visit(id)).sentBody), []);
    });

    it('wait in the session across requests that do not read them, and one kind can be taken alone', async () => {
      const post = await visit(undefined, 'POST', 'text=a&error=bad');
      const id = /^spec=([^;]+)/.exec(post.setCookies()[0]!)![1]!;
      await visit(id, 'POST', 'text=b');
      assert.deepEqual(JSON.parse((await visit(id, 'GET', 'kind=error')).sentBody), [{ kind: 'error', message: 'bad' }]);
      assert.deepEqual(JSON.parse((await visit(id)).sentBody), [{ kind: 'info', message: 'noted a' }, { kind: 'info', message: 'noted b' }]);
    });
  });

  describe('across a redirect from a server whose store is slow to write', () => {
    let server: PsoServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    /** A memory store whose writes take 300 ms: a redirect sent before the write ended would be followed before it. */
    class SlowStore extends MemoryStore {
      writes = 0;
      override async set(key: string, record: SessionRecord): Promise<void> {
        await new Promise((r) => setTimeout(r, 300));
        await super.set(key, record);
        this.writes++;
      }
    }

    it('shows the message on the page the redirect leads to, every time', async function () {
      this.timeout(20_000);
      const store = new SlowStore({ sweepIntervalMs: 0 });
      const container = createContainer();
      container.bind(TOKENS.SessionStore).toConstantValue(store);
      container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
      server = await serve(notes, { port: 0, moduleName: 'prg', serviceHandler: new ServiceHandler(container) });
      const jar = new CookieJar();
      for (let i = 0; i < 5; i++) {
        const post = await jar.fetch(`${server.url}note?text=n${i}`, { method: 'POST' });
        assert.equal(post.status, 303);
        // Followed the moment the redirect arrives, as a browser does.
        const page = await jar.fetch(new URL(post.headers.get('location')!, server.url).href);
        assert.deepEqual(JSON.parse(await page.text()), [{ kind: 'info', message: `noted n${i}` }], `round ${i}`);
      }
      assert.equal(store.writes, 10);
    });
  });
});
