// Stores restarted under load (issue: reliability, item 3): Redis (a private
// server), PostgreSQL and MariaDB (the machine's, stopped for a few seconds
// and always started again) go away while four sessions are incremented
// through `pso serve`, and come back. bench/store-restart.ts prints the
// timelines of longer runs.
import assert from 'node:assert/strict';
import { runOutages } from '../support/storeOutage.js';
import { cannotRestart, machineDatabase, privateRedis, type StoreService } from '../support/storeServices.js';

const KINDS = ['redis', 'postgres', 'mysql'] as const;

describe('a store stopped and started under load', function () {
  this.timeout(60_000);
  this.slow(20_000);

  for (const kind of KINDS) {
    it(`${kind}: 503 with Retry-After while down, no crash, no request past its bound, every session back within seconds, no acknowledged increment lost`, async function () {
      const why = cannotRestart(kind);
      if (why) {
        console.log(`    skipped: ${why}`);
        return this.skip();
      }
      const service: StoreService = kind === 'redis' ? await privateRedis() : await machineDatabase(kind);
      try {
        const lines: string[] = [];
        const r = await runOutages({ service, outages: 1, downMs: 2500, progress: (l) => lines.push(l) });
        assert.deepEqual(r.violations, [], lines.join('\n'));
        const t = r.timelines[0]!;
        assert.ok(t.first503 !== undefined && t.first503 >= t.stop, `503s while down: ${lines.join('\n')}`);
        assert.ok(t.allSessions !== undefined && t.allSessions - t.up < 10_000, `back within seconds: ${lines.join('\n')}`);
        assert.ok((r.statuses[200] ?? 0) > 0 && (r.statuses[503] ?? 0) > 0, JSON.stringify(r.statuses));
        assert.deepEqual(Object.keys(r.statuses).sort(), ['200', '503']);
        assert.ok(r.maxLatencyMs <= r.latencyBoundMs, `slowest ${r.maxLatencyMs} ms`);
      } finally {
        await service.dispose();
      }
    });
  }
});
