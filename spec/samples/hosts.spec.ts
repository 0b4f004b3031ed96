import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieJar, cleanEnv, sample } from '../support/http.js';

/** Starts a sample that runs its own server and prints its address. */
function startSample(name: string, env: Record<string, string>): Promise<{ url: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [sample(name)], { env: cleanEnv({ PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill(); reject(new Error(`no address from ${name}: ${out}`)); }, 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ url: m[1]!, stop: () => child.kill() }); }
    });
    child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
  });
}

describe('samples on other hosts', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-hostsamples-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, path] of [['express', 'counter/'], ['express', 'app/views'], ['fetch', '']] as const) {
    it(`${name}.ts counts visits 1, 2, 3 with its session at /${path}; a new client starts at 1`, async () => {
      const s = await startSample(name, { PSOSessionFileLoader_Path: dir });
      try {
        const jar = new CookieJar();
        const word = path === 'app/views' ? 'views' : 'visits';
        for (const n of [1, 2, 3]) assert.equal(await (await jar.fetch(s.url + path)).text(), `${word}: ${n}\n`);
        assert.equal(await (await fetch(s.url + path)).text(), `${word}: 1\n`);
      } finally {
        s.stop();
      }
    });
  }
});
