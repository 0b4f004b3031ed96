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
const express = createRequire(import.meta.url)('express') as () => App;
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
});
