#!/usr/bin/env node
// `npm test`: brings up what the integration suites need on this machine
// (see ensure-system.mjs), runs every spec with mocha on the compiled output,
// and ends with one line: "N passed, N failed, N skipped".
import Mocha from 'mocha';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureSystem } from './ensure-system.mjs';

const root = new URL('../../', import.meta.url).pathname;
const specRoot = join(root, 'dist/spec');

function specFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...specFiles(p));
    else if (name.endsWith('.spec.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
await ensureSystem();

const mocha = new Mocha({ timeout: 30_000, reporter: 'spec', slow: 2_000 });
for (const file of specFiles(specRoot)) {
  const rel = relative(specRoot, file);
  if (filter.length === 0 || filter.some((f) => rel.includes(f))) mocha.addFile(file);
}
await mocha.loadFilesAsync();
const runner = mocha.run((failures) => {
  const { passes = 0, failures: failed = 0, pending = 0 } = runner.stats ?? {};
  console.log(`\n${passes} passed, ${failed} failed, ${pending} skipped`);
  process.exitCode = failures ? 1 : 0;
});
