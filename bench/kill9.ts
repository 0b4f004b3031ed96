// kill -9 of `pso serve` mid-save, a thousand times per store: see README.md.
//
//   node dist/bench/kill9.js [--kills 1000] [--store file,sqlite] [--servers both|single|workers] [--sessions 4] [--lock-timeout 10] [--seed N]
//
// Each store gets its own run: servers started one after the other on one
// port (single-process and `--workers 2` in turn), load on a few sessions,
// SIGKILL at random moments (a single process; one worker; the primary with
// its workers, as a process group), and every session read back after every
// restart and checked against the last count the client saw acknowledged.
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isMain } from 'pso-ts';
import { runKills, type KillRunReport, type KillStore } from '../spec/support/killRun.js';
import { RESULTS_DIR, environment, fmt, runMain, table } from './lib.js';

interface KillOptions {
  kills: number;
  stores: KillStore[];
  servers: 'single' | 'workers' | 'both';
  sessions: number;
  seed: number | undefined;
  lockTimeout: number;
}

function parse(argv: string[]): KillOptions {
  const o: KillOptions = { kills: 1000, stores: ['file', 'sqlite'], servers: 'both', sessions: 4, seed: undefined, lockTimeout: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive integer`);
      return n;
    };
    if (a === '--kills') o.kills = count();
    else if (a === '--sessions') o.sessions = count();
    else if (a === '--seed') o.seed = count();
    else if (a === '--lock-timeout') o.lockTimeout = count();
    else if (a === '--store') {
      const names = value().split(',');
      const bad = names.filter((n) => n !== 'file' && n !== 'sqlite');
      if (bad.length) throw new Error(`--store: unknown ${bad.join(', ')} (file, sqlite)`);
      o.stores = names as KillStore[];
    } else if (a === '--servers') {
      const v = value();
      if (v !== 'single' && v !== 'workers' && v !== 'both') throw new Error('--servers: single, workers or both');
      o.servers = v;
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const env = environment();
  console.log(`kill9: ${o.kills} kills per store (${o.stores.join(', ')}), servers ${o.servers}, ${o.sessions} sessions, PSOSessionLockTimeout ${o.lockTimeout}; node ${env.node}, ${env.cpus} CPUs`);
  const runs: { store: KillStore; report: KillRunReport }[] = [];
  for (const store of o.stores) {
    const dir = mkdtempSync(join(tmpdir(), `pso-kill9-${store}-`));
    console.log(`\n${store} store:`);
    try {
      const report = await runKills({
        store, dir, kills: o.kills, servers: o.servers, sessions: o.sessions, lockTimeoutSeconds: o.lockTimeout, ...(o.seed !== undefined ? { seed: o.seed } : {}),
        progress: (line) => console.log(`  ${line}`),
      });
      runs.push({ store, report });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const rows = [['store', 'kills', 'process', 'worker', 'primary+workers', 'starts', 'acknowledged', 'unanswered', 'checks', 'violations', 'hung', 'recovery p50/max ms', 'elapsed s', 'seed']];
  for (const { store, report: r } of runs) {
    rows.push([
      store, String(r.kills.process + r.kills.worker + r.kills.primary), String(r.kills.process), String(r.kills.worker), String(r.kills.primary),
      String(r.starts), String(r.acknowledged), String(r.unanswered), String(r.checks), String(r.violations.length), String(r.hung),
      `${r.recoveryMs.median}/${r.recoveryMs.max}`, fmt(r.elapsedMs / 1000), String(r.seed),
    ]);
  }
  console.log(`\n${table(rows)}`);
  console.log(
    '  checks: answers compared with what the client knew (each increment\'s count, each session read back after every\n' +
      '  restart and worker kill, and the store read directly at the end); recovery: from a server\'s start to every session read back;\n' +
      '  hung: reads just after a worker was killed that got no answer at all (node:cluster\'s handoff; see README.md).',
  );
  for (const { store, report: r } of runs) for (const v of r.violations) console.log(`  VIOLATION (${store}): ${v}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'kill9.json');
  await writeFile(file, `${JSON.stringify({ bench: 'kill9', date: new Date().toISOString(), env, options: o, runs }, null, 2)}\n`);
  console.log(`\nJSON: ${relative(process.cwd(), file) || file}`);
  return runs.every((r) => r.report.violations.length === 0) ? 0 : 1;
}

if (isMain(import.meta.url)) runMain(main);
