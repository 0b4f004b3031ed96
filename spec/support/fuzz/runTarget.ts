// Runs a fuzz target in a worker thread under a watchdog: a case that takes
// longer than its deadline (a parser in an endless loop, a regular expression
// that backtracks for ever, a promise that never settles) is a failure that
// shows the input, and the suite goes on.
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import type { FuzzTarget } from './FuzzTarget.js';
import { seedOf } from './FuzzTarget.js';
import type { WorkerInput, WorkerOutput } from './fuzzWorker.js';

const WORKER = new URL('./fuzzWorker.js', import.meta.url);

/** How a target is run. */
export interface RunOptions {
  /** Cases to run (default: the target's own, or env `PSO_FUZZ_RUNS`). */
  numRuns?: number;
  /** Default: fixed, from the target's name. */
  seed?: number;
  /** Longest one case may take (default 5 s: the machine is shared). */
  deadlineMs?: number;
  /** Stop after this long, counting the cases run so far (the bench). */
  timeLimitMs?: number;
}

/** What a run did. */
export interface RunResult extends WorkerOutput {
  name: string;
  seed: number;
}

/**
 * Runs `target` (exported from the module at `moduleUrl`, in `targets`) and
 * resolves with what fast-check found; rejects only when the worker could
 * not run it. A hang resolves as a failure whose report shows the case.
 *
 * @example
 * ```ts
 * const result = await runTarget(new URL('../../fuzz/targets/config.js', import.meta.url).href, target);
 * assert.ok(!result.failed, result.report);
 * ```
 */
export async function runTarget(moduleUrl: string, target: FuzzTarget, options: RunOptions = {}): Promise<RunResult> {
  const fromEnv = Number(process.env.PSO_FUZZ_RUNS);
  const numRuns = options.numRuns ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : target.runs);
  const seed = options.seed ?? seedOf(target.name);
  const deadlineMs = options.deadlineMs ?? 5000;
  const progress = new SharedArrayBuffer(3 * Float64Array.BYTES_PER_ELEMENT);
  const view = new Float64Array(progress);
  const input: WorkerInput = { moduleUrl, name: target.name, numRuns, seed, deadlineMs, timeLimitMs: options.timeLimitMs, progress };
  const worker = new Worker(WORKER, { workerData: input });
  return new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    const finish = (then: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      then();
    };
    const watchdog = setInterval(() => {
      const since = view[1]!;
      // Twice the deadline: an async case gets its own timeout first, which fast-check reports and shrinks.
      if (since === 0 || Date.now() - since <= 2 * deadlineMs) return;
      const index = view[0]!;
      const firstFailure = view[2]! - 1;
      void worker.terminate();
      finish(() => resolve({
        name: target.name, seed, failed: true, interrupted: false, numRuns: index + 1, numSkips: 0, numShrinks: 0, ms: 0,
        report: caseReport(target, seed, index, firstFailure, `a case ran for more than ${2 * deadlineMs} ms and was stopped`),
      }));
    }, Math.min(250, deadlineMs));
    worker.once('message', (out: WorkerOutput) => finish(() => resolve({ ...out, name: target.name, seed })));
    // An error nothing caught ends the worker, as it would end a server: a failure, with the case.
    worker.once('error', (e) => finish(() => resolve({
      name: target.name, seed, failed: true, interrupted: false, numRuns: view[0]! + 1, numSkips: 0, numShrinks: 0, ms: 0,
      report: caseReport(target, seed, view[0]!, view[2]! - 1, `a case ended the worker with an uncaught ${e.stack ?? e}`),
    })));
    worker.once('exit', (code) => finish(() => reject(new Error(`the fuzz worker of ${target.name} exited (${code}) without an answer`))));
  }).finally(() => ended(worker));
}

/**
 * Lets a worker that answered end on its own, so that its exit handlers
 * remove what its targets made (temporary directories); one that has not
 * ended a second later is stopped.
 */
async function ended(worker: Worker): Promise<void> {
  if (worker.threadId === -1) return;
  let stop: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    new Promise<void>((resolve) => (stop = setTimeout(() => void worker.terminate().then(() => resolve()), 1000))),
  ]);
  clearTimeout(stop);
}

/** The case that hung or crashed, generated again from the seed (without running it). */
function caseReport(target: FuzzTarget, seed: number, index: number, firstFailure: number, what: string): string {
  const head = `${what} (seed ${seed}, case ${index})`;
  const which = firstFailure >= 0 ? firstFailure : index;
  let shown: string;
  try {
    const values = fc.sample(target.property() as fc.IRawProperty<unknown>, { seed, numRuns: which + 1 });
    shown = fc.stringify(values[which]);
  } catch (e) {
    shown = `(could not be generated again: ${(e as Error).message})`;
  }
  if (shown.length > 4000) shown = `${shown.slice(0, 4000)}... (${shown.length} characters)`;
  return firstFailure >= 0
    ? `${head} while shrinking the failure of case ${firstFailure}:\n${shown}`
    : `${head}:\n${shown}`;
}
