// psoSession() in an Express app: read-only sessions, CSRF checks handed to
// the app's error handler, and Cache-Control on the app's own responses.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CsrfError, ServiceHandler, TOKENS, createContainer, psoSession, type PsoSessionRequest } from '../../src/index.js';
import { CookieJar } from '../support/http.js';
import { MemoryLogger } from '../support/memoryLogger.js';

type Res = { send(body: string): void; status(n: number): Res; set(name: string, value: string): Res };
type App = {
  get(path: string, fn: (req: unknown, res: Res) => void): void;
  post(path: string, fn: (req: unknown, res: Res) => void): void;
  use(...args: unknown[]): void;
  listen(port: number, host: string): Server;
};
const express = createRequire(import.meta.url)('express') as (() => App) & { urlencoded(o: object): unknown };

describe('psoSession() with the session features', () => {
  let dir: string;
  let server: Server;
  let base: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pso-express-features-'));
    const container = createContainer();
    container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
    const serviceHandler = new ServiceHandler(container);
    const directives = { PSOSessionFileLoader_Path: dir, PSOCsrf: 'on' };
    const app = express();
    const pso = (req: unknown) => (req as PsoSessionRequest).pso;
    app.use('/parsed', express.urlencoded({ extended: false }));
    app.use(psoSession({ moduleName: 'exf', serviceHandler, directives, readOnlySession: (r) => (r.path.startsWith('/poll') ? true : undefined) }));
    app.get('/token', (req, res) => { res.send(pso(req).csrfToken()); });
    app.get('/count', (req, res) => { res.send(String(pso(req).session.increment('n'))); });
    app.get('/own', (req, res) => { pso(req).session.set('x', 1); res.set('Cache-Control', 'no-cache').send('own'); });
    app.get('/poll', (req, res) => {
      const s = pso(req).session;
      let refused = '';
      try { s.set('n', 0); } catch (e) { refused = (e as Error).name; }
      res.send(`${String(s.get('n'))} ${refused}`);
    });
    app.post('/parsed/note', (_req, res) => { res.send('noted'); });
    app.post('/note', (_req, res) => { res.send('noted'); });
    app.use((err: unknown, _req: unknown, res: Res, _next: unknown) => {
      res.status(err instanceof CsrfError ? err.status : 500).send(`app error handler: ${(err as Error).message}`);
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens read-only where the option says: reads, refuses changes, saves nothing', async () => {
    const jar = new CookieJar();
    assert.equal(await (await jar.fetch(`${base}/count`)).text(), '1');
    assert.equal(await (await jar.fetch(`${base}/poll`)).text(), '1 SessionReadOnlyError');
    assert.equal(await (await jar.fetch(`${base}/count`)).text(), '2');
  });

  it('puts Cache-Control: private, no-store on the app\'s responses that set or show the session, and keeps the app\'s own', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(`${base}/count`);
    assert.equal(first.headers.get('cache-control'), 'private, no-store');
    assert.equal((await jar.fetch(`${base}/count`)).headers.get('cache-control'), 'private, no-store');
    assert.equal((await jar.fetch(`${base}/own`)).headers.get('cache-control'), 'no-cache');
  });

  it('hands a failed CSRF check to the app\'s error handler as a CsrfError; a token in the header or a parsed body passes', async () => {
    const jar = new CookieJar();
    const token = await (await jar.fetch(`${base}/token`)).text();
    const refused = await jar.fetch(`${base}/note`, { method: 'POST' });
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /^app error handler: CSRF check failed \(token\): no CSRF token came/);
    assert.equal(await (await jar.fetch(`${base}/note`, { method: 'POST', headers: { 'X-CSRF-Token': token } })).text(), 'noted');
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${token}` };
    assert.equal(await (await jar.fetch(`${base}/parsed/note`, form)).text(), 'noted');
    // Unparsed, the body is left for the app: the error says where the token may be.
    const unparsed = await jar.fetch(`${base}/note`, form);
    assert.equal(unparsed.status, 403);
    assert.match(await unparsed.text(), /psoSession\(\) finds the CSRF token in its header, or in a form body that a parser before it has read/);
    // The session was unlocked after each refusal.
    assert.equal(await (await jar.fetch(`${base}/count`)).text(), '1');
  });
});
