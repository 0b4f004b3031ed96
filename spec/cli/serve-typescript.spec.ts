import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../support/http.js';
import { Load, get, psoServe, psoServeFails, sleep, type PsoServe } from '../support/psoServe.js';

const PSO = JSON.stringify(join(ROOT, 'dist/src/index.js'));

describe('pso serve of TypeScript', function () {
  this.timeout(60_000);
  let dir: string;
  let server: PsoServe | undefined;
  const directives = () => ['-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLazy=on'];
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-ts-')); });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a .ts module and the TypeScript it imports, with pso shared, not copied', async () => {
    write('lib.ts', `export const where: string = import.meta.url;\nexport function twice(n: number): number { return n * 2; }\n`);
    write('app.ts', `import { HttpError, type ServiceRequest } from ${PSO};
import { twice, where } from './lib.js';
interface Reply { value: number; where: string }
export function handler(r: ServiceRequest): void {
  if (r.path === '/teapot') throw new HttpError(418, 'short and stout');
  const reply: Reply = { value: twice(21), where };
  r.session.set('visited', true);
  r.sendHttpHeaders('application/json');
  r.write(JSON.stringify(reply));
}
`);
    server = await psoServe(['app.ts', '--port', '0', ...directives()], { TMPDIR: dir }, { cwd: dir });
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('pso-serve-')), [], 'one process deletes its compilation once loaded');
    const r = await get(server.address);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { value: 42, where: pathToFileURL(join(dir, 'lib.ts')).href });
    // The handler's HttpError is pso's own class: its status goes out.
    assert.equal((await get(server.address, '/teapot')).status, 418);
    // The cookie is named after the module, as for JavaScript.
    const named = await psoServe(['app.ts', '--port', '0', '-D', `PSOSessionFileLoader_Path=${join(dir, 's2')}`], {}, { cwd: dir });
    try {
      assert.match(String((await get(named.address)).headers['set-cookie']), /^app=/);
    } finally {
      await named.stop();
    }
  });

  it('serves .mts and .tsx modules, and a .ts one with --workers', async () => {
    write('a.mts', `export const handler = (r: { write(s: string): void }): void => r.write('mts');\n`);
    write('b.tsx', `const h = (r: { write(s: string): void }): void => r.write('tsx');\nexport default h;\n`);
    for (const [file, body, workers] of [['a.mts', 'mts', '1'], ['b.tsx', 'tsx', '1'], ['a.mts', 'mts', '2']] as const) {
      server = await psoServe([file, '--port', '0', '--workers', workers, ...directives()], { TMPDIR: dir }, { cwd: dir });
      assert.equal((await get(server.address)).body, body);
      await server.stop();
      server = undefined;
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('pso-serve-')), [], 'the compilations are deleted on exit');
    }
  });

  it('with --watch, serves an edit of an imported file without a failed request; a broken edit leaves the last good version serving', async () => {
    write('version.ts', `export const version: string = 'v1';\n`);
    write('app.ts', `import { version } from './version.js';\nexport function handler(r: any): void { r.sendHttpHeaders('text/plain'); r.write(version); }\n`);
    server = await psoServe(['app.ts', '--port', '0', '--watch', ...directives()], {}, { cwd: dir });
    assert.match(server.stdout(), /with 1 worker, watching for changes/);
    const load = new Load(server.address, { keepAlive: 4, fresh: 2 });
    await sleep(300);
    write('version.ts', `export const version: string = 'v2';\n`);
    await server.waitFor(/^pso: reloaded app\.ts/m);
    await sleep(1500);
    assert.equal((await get(server.address)).body, 'v2');

    write('version.ts', `export const version: string = ;\n`);
    await server.waitFor(/^pso: reload failed, the previous version goes on serving: cannot load app\.ts: version\.ts:1:32: Unexpected ";"; fix: correct the source at version\.ts:1:32$/m, 20_000, 'stderr');
    assert.equal((await get(server.address)).body, 'v2');

    // The entry itself is watched too.
    write('app.ts', `import { version } from './version.js';\nexport function handler(r: any): void { r.sendHttpHeaders('text/plain'); r.write('app ' + version); }\n`);
    write('version.ts', `export const version: string = 'v3';\n`);
    await server.waitFor(/^pso: reloaded app\.ts[^]*^pso: reloaded app\.ts/m);
    await sleep(1500);
    const tally = await load.stop();
    assert.deepEqual(tally.errors, [], 'no request failed');
    assert.deepEqual(tally.statuses, {});
    assert.equal((await get(server.address)).body, 'app v3');
    assert.ok(tally.bodies.includes('v1') && tally.bodies.includes('v2'), 'the load saw each version');
  });
});

describe('pso serve of a module that cannot be loaded', function () {
  this.timeout(60_000);
  let dir: string;
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-load-'));
    write('nohandler.ts', `export const answer: number = 42;\n`);
    write('syntax.ts', `export function handler(r: any): void {\n  r.write('x';\n}\n`);
    write('syntax.mjs', `import './broken.mjs';\nexport function handler() {}\n`);
    write('broken.mjs', `export const x = {;\n`);
    write('thrower.ts', `export const handler = (): void => undefined;\nthrow new Error('no database configured');\n`);
    write('imports-thrower.ts', `import './thrower.js';\nexport const handler = (): void => undefined;\n`);
    write('nopkg.mjs', `import 'left-pad-that-is-not-installed';\nexport function handler() {}\n`);
    write('nopkg.ts', `import pad from 'left-pad-that-is-not-installed';\nexport const handler = () => pad;\n`);
    write('nofile.ts', `import { x } from './missing.js';\nexport const handler = () => x;\n`);
    write('imports-ts.mjs', `import './nohandler.ts';\nexport function handler() {}\n`);
    write('handler.txt', `export function handler() {}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, RegExp][] = [
    ['missing.ts', /^cannot load missing\.ts: no such file \(looked in \S+\); fix: check the path of the handler module$/],
    ['handler.txt', /^cannot load handler\.txt: pso serve runs \.js, \.mjs, \.cjs, \.ts, \.mts, \.cts, \.tsx and \.jsx modules, not \.txt files; fix: /],
    ['nohandler.ts', /^cannot load nohandler\.ts: it exports no handler; fix: export a function named "handler" \(or a default export\)$/],
    ['syntax.ts', /^cannot load syntax\.ts: syntax\.ts:2:14: Expected "\)" but found ";"; fix: correct the source at syntax\.ts:2:14$/],
    ['syntax.mjs', /^cannot load syntax\.mjs: broken\.mjs:1:19: Expected identifier but found ";"; fix: correct the source at broken\.mjs:1:19$/],
    ['imports-thrower.ts', /^cannot load imports-thrower\.ts: loading it threw Error: no database configured \(at thrower\.ts:2:7\); fix: make the module load without throwing: see thrower\.ts:2:7$/],
    ['nopkg.mjs', /^cannot load nopkg\.mjs: nopkg\.mjs imports the package "left-pad-that-is-not-installed", which is not installed; fix: install it \(npm install left-pad-that-is-not-installed\), or correct the import$/],
    ['nopkg.ts', /^cannot load nopkg\.ts: nopkg\.ts:1:17: cannot find "left-pad-that-is-not-installed"; fix: install it/],
    ['nofile.ts', /^cannot load nofile\.ts: nofile\.ts:1:19: cannot find "\.\/missing\.js"; fix: correct the import at nofile\.ts:1:19$/],
    ['imports-ts.mjs', /^cannot load imports-ts\.mjs: Unknown file extension "\.ts" for \S+nohandler\.ts; fix: serve the TypeScript module itself/],
  ];
  for (const workers of ['1', '2']) {
    for (const [module, message] of cases) {
      it(`${module}: one line, exit 2 (--workers ${workers})`, async () => {
        // TMPDIR: the compilations go under the test's directory, where none may be left.
        const r = await psoServeFails([module, '--port', '0', '--workers', workers], { TMPDIR: dir }, dir);
        assert.equal(r.code, 2, r.stderr);
        assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('pso-serve-')), []);
        assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
        assert.match(r.stderr.replace(/^pso: /, '').trimEnd(), message);
        assert.equal(r.stdout, '');
      });
    }
  }
});
