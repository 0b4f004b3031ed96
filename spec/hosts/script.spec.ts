import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptUsageError, parseScriptArgs } from '../../src/hosts/index.js';
import { ROOT, cleanEnv, runProcess, runScript } from '../support/http.js';

describe('parseScriptArgs()', () => {
  it('turns name=value words into the query and reads the options', () => {
    const a = parseScriptArgs(['-X', 'post', '--path', '/p', 'a=1', '--query', '?b=2', '--cookie', 'c=3', '-b', 'd=4', '-H', 'Accept: text/plain']);
    assert.deepEqual(a, { method: 'POST', path: '/p', query: ['a=1', 'b=2'], cookie: 'c=3; d=4', headers: [['Accept', 'text/plain']], data: [], form: [], methodGiven: true, help: false });
  });

  it('reads -d bodies and -F fields', () => {
    const a = parseScriptArgs(['-d', 'a=1', '--data', 'b=2', '-F', 'f=@/tmp/x', '--form=g=1']);
    assert.deepEqual([a.data, a.form, a.method, a.methodGiven], [['a=1', 'b=2'], ['f=@/tmp/x', 'g=1'], 'GET', false]);
    assert.throws(() => parseScriptArgs(['-F', 'novalue']), /--form expects name=value or name=@file/);
  });

  it('accepts --name=value', () => {
    assert.equal(parseScriptArgs(['--cookie=x=1']).cookie, 'x=1');
  });

  it('refuses unknown options, missing values and bad headers', () => {
    assert.throws(() => parseScriptArgs(['--nope']), ScriptUsageError);
    assert.throws(() => parseScriptArgs(['--cookie']), /--cookie needs a value/);
    assert.throws(() => parseScriptArgs(['-H', 'no colon']), /--header expects "Name: value"/);
    assert.throws(() => parseScriptArgs(['-X', 'G E T']), /invalid method/);
  });
});

describe('script host', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-script-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a handler with the method, query and headers given on the command line', async () => {
    const mod = join(dir, 'echo.mjs');
    writeFileSync(mod, `import { ServiceHandler } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
new ServiceHandler().run((r) => { r.sendHttpHeaders('text/plain'); r.write([r.method, r.queryString, r.getRequestHeader('x-a'), r.path].join('|')); });
`);
    const r = await runScript(mod, ['-X', 'PUT', 'a=1', 'b=2', '-H', 'X-A: yes', '--path', '/here'], { PSOSessionFileLoader_Path: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.header('content-type'), 'text/plain; charset=utf-8');
    assert.equal(r.body, 'PUT|a=1&b=2|yes|/here');
  });

  it('prints a Status line only when the status is not 200, and exits 1 on a 500', async () => {
    const mod = join(dir, 'fail.mjs');
    writeFileSync(mod, `import { ServiceHandler } from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
new ServiceHandler().run(() => { throw new Error('nope'); });
`);
    const r = await runScript(mod, [], { PSOSessionFileLoader_Path: dir });
    assert.equal(r.code, 1);
    assert.equal(r.status, 500);
    assert.match(r.stderr, /handler failed: Error: nope/);
  });

  it('prints usage for --help and exits 2 for a bad command line', async () => {
    const help = await runProcess(process.execPath, [join(ROOT, 'dist/samples/quick.js'), '--help'], cleanEnv());
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: quick \[options\] \[name=value \.\.\.\]\n/);
    const bad = await runScript(join(ROOT, 'dist/samples/quick.js'), ['--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option --bogus/);
  });
});
