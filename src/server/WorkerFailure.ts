/**
 * Workers that could not be started or kept running: one died before it
 * listened, did not listen in time, or they keep dying soon after they start.
 *
 * @example
 * ```ts
 * throw new WorkerFailure('a worker exited with code 1 before it listened', 'see its error above');
 * // a worker exited with code 1 before it listened; fix: see its error above
 * ```
 */
export class WorkerFailure extends Error {
  override name = 'WorkerFailure';
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`${reason}; fix: ${fix}`);
  }
}

/**
 * How a process ended, in words.
 *
 * @example
 * ```ts
 * describeExit(null, 'SIGKILL'); // 'was killed by SIGKILL'
 * ```
 */
export function describeExit(code: number | null, signal: string | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}
