import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, TOKENS, createContainer, serve, type Handler, type PsoServer, type ServeOptions } from '../../src/index.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';

describe('serve() / createRequestListener()', () => {
  let dir: string;
  let server: PsoServer | undefined;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-node-')); });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(handler: Handler<any>, options: ServeOptions = {}) {
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
    server = await serve(handler, { port: 0, moduleName: 'node', serviceHandler: new ServiceHandler(container), ...options, directives: { PSOSessionFileLoader_Path: dir, ...options.directives } });
    return server.url;
  }

  const counter: Handler<any> = (r) => r.write(String(r.session.increment('n')));

  it('answers /favicon.ico with 404 without running the handler or making a session', async () => {
    const url = await start(counter);
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(url)).text(), '1');
    const icon = await jar.fetch(new URL('/favicon.ico', url).href);
    assert.equal(icon.status, 404);
    assert.deepEqual(icon.headers.getSetCookie(), []);
    assert.equal(await (await jar.fetch(url)).text(), '2', 'the favicon request did not count');
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 1);
  });

  it('passes /favicon.ico to the handler when handleFavicon is set', async () => {
    const url = await start((r) => r.write(r.path), { handleFavicon: true });
    assert.equal(await (await fetch(new URL('/favicon.ico', url))).text(), '/favicon.ico');
  });

  it('reads PSO* variables of the environment once, at start, under the options', async () => {
    process.env.PSOServiceId = 'FromEnv';
    process.env.PSOSessionExpire = '60';
    try {
      const url = await start(counter, { directives: { PSOSessionExpire: '120' } });
      process.env.PSOServiceId = 'ChangedLater';
      const res = await fetch(url);
      const cookie = res.headers.getSetCookie()[0]!;
      assert.match(cookie, /^FromEnv=/);
      assert.match(cookie, /Max-Age=120/, 'options win over the environment');
    } finally {
      delete process.env.PSOServiceId;
      delete process.env.PSOSessionExpire;
    }
  });

  it('derives the CGI variables a script would see from the request and its socket', async () => {
    const url = await start((r) => r.write(['REMOTE_ADDR', 'SERVER_ADDR', 'SERVER_PORT', 'SERVER_NAME', 'SERVER_PROTOCOL', 'REQUEST_URI', 'PATH_INFO', 'QUERY_STRING', 'CONTENT_TYPE', 'HTTP_X_A', 'HTTPS'].map((k) => r.getEnviron(k, '-')).join('|')));
    const port = new URL(url).port;
    const body = await (await fetch(new URL('/p/q?x=1', url), { method: 'POST', body: 'a', headers: { 'content-type': 'text/plain', 'x-a': 'b' } })).text();
    assert.equal(body, `127.0.0.1|127.0.0.1|${port}|127.0.0.1|HTTP/1.1|/p/q?x=1|/p/q|x=1|text/plain|b|-`);
  });

  it('finds directives whatever the case of their names', async () => {
    const url = await start(counter, { directives: { psocookiesession_samesite: 'Strict', 'PSOCOOKIESESSION_PATH': '/' } });
    const cookie = (await fetch(url)).headers.getSetCookie()[0]!;
    assert.match(cookie, /SameSite=Strict/);
  });
});
