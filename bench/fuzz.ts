// The fuzz targets of spec/fuzz, run longer: each for a time (or a number of
// cases) with a fresh seed, under the same deadline per case. Prints the
// cases tried per target, their time and any failure with its seed, so that
// `PSO_FUZZ_RUNS=... npm test -- fuzz/` or this run can repeat it.
//
//   npx tsc -p . && node dist/bench/fuzz.js [--seconds 20] [--runs N] [--seed N] [--only TEXT]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuzzTarget } from '../spec/support/fuzz/FuzzTarget.js';
import { runTarget, type RunResult } from '../spec/support/fuzz/runTarget.js';
import { RESULTS_DIR } from './lib.js';

const MODULES = ['config', 'identity', 'forms', 'records', 'fastcgi'];

function options(argv: string[]): { seconds: number; runs: number | undefined; seed: number | undefined; only: string | undefined } {
  const o = { seconds: 20, runs: undefined as number | undefined, seed: undefined as number | undefined, only: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${a} needs a value`);
      return value;
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--only') o.only = v();
    else throw new Error(`unknown option ${a} (--seconds S, --runs N, --seed N, --only TEXT)`);
  }
  if (!(o.seconds > 0) || (o.runs !== undefined && !(o.runs > 0)) || (o.seed !== undefined && !Number.isInteger(o.seed))) throw new Error('--seconds and --runs need positive numbers, --seed an integer');
  return o;
}

const o = options(process.argv.slice(2));
const seed = o.seed ?? (Math.random() * 2 ** 31) | 0;
console.log(`fuzz: seed ${seed}, ${o.runs !== undefined ? `${o.runs} cases` : `${o.seconds} s`} per target\n`);
const results: (RunResult & { module: string })[] = [];
for (const module of MODULES) {
  const url = new URL(`../spec/fuzz/targets/${module}.js`, import.meta.url).href;
  const { targets } = (await import(url)) as { targets: FuzzTarget[] };
  for (const target of targets) {
    if (o.only && !`${module}: ${target.name}`.includes(o.only)) continue;
    const result = await runTarget(url, target, o.runs !== undefined ? { numRuns: o.runs, seed } : { numRuns: 1e9, seed, timeLimitMs: o.seconds * 1000 });
    results.push({ ...result, module });
    const rate = result.ms > 0 ? Math.round((result.numRuns / result.ms) * 1000) : 0;
    console.log(`${result.failed ? 'FAIL' : 'ok  '} ${String(result.numRuns).padStart(9)} cases ${(result.ms / 1000).toFixed(1).padStart(6)} s ${String(rate).padStart(7)}/s  ${module}: ${target.name} (npm test: ${target.runs})`);
    if (result.failed) console.log(`${result.report.slice(0, 4000)}\n`);
  }
}
const total = results.reduce((n, r) => n + r.numRuns, 0);
const failed = results.filter((r) => r.failed).length;
console.log(`\n${results.length} targets, ${total} cases, ${failed} failed (seed ${seed})`);
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(join(RESULTS_DIR, 'fuzz.json'), JSON.stringify({ seed, seconds: o.seconds, runs: o.runs, results: results.map(({ report, ...r }) => ({ ...r, report: report.slice(0, 4000) })) }, null, 2));
process.exitCode = failed ? 1 : 0;
