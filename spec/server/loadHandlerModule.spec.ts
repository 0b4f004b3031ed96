import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHandlerModule } from '../../src/server/loadHandlerModule.js';
import { ModuleLoadError } from '../../src/server/ModuleLoadError.js';

describe('loadHandlerModule', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'pso-modexports-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const module = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, `export function handler() {}\n${text}`);
    return file;
  };

  describe('the csrf and readOnlySession exports', () => {
    it('are taken as the handler\'s options, a value or a function', async () => {
      const fn = await loadHandlerModule(module('fn.mjs', `export const csrf = () => 'on';\nexport const readOnlySession = (r) => r.path === '/poll';\n`));
      assert.equal(typeof fn.csrf, 'function');
      assert.equal(typeof fn.readOnlySession, 'function');
      const values = await loadHandlerModule(module('values.mjs', `export const csrf = 'origin';\nexport const readOnlySession = true;\n`));
      assert.equal(values.csrf, 'origin');
      assert.equal(values.readOnlySession, true);
      const none = await loadHandlerModule(module('none.mjs', ''));
      assert.equal('csrf' in none, false);
      assert.equal('readOnlySession' in none, false);
    });

    it('refuse a value the option cannot take, saying what to export', async () => {
      await assert.rejects(loadHandlerModule(module('badcsrf.mjs', `export const csrf = 'strict';\n`), 'badcsrf.mjs'), (e: unknown) =>
        e instanceof ModuleLoadError && e.message === `cannot load badcsrf.mjs: its "csrf" export is "strict"; fix: export csrf as true, false, 'on', 'origin', 'off' or a function of the request`);
      await assert.rejects(loadHandlerModule(module('badro.mjs', `export const readOnlySession = 'yes';\n`), 'badro.mjs'), (e: unknown) =>
        e instanceof ModuleLoadError && /its "readOnlySession" export is "yes"; fix: export readOnlySession as a boolean or a function of the request$/.test(e.message));
    });
  });
});
