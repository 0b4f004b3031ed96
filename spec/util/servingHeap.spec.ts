// A `pso serve` process, and a process that makes a server in code (the
// middlewares, a fetch handler, a request listener), keeps a request's
// objects in V8's young generation (allocation-site pretenuring off), unless
// node was started with a pretenuring flag of its own or the code says
// `keepRequestsYoung: false`. The probe is a handler that makes many objects
// at one literal, all kept, as a burst of new sessions would: with
// pretenuring, V8 then allocates that literal's objects old. V8 decides that
// only at collections of a young generation grown to its largest size, which
// takes a timing-dependent while: the servers here grow it in one step
// (--semi-space-growth-factor), and the probe makes its objects in rounds.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../support/http.js';

/** Makes objects at one literal, all kept, in rounds; `young` says where the last one was made. */
const ALLOCATE = `
const inYoung = new Function('o', 'return %InYoungGeneration(o)');
function make(i) { return { i, next: null }; }
let young;
for (let round = 0; round < 4; round++) {
  const keep = [];
  let last;
  for (let i = 0; i < 2_000_000; i++) keep.push((last = make(i)));
  young = inYoung(last);
}
`;

const PROBE = `
export function handler(r) {
  ${ALLOCATE}
  r.sendHttpHeaders('text/plain');
  r.write(young ? 'young' : 'old');
}
`;

/** Serves the probe with `node <nodeArgs> pso serve`, asks it once, stops it. */
async function probe(dir: string, nodeArgs: string[]): Promise<string> {
  const module = join(dir, 'probe.mjs');
  writeFileSync(module, PROBE);
  const server = await startServer(module, ['-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLazy=on'], {}, ['--allow-natives-syntax', '--semi-space-growth-factor=16', ...nodeArgs]);
  try {
    const res = await fetch(server.url);
    assert.equal(res.status, 200, server.stderr());
    return await res.text();
  } finally {
    await server.stop();
  }
}

describe('the heap of a pso serve process', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-heap-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps objects young at a literal whose objects all survived (allocation-site pretenuring off)', async () => {
    assert.equal(await probe(dir, []), 'young');
  });

  it('leaves pretenuring on when node is started with the flag (the probe sees it: objects made old)', async () => {
    assert.equal(await probe(dir, ['--allocation-site-pretenuring']), 'old');
  });
});

/**
 * Makes a server in code with `make` (an expression over the package's
 * exports, `pso`), then runs the probe's allocations in the same process:
 * 'young' or 'old', as the handler above answers.
 */
function probeInCode(make: string, nodeArgs: string[] = []): string {
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `
    const pso = await import(${JSON.stringify(index)});
    ${make};
    ${ALLOCATE}
    process.stdout.write(young ? 'young' : 'old');
  `;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '--semi-space-growth-factor=16', ...nodeArgs, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: '' },
  });
}

describe('the heap of a server made in code', function () {
  this.timeout(60_000);
  const handler = '() => {}';

  it('createFetchHandler() keeps objects young', () => {
    assert.equal(probeInCode(`pso.createFetchHandler(${handler})`), 'young');
  });

  it('psoSession() (and psoMiddleware(), made the same way) keeps objects young', () => {
    assert.equal(probeInCode('pso.psoSession()'), 'young');
  });

  it('createRequestListener() (under serve()) keeps objects young', () => {
    assert.equal(probeInCode(`pso.createRequestListener(${handler})`), 'young');
  });

  it('keepRequestsYoung: false leaves V8 as it is (objects made old)', () => {
    assert.equal(probeInCode(`pso.createFetchHandler(${handler}, { keepRequestsYoung: false })`), 'old');
  });

  it('leaves pretenuring on when node is started with the flag', () => {
    assert.equal(probeInCode(`pso.createFetchHandler(${handler})`, ['--allocation-site-pretenuring']), 'old');
  });
});
