import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ServiceHandler, TOKENS, createContainer, psoMiddleware, psoSession, type PsoSessionRequest } from '../../src/index.js';
import { CookieJar } from '../support/http.js';

// express ships no types; a minimal view of what this spec uses.
type App = { get(path: string, fn: (req: unknown, res: { send(body: string): void }) => void): void; use(path: string, fn: unknown): void; listen(port: number, host: string): Server };
const express = createRequire(import.meta.url)('express') as (() => App) & { urlencoded(o: object): unknown };
import { MemoryLogger } from '../support/memoryLogger.js';

describe('psoMiddleware()', () => {
  let dir: string;
  let server: Server;
  let base: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pso-express-'));
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
    const app = express();
    app.get('/plain', (_req, res) => { res.send('express'); });
    app.use('/cookies', psoMiddleware((r) => {
      r.session.set('seen', true);
      r.setCookie('a', '1');
      r.setCookie('b', '2');
      r.setHeader('X-Powered-By', 'pso');
      r.write('two cookies');
    }, { moduleName: 'ck', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir } }));
    app.use('/counter', psoMiddleware((r) => r.write(`${r.path} ${r.session.increment('n')}`), {
      moduleName: 'ex', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir },
    }));
    const echo = psoMiddleware((r) => r.write(JSON.stringify(r.getInputDict())), {
      moduleName: 'ex', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir },
    });
    app.use('/form', echo);
    // Behind a body parser, the form comes from what it parsed.
    app.use('/parsed', express.urlencoded({ extended: false }));
    app.use('/parsed', echo);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the handler with its session under the mount point, beside other routes', async () => {
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(`${base}/counter/a`)).text(), '/a 1');
    assert.equal(await (await jar.fetch(`${base}/counter/b`)).text(), '/b 2');
    assert.match(jar.header(), /^ex=[A-Za-z0-9_-]{27}$/);
    assert.equal(await (await fetch(`${base}/plain`)).text(), 'express');
  });

  it('reads urlencoded and multipart forms, and takes the fields an earlier body parser read', async () => {
    const form = new FormData();
    form.append('a', 'é');
    form.append('a', '2');
    form.append('f', new Blob(['data']), 'f.txt');
    assert.equal(await (await fetch(`${base}/form?q=1`, { method: 'POST', body: form })).text(), '{"q":["1"],"a":["é","2"]}');
    const urlencoded = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&a=2&b=%E2%9C%93' };
    assert.equal(await (await fetch(`${base}/form?q=1`, urlencoded)).text(), '{"q":["1"],"a":["1","2"],"b":["✓"]}');
    assert.equal(await (await fetch(`${base}/parsed?q=1`, urlencoded)).text(), '{"q":["1"],"a":["1","2"],"b":["✓"]}');
  });

  it('sends every Set-Cookie of the handler, though Express set a header first; the handler\'s header replaces Express\'s', async () => {
    const res = await fetch(`${base}/cookies`);
    assert.equal(await res.text(), 'two cookies');
    const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]);
    assert.deepEqual(cookies.sort(), ['a=1', 'b=2', cookies.find((c) => c!.startsWith('ck='))].sort());
    assert.match(cookies.find((c) => c!.startsWith('ck='))!, /^ck=[A-Za-z0-9_-]{27}$/);
    assert.equal(res.headers.get('x-powered-by'), 'pso');
  });

  describe('psoSession()', () => {
    let sdir: string;
    let sserver: Server;
    let sbase: string;
    before(async () => {
      sdir = mkdtempSync(join(tmpdir(), 'pso-express-session-'));
      const container = createContainer();
      container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
      const app = express() as App & { post(path: string, fn: unknown): void };
      app.use('/', psoSession({ moduleName: 'exs', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: sdir } }));
      app.get('/count', (req: unknown, res: { send(body: string): void }) => {
        res.send(String((req as PsoSessionRequest).pso.session.increment('n')));
      });
      app.post('/remember', (req: unknown, res: unknown) => {
        (req as PsoSessionRequest).pso.session.set('remembered', 'yes');
        (res as { redirect(status: number, url: string): void }).redirect(303, '/recall');
      });
      app.get('/recall', (req: unknown, res: { send(body: string): void }) => {
        res.send(String((req as PsoSessionRequest).pso.session.get('remembered')));
      });
      app.get('/hang', (_req: unknown, res: unknown) => { (res as { write(s: string): void }).write('partial'); });
      sserver = app.listen(0, '127.0.0.1');
      await new Promise((r) => sserver.once('listening', r));
      sbase = `http://127.0.0.1:${(sserver.address() as AddressInfo).port}`;
    });
    after(() => {
      sserver.closeAllConnections();
      sserver.close();
      rmSync(sdir, { recursive: true, force: true });
    });

    it('gives later middleware the session: counts 1, 2, 3 with a cookie; a new client starts at 1', async () => {
      const jar = new CookieJar();
      for (const n of [1, 2, 3]) assert.equal(await (await jar.fetch(`${sbase}/count`)).text(), String(n));
      assert.match(jar.header(), /^exs=[A-Za-z0-9_-]{27}$/);
      assert.equal(await (await fetch(`${sbase}/count`)).text(), '1');
    });

    it('saves before the response completes: the page redirected to sees what was stored', async () => {
      const jar = new CookieJar();
      const res = await jar.fetch(`${sbase}/remember`, { method: 'POST', redirect: 'manual' });
      assert.equal(res.status, 303);
      assert.equal(await (await jar.fetch(`${sbase}/recall`)).text(), 'yes');
    });

    it('a client that goes away before the end frees the session for the next request', async () => {
      const jar = new CookieJar();
      assert.equal(await (await jar.fetch(`${sbase}/count`)).text(), '1');
      const ac = new AbortController();
      const hanging = await jar.fetch(`${sbase}/hang`, { signal: ac.signal });
      assert.equal(hanging.status, 200);
      ac.abort();
      const started = Date.now();
      assert.equal(await (await jar.fetch(`${sbase}/count`)).text(), '2');
      assert.ok(Date.now() - started < 5_000, 'the lock was freed, not waited out');
    });
  });
});
