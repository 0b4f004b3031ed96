// The cookie store: sessions sealed in their cookie (AES-256-GCM, a key list
// for rotation), a size guard before the browser's 4 KB limit, nothing kept
// on the server; on node:http and behind a fetch handler.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigurationError, CookieStoreImpl, ServiceHandler, SessionStoreError, TOKENS, createContainer, createFetchHandler, serve,
  type PsoServer, type ServiceRequest,
} from '../../../src/index.js';
import { cookieKeys, openText, sealText } from '../../../src/session/identity/cookieSeal.js';
import { CookieStore, MAX_COOKIE_BYTES, cookieStoreFor } from '../../../src/session/stores/CookieStore.js';
import { FakeRequest, tempDir } from '../../support/fakeRequest.js';
import { CookieJar } from '../../support/http.js';
import { MemoryLogger } from '../../support/memoryLogger.js';

const K1 = 'k1-a-secret-of-at-least-thirty-two-characters';
const K2 = 'k2-another-secret-of-thirty-two-characters-or-more';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const record = (data: Record<string, string | number> = { n: 1 }) => ({ data, created: Date.now(), expires: Date.now() + 60_000 });

describe('cookieSeal', () => {
  it('opens what it sealed, with the first key; bound to its context', () => {
    const keys = cookieKeys([K1]);
    const value = sealText(keys, 'pso cookie\0shop', 'hello');
    assert.match(value, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(openText(keys, 'pso cookie\0shop', value), { text: 'hello', older: false });
    assert.equal(openText(keys, 'pso cookie\0blog', value), undefined, 'sealed for another cookie');
  });

  it('when a value is altered, cut, or not one of its own, opens nothing', () => {
    const keys = cookieKeys([K1]);
    const value = sealText(keys, 'c', 'hello');
    const bytes = Buffer.from(value, 'base64url');
    bytes[bytes.length - 20] ^= 1;
    for (const bad of [bytes.toString('base64url'), value.slice(0, -3), '', 'not.base64!', Buffer.alloc(40).toString('base64url')]) {
      assert.equal(openText(keys, 'c', bad), undefined, bad);
    }
  });

  it('rotates keys: a value sealed with a key still listed opens (and says it is older); one whose key is gone does not', () => {
    const old = sealText(cookieKeys([K1]), 'c', 'hello');
    assert.deepEqual(openText(cookieKeys([K2, K1]), 'c', old), { text: 'hello', older: true });
    assert.equal(openText(cookieKeys([K2]), 'c', old), undefined);
  });

  it('when no key, or a short one, is given, is a ConfigurationError naming PSOSessionCookieKeys', () => {
    assert.throws(() => cookieKeys([]), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionCookieKeys' && /at least 32 characters/.test(e.reason));
    assert.throws(() => cookieKeys([K1, 'short']), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionCookieKeys' && e.value === '(hidden)');
  });
});

describe('CookieStore', () => {
  const request = new FakeRequest({ env: { PSOSessionCookieKeys: `${K1} ${K2}` } });

  it('seals a session and its id for a cookie name, and opens it for that name only', () => {
    const store = new CookieStore();
    const r = record({ n: 7, name: 'é' });
    const value = store.seal(request, 'shop', 'abc', r);
    assert.ok(!value.includes('abc'));
    const opened = store.open(request, 'shop', value)!;
    assert.equal(opened.id, 'abc');
    assert.deepEqual({ ...opened.record.data }, { n: 7, name: 'é' });
    assert.equal(opened.record.expires, r.expires);
    assert.equal(store.open(request, 'blog', value), undefined);
  });

  it('refuses, with a SessionStoreError saying why, a session whose cookie would pass the 4,096 bytes browsers keep', () => {
    const store = new CookieStore({ keys: [K1] });
    // name=value: 'shop=' and base64url of 33 bytes of envelope, the id, a newline and the record.
    const fits = (n: number) => {
      try {
        return `shop=${store.seal(request, 'shop', 'abc', record({ s: 'x'.repeat(n) }))}`.length;
      } catch (e) {
        assert.ok(e instanceof SessionStoreError, String(e));
        assert.match(e.message, /cookie of \d+ bytes, more than the 4096 browsers keep .* it was not saved/);
        return undefined;
      }
    };
    let n = 2_000;
    while (n < 4_000 && fits(n + 1) !== undefined) n++;
    assert.ok(fits(n)! <= MAX_COOKIE_BYTES && fits(n)! > MAX_COOKIE_BYTES - 4, `the largest cookie made is ${fits(n)} bytes`);
    assert.equal(fits(n + 1), undefined);
  });

  it('takes its keys in code over the directive', () => {
    const store = new CookieStore({ keys: [K2] });
    const value = store.seal(new FakeRequest(), 'shop', 'abc', record());
    assert.equal(new CookieStore().open(new FakeRequest({ env: { PSOSessionCookieKeys: K2 } }), 'shop', value)?.id, 'abc');
    assert.equal(new CookieStore().open(new FakeRequest({ env: { PSOSessionCookieKeys: K1 } }), 'shop', value), undefined, 'a key not listed opens nothing');
  });

  it('is not a key-value store: get, set and destroy say how it is used', async () => {
    await assert.rejects(new CookieStore().get(), /read and written by the session policy/);
  });

  it('cookie: URLs take nothing after the scheme', () => {
    assert.ok(cookieStoreFor('cookie:') instanceof CookieStore);
    assert.throws(() => cookieStoreFor('cookie://keys=abc'), ConfigurationError);
  });
});

/** A counter, and a few pages that do what the cookie store cannot. */
async function counter(request: ServiceRequest): Promise<void> {
  const session = request.session;
  const q = new URLSearchParams(request.queryString);
  request.sendHttpHeaders('text/plain');
  if (request.path === '/big') session.set('blob', 'x'.repeat(Number(q.get('size'))));
  if (request.path === '/slow') await sleep(150);
  if (request.path === '/stream-then-change') {
    request.write('started\n');
    await request.flush();
    session.increment('n');
    return;
  }
  if (request.path === '/save-then-stream') {
    session.increment('n');
    await session.save();
    request.write('started\n');
    await request.flush();
    return;
  }
  if (request.path === '/peek') {
    request.write(`n: ${session.get('n') ?? '-'}\n`);
    return;
  }
  if (request.path === '/login') request.login('ada');
  if (request.path === '/list') {
    request.write(JSON.stringify(await session.userSessions()));
    return;
  }
  if (request.path === '/logout') {
    session.destroy();
    return;
  }
  request.write(`n: ${session.increment('n')} user: ${session.userId ?? '-'}\n`);
}

describe('the cookie store on node:http (PSOSessionStore cookie:)', function () {
  this.timeout(20_000);
  let dir: string;
  let cleanup: () => void;
  const servers: PsoServer[] = [];
  let logger: MemoryLogger;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    logger = new MemoryLogger();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    cleanup();
  });

  async function start(directives: Record<string, string> = {}): Promise<(jar: CookieJar, path?: string) => Promise<{ status: number; text: string; cookie: string | undefined }>> {
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(logger);
    const server = await serve(counter, {
      port: 0, moduleName: 'crumb', serviceHandler: new ServiceHandler(container),
      // Files would go here: nothing may appear.
      directives: { PSOSessionStore: 'cookie:', PSOSessionCookieKeys: K1, PSOSessionFileLoader_Path: join(dir, 'never'), ...directives },
    });
    servers.push(server);
    const base = server.url.replace(/\/$/, '');
    return async (jar, path = '/') => {
      const r = await jar.fetch(`${base}${path}`);
      return { status: r.status, text: await r.text(), cookie: r.headers.getSetCookie().find((c) => c.startsWith('crumb=')) };
    };
  }

  it('keeps the session in its cookie, sealed, and nothing on the server', async () => {
    const get = await start();
    const jar = new CookieJar();
    assert.equal((await get(jar)).text, 'n: 1 user: -\n');
    const second = await get(jar);
    assert.equal(second.text, 'n: 2 user: -\n');
    assert.match(second.cookie!, /^crumb=[A-Za-z0-9_-]{100,}; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.ok(!Buffer.from(jar.cookies.get('crumb')!, 'base64url').toString('latin1').includes('"n"'), 'the data is not readable in the cookie');
    assert.equal((await get(jar)).text, 'n: 3 user: -\n');
    assert.equal(existsSync(join(dir, 'never')), false);
  });

  it('a cookie altered, or sealed for another cookie name, gives a new session', async () => {
    const get = await start();
    const jar = new CookieJar();
    await get(jar);
    await get(jar);
    const value = jar.cookies.get('crumb')!;
    const altered = new CookieJar();
    altered.cookies.set('crumb', value.slice(0, 50) + (value[50] === 'A' ? 'B' : 'A') + value.slice(51));
    assert.equal((await get(altered)).text, 'n: 1 user: -\n');
    const elsewhere = await start({ PSOServiceId: 'other' });
    const moved = new CookieJar();
    moved.cookies.set('other', value);
    assert.equal((await elsewhere(moved)).text, 'n: 1 user: -\n');
  });

  it('rotates keys: a new first key seals, the old one still opens (and its cookies are sealed again); once removed, its sessions end', async () => {
    const jar = new CookieJar();
    await (await start({ PSOSessionCookieKeys: K1 }))(jar);
    const both = await start({ PSOSessionCookieKeys: `${K2} ${K1}` });
    const stale = new CookieJar();
    stale.cookies.set('crumb', jar.cookies.get('crumb')!);
    assert.equal((await both(jar)).text, 'n: 2 user: -\n');
    assert.equal((await (await start({ PSOSessionCookieKeys: K2 }))(jar)).text, 'n: 3 user: -\n', 'resealed with K2');
    assert.equal((await (await start({ PSOSessionCookieKeys: K2 }))(stale)).text, 'n: 1 user: -\n', 'a cookie sealed with K1 alone ends');
  });

  it('a session only read is sealed again with the first key when it came sealed with another', async () => {
    const jar = new CookieJar();
    await (await start({ PSOSessionCookieKeys: K1 }))(jar);
    const peek = await (await start({ PSOSessionCookieKeys: `${K2} ${K1}` }))(jar, '/peek');
    assert.equal(peek.text, 'n: 1\n');
    assert.ok(peek.cookie, 'sent again, sealed with K2');
    assert.equal((await (await start({ PSOSessionCookieKeys: K2 }))(jar, '/peek')).text, 'n: 1\n');
    const again = await (await start({ PSOSessionCookieKeys: K2 }))(jar, '/peek');
    assert.equal(again.cookie, undefined, 'nothing to send once sealed with the first key');
  });

  it('a session past its expiry is refused on the server, though the client kept the cookie', async () => {
    const get = await start({ PSOSessionExpire: '1' });
    const jar = new CookieJar();
    const first = await get(jar);
    assert.match(first.cookie!, /Max-Age=1/);
    await sleep(1_100);
    assert.equal((await get(jar)).text, 'n: 1 user: -\n');
  });

  it('a session too big for a cookie is a 500 that says so, and the cookie the client has is kept', async () => {
    const get = await start();
    const jar = new CookieJar();
    await get(jar);
    const before = jar.cookies.get('crumb');
    const big = await get(jar, '/big?size=3500');
    assert.equal(big.status, 500);
    assert.equal(big.cookie, undefined);
    assert.equal(jar.cookies.get('crumb'), before);
    assert.ok(logger.has('error', /more than the 4096 browsers keep/), JSON.stringify(logger.lines));
    assert.equal((await get(jar)).text, 'n: 2 user: -\n');
    assert.equal((await get(jar, '/big?size=2000')).status, 200);
  });

  it('takes no lock: parallel requests each carry their own copy, and the last answer wins', async () => {
    const get = await start();
    const jar = new CookieJar();
    await get(jar);
    const [a, b] = await Promise.all([get(jar, '/slow'), get(jar, '/slow')]);
    assert.deepEqual([a.text, b.text], ['n: 2 user: -\n', 'n: 2 user: -\n']);
  });

  it('login, logout: the user travels in the cookie; listing a user\'s sessions is refused, saying why', async () => {
    const get = await start();
    const jar = new CookieJar();
    await get(jar, '/login');
    assert.equal((await get(jar)).text, 'n: 2 user: ada\n');
    const listed = await get(jar, '/list');
    assert.equal(listed.status, 500);
    assert.ok(logger.has('error', /PSOSessionStore.*cookie store keeps each session in its browser/), JSON.stringify(logger.lines));
    const out = await get(jar, '/logout');
    assert.match(out.cookie!, /^crumb=; Max-Age=0/);
    assert.equal((await get(jar)).text, 'n: 1 user: -\n');
  });

  it('a change after the head went out cannot be sent, and says so; one saved before it can', async () => {
    const get = await start();
    const jar = new CookieJar();
    await get(jar);
    const late = await get(jar, '/stream-then-change');
    assert.equal(late.cookie, undefined);
    assert.ok(logger.has('error', /response headers went out before it was saved/), JSON.stringify(logger.lines));
    const early = await get(jar, '/save-then-stream');
    assert.ok(early.cookie);
    assert.equal((await get(jar)).text, 'n: 3 user: -\n');
  });

  it('refuses PSOSessionUrl and a missing key with a 500 naming the directive', async () => {
    const jar = new CookieJar();
    assert.equal((await (await start({ PSOSessionUrl: 'on' }))(jar)).status, 500);
    assert.ok(logger.has('error', /PSOSessionUrl.*cannot travel in URLs/));
    assert.equal((await (await start({ PSOSessionCookieKeys: '' }))(jar)).status, 500);
    assert.ok(logger.has('error', /PSOSessionCookieKeys/));
  });
});

describe('the cookie store behind a fetch handler', () => {
  it('keeps a counter with no file system at all, the store bound in code', async () => {
    const container = createContainer();
    container.bind(TOKENS.SessionStore).toConstantValue(new CookieStore({ keys: [K1] }));
    container.rebind(TOKENS.SessionImpl).to(CookieStoreImpl).inSingletonScope();
    const fetchHandler = createFetchHandler(counter, { serviceHandler: new ServiceHandler(container), moduleName: 'crumb' });
    let cookie = '';
    for (const n of [1, 2, 3]) {
      const res = await fetchHandler(new Request('http://app.example/', { headers: cookie ? { cookie } : {} }));
      assert.equal(await res.text(), `n: ${n} user: -\n`);
      cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
    }
  });
});
