import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMain, moduleNameOf } from '../../src/service/moduleName.js';

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

describe('isMain', () => {
  let dir: string;
  let entry: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-main-'));
    entry = process.argv[1];
  });
  afterEach(() => {
    process.argv[1] = entry!;
    rmSync(dir, { recursive: true, force: true });
  });

  it('is true for the program itself, named by the same path, a relative one, or a link to it', () => {
    const file = join(dir, 'app.cgi');
    writeFileSync(file, '');
    symlinkSync(file, join(dir, 'app.fcgi'));
    for (const started of [file, relative(process.cwd(), file), join(dir, 'app.fcgi')]) {
      process.argv[1] = started;
      assert.equal(isMain(pathToFileURL(file).href), true, started);
    }
  });

  it('is false for another module, a URL that is no file, and a process without a program', () => {
    const file = join(dir, 'app.cgi');
    writeFileSync(file, '');
    writeFileSync(join(dir, 'other.js'), '');
    process.argv[1] = join(dir, 'other.js');
    assert.equal(isMain(pathToFileURL(file).href), false);
    process.argv[1] = file;
    assert.equal(isMain('data:text/javascript,0'), false);
    process.argv[1] = '';
    assert.equal(isMain(pathToFileURL(file).href), false);
  });
});
