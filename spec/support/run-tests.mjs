#!/usr/bin/env node
// `npm test`: brings up what the integration suites need on this machine
// (see ensure-system.mjs), runs every spec with mocha on the compiled output,
// and ends with one line: "N passed, N failed, N skipped".
import Mocha from 'mocha';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
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
// The time of each spec file (its top-level suites, hooks included); PSO_TEST_TIMES=<file> writes them there, slowest first.
const fileTimes = new Map();
const started = new Map();
const runner = mocha.run((failures) => {
  const { passes = 0, failures: failed = 0, pending = 0 } = runner.stats ?? {};
  if (process.env.PSO_TEST_TIMES) {
    const lines = [...fileTimes].sort((a, b) => b[1] - a[1]).map(([f, ms]) => `${(ms / 1000).toFixed(1).padStart(7)} s  ${f}`);
    writeFileSync(process.env.PSO_TEST_TIMES, `${lines.join('\n')}\n`);
  }
  console.log(`\n${passes} passed, ${failed} failed, ${pending} skipped`);
  process.exitCode = failures ? 1 : 0;
});
runner.on('suite', (suite) => {
  if (suite.parent?.root && suite.file) started.set(suite, performance.now());
});
runner.on('suite end', (suite) => {
  const t = started.get(suite);
  if (t === undefined) return;
  const file = relative(specRoot, suite.file);
  fileTimes.set(file, (fileTimes.get(file) ?? 0) + performance.now() - t);
});
