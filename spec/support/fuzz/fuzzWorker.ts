// The worker thread that runs one fuzz target (see runTarget.ts). Each case
// is told in a shared buffer as it starts (FuzzTarget.ts), so that the thread
// that started this one can tell a case that hangs, stop this thread, and
// show the case.
import fc from 'fast-check';
import { parentPort, workerData } from 'node:worker_threads';
import { reportProgressTo, type FuzzTarget } from './FuzzTarget.js';

/** What runTarget.ts sends. */
export interface WorkerInput {
  moduleUrl: string;
  name: string;
  numRuns: number;
  seed: number;
  /** Longest one async case may take before it fails as a hang (a sync one is stopped by the watchdog). */
  deadlineMs: number;
  /** Stop generating after this long (the bench); the cases run so far count. */
  timeLimitMs: number | undefined;
  progress: SharedArrayBuffer;
}

/** What the worker answers. */
export interface WorkerOutput {
  failed: boolean;
  interrupted: boolean;
  numRuns: number;
  numSkips: number;
  numShrinks: number;
  report: string;
  ms: number;
}

const input = workerData as WorkerInput;
const mod = (await import(input.moduleUrl)) as { targets: FuzzTarget[] };
const target = mod.targets.find((t) => t.name === input.name);
if (!target) throw new Error(`no fuzz target ${input.name} in ${input.moduleUrl}`);
reportProgressTo(input.progress);
const began = Date.now();
const property = target.property();
const details = await fc.check(property as fc.IAsyncProperty<unknown>, {
  numRuns: input.numRuns,
  seed: input.seed,
  // Only async cases can be timed out here (fast-check would make every sync one async for nothing).
  ...(property.isAsync() ? { timeout: input.deadlineMs } : {}),
  ...(input.timeLimitMs !== undefined ? { interruptAfterTimeLimit: input.timeLimitMs } : {}),
});
const out: WorkerOutput = {
  failed: details.failed,
  interrupted: details.interrupted,
  numRuns: details.numRuns,
  numSkips: details.numSkips,
  numShrinks: details.numShrinks,
  report: details.failed ? `${fc.defaultReportMessage(details) ?? 'failed'}${errorOf(details.errorInstance)}` : '',
  ms: Date.now() - began,
};
new Float64Array(input.progress)[1] = 0;
parentPort!.postMessage(out);
// Ended from within, the thread runs its targets' exit handlers (their temporary directories go);
// terminate() from the thread that started it, which follows the answer, would skip them.
process.exit(0);

/** The error of the failing case, which the report leaves out when the predicate threw. */
function errorOf(error: unknown): string {
  if (error === undefined) return '';
  return `\nThe error of the counterexample: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}
