// The mocha side of the fuzz targets: one test per target, run in its own
// worker under a deadline (runTarget.ts), its failure report as the message.
import assert from 'node:assert/strict';
import type { FuzzTarget } from './FuzzTarget.js';
import { runTarget } from './runTarget.js';

/**
 * Declares one test per target of the module at `moduleUrl` (its `targets`).
 *
 * @example
 * ```ts
 * const url = new URL('./targets/config.js', import.meta.url).href;
 * describe('config', () => itFuzzes(url, (await import(url)).targets));
 * ```
 */
export function itFuzzes(moduleUrl: string, targets: readonly FuzzTarget[]): void {
  for (const target of targets) {
    it(`${target.name} (${target.runs} cases)`, async function () {
      this.timeout(120_000);
      const result = await runTarget(moduleUrl, target);
      assert.ok(!result.failed, `${target.name}\n${result.report}`);
    });
  }
}
