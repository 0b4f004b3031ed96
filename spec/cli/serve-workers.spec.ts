import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { Load, eventually, get, psoServe, psoServeFails, sleep, type PsoServe } from '../support/psoServe.js';

/** A handler that answers its process id, after `?sleep=MS` if asked. */
const PID_HANDLER = `export async function handler(r) {
  const ms = Number(r.getInput('sleep', '0'));
  if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
  r.sendHttpHeaders('text/plain');
  r.write(process.pid + '\\n');
}
`;

describe('pso serve --workers', function () {
  this.timeout(60_000);
  let dir: string;
  let server: PsoServe | undefined;
  let pidModule: string;
  /** Sessions in the test's directory; no session stored for a handler that keeps nothing. */
  const directives = () => ['-D', `PSOSessionFileLoader_Path=${join(dir, 'sessions')}`, '-D', 'PSOSessionLazy=on'];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-workers-'));
    pidModule = join(dir, 'pid.mjs');
    writeFileSync(pidModule, PID_HANDLER);
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** The process ids that answer `n` requests, each on a new connection. */
  async function pidsOf(address: string, n = 20): Promise<Set<number>> {
    const pids = new Set<number>();
    for (let i = 0; i < n; i++) pids.add(Number((await get(address)).body));
    return pids;
  }

  it('runs N processes that answer on one port', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '3', ...directives()]);
    assert.match(server.stdout(), /^pso: serving \S+pid\.mjs on http:\/\/127\.0\.0\.1:\d+\/ with 3 workers$/m);
    const pids = await pidsOf(server.address, 30);
    assert.equal(pids.size, 3, `three workers answered: ${[...pids]}`);
    assert.ok(!pids.has(server.child.pid!), 'the primary serves no request');
  });

  it('with --workers 1 (or none) serves in one process, without a primary', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '1', ...directives()]);
    assert.deepEqual([...(await pidsOf(server.address, 5))], [server.child.pid]);
    assert.doesNotMatch(server.stdout(), /with \d+ worker/);
  });

  it('replaces a worker killed with SIGKILL, and the port goes on answering', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '2', ...directives()]);
    const before = await pidsOf(server.address);
    assert.equal(before.size, 2);
    const [victim, survivor] = [...before] as [number, number];
    process.kill(victim, 'SIGKILL');
    let replacement: number | undefined;
    await eventually(async () => {
      // A connection handed to the worker as it was killed is lost (node:cluster's primary never hears back): ask again.
      const pid = Number((await get(server!.address, '/', { timeoutMs: 1000 }).catch(() => ({ body: 'NaN' }))).body);
      if (pid !== victim && pid !== survivor && Number.isInteger(pid)) replacement = pid;
      return replacement !== undefined;
    }, 15_000, 'a new worker answering');
    await server.waitFor(/./);
    assert.match(server.stderr(), new RegExp(`^pso: worker ${victim} was killed by SIGKILL; starting another`, 'm'));
    // From now on every request is answered, by the survivor and the replacement only.
    const after = await pidsOf(server.address);
    assert.deepEqual([...after].sort(), [survivor, replacement!].sort());
  });

  for (const workers of ['1', '2']) {
    it(`on SIGTERM lets a slow request finish, then exits 0 (--workers ${workers})`, async () => {
      server = await psoServe([pidModule, '--port', '0', '--workers', workers, ...directives()]);
      const agent = new Agent({ keepAlive: true });
      const slow = get(server.address, '/?sleep=1500', { agent });
      await sleep(400);
      server.child.kill('SIGTERM');
      const answer = await slow;
      assert.equal(answer.status, 200);
      assert.match(answer.body, /^\d+\n$/);
      assert.equal(answer.headers.connection, 'close', 'the client is told not to come back on this connection');
      agent.destroy();
      const { code } = await server.exited;
      assert.equal(code, 0, server.stderr());
      await assert.rejects(get(server.address), /ECONNREFUSED/);
    });
  }

  it('cuts off what is still running after --grace seconds, and exits 0', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '2', '--grace', '0.5', ...directives()]);
    const slow = get(server.address, '/?sleep=10000').then(() => 'answered', (e: Error) => e.message);
    await sleep(300);
    const sent = Date.now();
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - sent < 5000, 'it did not wait for the 10 s request');
    assert.match(await slow, /socket hang up|ECONNRESET/);
  });

  it('reloads on SIGHUP under load without a failed request, and new workers serve afterwards', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '2', ...directives()]);
    const old = await pidsOf(server.address);
    const load = new Load(server.address, { keepAlive: 8, fresh: 4 });
    await sleep(500);
    const before = load.tally.ok;
    server.child.kill('SIGHUP');
    const m = await server.waitFor(/^pso: reloaded \S+: new workers (\d+), (\d+)$/m);
    const fresh = new Set([Number(m[1]), Number(m[2])]);
    // The old workers drain (their kept-alive connections linger a second); the load goes on meanwhile.
    await sleep(2500);
    const marker = load.tally.bodies.length;
    await sleep(500);
    const tally = await load.stop();
    assert.deepEqual(tally.errors, [], 'no request failed');
    assert.deepEqual(tally.statuses, {}, 'every answer was a 200');
    assert.ok(before > 20 && tally.ok > before + 20, `requests went on through the reload (${before} before, ${tally.ok} in all)`);
    const lastPids = new Set(tally.bodies.slice(marker).map(Number));
    assert.ok(lastPids.size > 0);
    for (const pid of lastPids) assert.ok(fresh.has(pid) && !old.has(pid), `after the reload only new workers answer (got ${pid})`);
    for (const pid of old) assert.throws(() => process.kill(pid, 0), /ESRCH/, `old worker ${pid} is gone`);
  });

  it('loses no connection to a worker that retires while idle: reload after reload under a light load, every request answered', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '2', ...directives()]);
    // One or two requests at a time on fresh connections: the old workers are mostly idle when told to
    // stop, so they exit at once, while node:cluster may be handing one of them a connection.
    let running = true;
    const errors: string[] = [];
    let answered = 0;
    const loop = async () => {
      while (running) {
        try {
          const r = await get(server!.address, '/', { timeoutMs: 8000 });
          if (r.status === 200) answered++;
          else errors.push(`status ${r.status}`);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    };
    const loops = [loop(), loop()];
    for (let i = 1; i <= 4; i++) {
      server.child.kill('SIGHUP');
      await server.waitFor(new RegExp(`^(?:pso: reloaded [^\\n]*\\n[^]*){${i}}`, 'm'), 20_000);
      await sleep(300);
    }
    running = false;
    await Promise.all(loops);
    assert.deepEqual(errors, [], `every request answered (${answered} were)`);
    assert.ok(answered > 20, `the load went on (${answered} answers)`);
  });

  it('keeps the old workers serving when the new ones cannot load the module or die before they listen', async () => {
    server = await psoServe([pidModule, '--port', '0', '--workers', '2', ...directives()]);
    const old = await pidsOf(server.address);
    writeFileSync(pidModule, `${PID_HANDLER}throw new Error('misconfigured');\n`);
    server.child.kill('SIGHUP');
    await server.waitFor(/^pso: reload failed, the previous version goes on serving: cannot load \S+pid\.mjs: loading it threw Error: misconfigured \(at \S+pid\.mjs:7:7\); fix: /m, 20_000, 'stderr');
    writeFileSync(pidModule, `${PID_HANDLER}process.exit(3);\n`);
    server.child.kill('SIGHUP');
    await server.waitFor(/^pso: reload failed, the previous version goes on serving: a new worker exited with code 3 before it listened; fix: /m, 20_000, 'stderr');
    assert.deepEqual(await pidsOf(server.address), old, 'the old workers still answer');
    // Fixed, the module is taken up by the next reload.
    writeFileSync(pidModule, PID_HANDLER);
    server.child.kill('SIGHUP');
    await server.waitFor(/^pso: reloaded /m);
    await eventually(async () => [...(await pidsOf(server!.address, 6))].every((pid) => !old.has(pid)), 10_000, 'new workers answering');
  });

  it('gives up with one line and a non-zero exit when workers keep dying soon after they start', async () => {
    const crashing = join(dir, 'crashing.mjs');
    writeFileSync(crashing, `${PID_HANDLER}setTimeout(() => { throw new Error('crashed on purpose'); }, 100);\n`);
    const r = await psoServeFails([crashing, '--port', '0', '--workers', '2', ...directives()]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.match(/^pso: workers keep dying/gm)?.length, 1, r.stderr);
    assert.match(r.stderr, /^pso: workers keep dying within 5 s of starting \(5 in a row; the last, \d+, exited with code 1\): stopping; fix: /m);
    // Each death was waited on longer than the one before.
    assert.match(r.stderr, /starting another in 100 ms[^]*starting another in 200 ms[^]*starting another in 400 ms/);
  });

  it('two workers on one default session directory keep every increment of one session, with no setting', async () => {
    // The default directory is under the temporary directory: TMPDIR makes it this test's.
    const counter = join(dir, 'counter.mjs');
    writeFileSync(counter, `export function handler(r) { r.sendHttpHeaders('text/plain'); r.write(r.session.increment('n') + ' ' + process.pid); }\n`);
    server = await psoServe([counter, '--port', '0', '--workers', '2'], { TMPDIR: dir });
    const first = await get(server.address);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    assert.match(first.body, /^1 \d+$/);
    const answers = await Promise.all(Array.from({ length: 200 }, () => get(server!.address, '/', { headers: { cookie } })));
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
    assert.equal(new Set(answers.map((a) => a.body.split(' ')[1])).size, 2, 'both workers counted');
    assert.match((await get(server.address, '/', { headers: { cookie } })).body, /^202 \d+$/);
  });
});
