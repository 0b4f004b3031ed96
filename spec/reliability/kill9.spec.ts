// kill -9 of `pso serve` mid-save (issue: reliability, item 2), bounded for
// `npm test`: a few dozen kills per store at random moments under load on four
// sessions, single-process servers and `--workers 2` in turn (one worker
// killed, then the primary with its workers). bench/kill9.ts runs a thousand.
// A read that node:cluster's handoff leaves unanswered when a worker dies is
// counted apart and noted (bench/README.md, kill9): it is not a session's state.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKills, type KillStore } from '../support/killRun.js';

const KILLS = 24;

describe('kill -9 of pso serve under load', function () {
  // About 30 s a store on an idle machine with two CPUs; far longer when others load it.
  this.timeout(180_000);
  this.slow(60_000);

  for (const store of ['file', 'sqlite'] as KillStore[]) {
    it(`${store} store: after each of ${KILLS} kills every session is its last acknowledged state or newer, readable, the same session, and not locked by the dead`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `pso-kill9-${store}-`));
      try {
        const lines: string[] = [];
        const r = await runKills({ store, dir, kills: KILLS, servers: 'both', progress: (l) => lines.push(l) });
        const summary = `seed ${r.seed}: ${JSON.stringify(r.kills)}, ${r.acknowledged} acknowledged, ${r.checks} checks`;
        assert.deepEqual(r.violations, [], `${summary}\n${lines.join('\n')}`);
        if (r.hung) console.log(`      note: ${r.hung} read(s) sent just after a worker was killed got no answer (node:cluster's handoff, see bench/README.md)`);
        assert.equal(r.kills.process + r.kills.worker + r.kills.primary, KILLS);
        assert.ok(r.kills.process > 0 && r.kills.worker > 0 && r.kills.primary > 0, summary);
        assert.ok(r.acknowledged > KILLS, `load ran between the kills: ${summary}`);
        assert.equal(r.stored.sessions, 4);
        assert.equal(r.stored.locksLeft, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
