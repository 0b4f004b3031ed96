// A short soak of `pso serve` (issue: reliability, item 4): 40 s of mixed
// load (new and returning visitors, uploads and uploads cut off, a throwing
// handler, hostile cookies), sampled every 2 s. It asserts what does not
// depend on timing: no file descriptor or temporary file left, session files
// bounded by garbage collection, every answer as expected, memory under a
// generous bound. bench/soak.ts runs ten minutes and judges the memory curve.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from '../support/soakRun.js';

describe('a soak of pso serve under mixed load', function () {
  this.timeout(90_000);
  this.slow(60_000);

  it('leaves no file descriptor or upload file behind, keeps session files bounded, and answers every request as it should', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pso-soak-'));
    try {
      const lines: string[] = [];
      const r = await runSoak({ dir, durationMs: 40_000, sampleEveryMs: 2000, warmupMs: 10_000, rate: 120, expireSeconds: 4, gcProbability: 0.1, gcIntervalSeconds: 3, progress: (l) => lines.push(l) });
      const curve = lines.join('\n');
      assert.ok(r.verdict.answers.pass, `${r.verdict.answers.detail}\n${JSON.stringify(r.answers)}`);
      assert.ok(r.verdict.fds.pass, `${r.verdict.fds.detail}\n${curve}`);
      assert.ok(r.verdict.tempFiles.pass, `${r.verdict.tempFiles.detail}\n${curve}`);
      assert.ok(r.verdict.sessionFiles.pass, `${r.verdict.sessionFiles.detail}\n${curve}`);
      for (const action of ['returning', 'new', 'upload', 'upload-cut', 'throw', 'garbage-cookie', 'overlong-cookie', 'forged-id']) {
        assert.ok(Object.values(r.answers[action] ?? {}).reduce((a, b) => a + b, 0) > 0, `${action} was tried: ${JSON.stringify(r.answers)}`);
      }
      const peak = Math.max(...r.samples.map((s) => s.rssKb));
      assert.ok(peak < 512 * 1024, `peak RSS ${peak} kB\n${curve}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
