import assert from 'node:assert/strict';
import { GcSchedule } from '../../src/session/GcSchedule.js';
import { FakeRequest, MemoryLogger } from '../support/fakeRequest.js';

describe('GcSchedule', () => {
  describe('maybeRun', () => {
    const sweeps = async (env: Record<string, string>, persistent: boolean, times: number) => {
      const schedule = new GcSchedule();
      let n = 0;
      for (let i = 0; i < times; i++) {
        await schedule.maybeRun(new FakeRequest({ env: { PSOSessionGCProbability: '1', ...env }, persistent }), async () => (n++, 0));
      }
      return n;
    };

    it('sweeps at most once a minute in a server by default, however many requests win the draw', async () => {
      assert.equal(await sweeps({}, true, 5), 1);
    });

    it('sweeps as often as PSOSessionGCInterval allows', async () => {
      assert.equal(await sweeps({ PSOSessionGCInterval: '0' }, true, 5), 5);
      assert.equal(await sweeps({ PSOSessionGCInterval: '3600' }, true, 5), 1);
    });

    it('has no interval in a process that serves one request (CGI)', async () => {
      assert.equal(await sweeps({}, false, 3), 3);
    });

    it('logs a PSOSessionGCInterval that is not a number of seconds, and does not sweep', async () => {
      const logger = new MemoryLogger();
      let n = 0;
      await new GcSchedule().maybeRun(new FakeRequest({ env: { PSOSessionGCProbability: '1', PSOSessionGCInterval: 'soon' }, persistent: true, logger }), async () => (n++, 0));
      assert.equal(n, 0);
      assert.ok(logger.has('error', /PSOSessionGCInterval/), JSON.stringify(logger.lines));
    });
  });
});
