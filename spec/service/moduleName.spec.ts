import assert from 'node:assert/strict';
import { moduleNameOf } from '../../src/service/moduleName.js';

describe('moduleNameOf', () => {
  it('drops the directory and the extension of a script, module or FastCGI program', () => {
    for (const [file, name] of [
      ['/srv/cgi/quick.cgi', 'quick'], ['/srv/cgi/quick.fcgi', 'quick'], ['/srv/cgi/QUICK.FCGI', 'QUICK'],
      ['dist/samples/quick.js', 'quick'], ['samples/quick.ts', 'quick'], ['x/app.mjs', 'app'], ['x/app.d.cts', 'app.d'],
      ['/srv/cgi/quick', 'quick'], ['/srv/cgi/.cgi', 'pso'],
    ] as const) {
      assert.equal(moduleNameOf(file), name, file);
    }
    assert.equal(moduleNameOf(undefined), 'pso');
  });
});
