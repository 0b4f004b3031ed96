import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ServiceHandler, TOKENS, createContainer, psoMiddleware } from '../../src/index.js';
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
});
