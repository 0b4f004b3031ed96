import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, linkSync, lstatSync, readFileSync, readdirSync, readlinkSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOLDER_PREFIX, acquireFileLock, holderFileIn, holderIsAbandoned, isAlive, lockIsStale, tryFileLock } from '../../../src/session/locks/FileLock.js';
import { knock, knocksOn } from '../../../src/session/locks/knocks.js';
import { SessionBusyError } from '../../../src/session/locks/SessionBusyError.js';
import { ownStartTime } from '../../../src/session/locks/processLiveness.js';
import { answerFor } from '../../../src/service/errorAnswer.js';
import { tempDir } from '../../support/fakeRequest.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CHILD = join(ROOT, 'spec/support/lock-child.mjs');

function run(args: string[]): Promise<{ code: number | null; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, pid: child.pid! }));
  });
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const { pid } = await run(['-e', '']);
  assert.equal(isAlive(pid), false);
  return pid;
}

/**
 * A zombie: a child of `sleep`, which never reaps it, so that it stays a
 * zombie until its parent is killed (`reap`).
 */
async function zombiePid(): Promise<{ pid: number; reap(): void }> {
  const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d) => r(String(d).trim()))));
  for (let i = 0; i < 200 && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /^\d+ \(.*\) Z/, 'a zombie');
  return { pid, reap: () => parent.kill('SIGKILL') };
}

/** Sets a file's modification time `ms` in the past. */
function age(file: string, ms: number): void {
  const t = (Date.now() - ms) / 1000;
  utimesSync(file, t, t);
}

/** Who a lock names as its holder (a link's target). */
const holderOf = (lock: string) => readlinkSync(lock);

describe('acquireFileLock, shared (a long-running process)', () => {
  let dir: string;
  let cleanup: () => void;
  let lock: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    lock = join(dir, 'pso_svc_id.lock');
  });
  afterEach(() => cleanup());

  const holders = () => readdirSync(dir).filter((n) => n.startsWith(HOLDER_PREFIX));

  it('takes the lock as a hard link to one holder file per process, which names the process', async () => {
    const release = await acquireFileLock(lock, 1000, { shared: true });
    const st = lstatSync(lock);
    assert.ok(st.isFile(), 'a hard link, not a symbolic one');
    assert.equal(st.nlink, 2);
    assert.equal(holders().length, 1);
    const [pid, host, tag] = readFileSync(lock, 'utf8').split(' ');
    assert.equal(Number(pid), process.pid);
    assert.equal(host, hostname());
    assert.ok(tag);
    // A second lock links the same holder: no file is made per lock.
    const other = join(dir, 'pso_svc_other.lock');
    const release2 = await acquireFileLock(other, 1000, { shared: true });
    assert.equal(lstatSync(other).ino, st.ino);
    assert.equal(holders().length, 1);
    await release();
    await release2();
    assert.equal(existsSync(lock), false);
    assert.equal(existsSync(other), false);
    assert.equal(lstatSync(join(dir, holders()[0]!)).nlink, 1);
  });

  it('lets one request of this process hold a lock at a time, though the holder file is the process\'s', async () => {
    const release = await acquireFileLock(lock, 1000, { shared: true });
    await assert.rejects(acquireFileLock(lock, 100, { shared: true }), SessionBusyError);
    const waiting = acquireFileLock(lock, 2000, { shared: true });
    await new Promise((r) => setTimeout(r, 50));
    await release();
    const second = await waiting;
    assert.ok(second.stillHeld());
    await second();
    assert.equal(second.stillHeld(), false);
  });

  it('when its lock was taken over (broken, then made by another), leaves the other\'s lock on release', async () => {
    const release = await acquireFileLock(lock, 1000, { shared: true });
    assert.equal(release.stillHeld(), true);
    unlinkSync(lock);
    symlinkSync(`${process.pid} ${hostname()} someone-else`, lock);
    assert.equal(release.stillHeld(), false);
    await release();
    assert.equal(lstatSync(lock).isSymbolicLink(), true, 'the other holder\'s lock is still there');
    // Another process's shared lock (a link to its own holder file) is not ours either.
    unlinkSync(lock);
    const theirs = join(dir, `${HOLDER_PREFIX}1-other`);
    writeFileSync(theirs, `1 ${hostname()} other`);
    const again = await acquireFileLock(lock, 1000, { shared: true });
    unlinkSync(lock);
    linkSync(theirs, lock);
    await again();
    assert.equal(lstatSync(lock).ino, lstatSync(theirs).ino);
  });

  it('excludes a symbolic-link lock of another process, and the other way round', async () => {
    const shared = await acquireFileLock(lock, 1000, { shared: true });
    assert.equal(tryFileLock(lock), undefined, 'a CGI process waits for a server');
    await shared();
    const single = await acquireFileLock(lock, 1000);
    assert.equal(tryFileLock(lock, { shared: true }), undefined, 'a server waits for a CGI process');
    await single();
  });

  it('when processes contend, shared and not, lets only one in at a time (no lost increment)', async function () {
    this.timeout(30_000);
    const counter = join(dir, 'counter');
    writeFileSync(counter, '0');
    const modes = ['shared', 'symlink', 'shared', 'symlink', 'shared', 'shared'];
    const results = await Promise.all(modes.map((m) => run([CHILD, lock, counter, '10', m])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(counter, 'utf8'), String(modes.length * 10));
    assert.equal(existsSync(lock), false);
    assert.deepEqual(holders(), [], 'each process removed its holder file as it exited');
  });

  it('when its holder process died, the lock is broken at once, and a sweep removes the holder file', async () => {
    const pid = await deadPid();
    const holder = join(dir, `${HOLDER_PREFIX}${pid}-abc`);
    writeFileSync(holder, `${pid} ${hostname()} abc`);
    linkSync(holder, lock);
    assert.equal(lockIsStale(lock), true);
    const started = Date.now();
    const release = await acquireFileLock(lock, 2000, { shared: true });
    assert.ok(Date.now() - started < 1000);
    await release();
    assert.equal(holderIsAbandoned(holder), true);
    assert.equal(holderIsAbandoned(join(dir, holders().find((h) => !h.includes(`${pid}-`))!)), false, 'this process\'s own is not');
  });

  it('when its holder file was removed behind its back, makes another', async () => {
    const first = await acquireFileLock(lock, 1000, { shared: true });
    await first();
    for (const h of holders()) unlinkSync(join(dir, h));
    const again = await acquireFileLock(lock, 1000, { shared: true });
    assert.equal(holders().length, 1);
    await again();
  });
  describe('knocks (a waiter tells a holder that keeps its locks)', () => {
    it('a waiter knocks on a shared lock it finds held: the holder counts it; the holder file keeps its modification time', async () => {
      const release = await acquireFileLock(lock, 1000, { shared: true });
      const before = knocksOn(holderFileIn(dir));
      const mtime = lstatSync(lock).mtimeMs;
      await assert.rejects(acquireFileLock(lock, 30), SessionBusyError);
      assert.ok(knocksOn(holderFileIn(dir)) > before, 'knocked');
      assert.equal(Math.floor(lstatSync(lock).mtimeMs / 1000), Math.floor(mtime / 1000), 'its holder does not look younger to another host');
      await release();
    });

    it('reading the holder file (which may move its access time to now) is no knock, nor is its own touch', async () => {
      const release = await acquireFileLock(lock, 1000, { shared: true });
      const before = knocksOn(holderFileIn(dir));
      // An access time older than the last change: the next read moves it (relatime), as a waiter judging the lock would.
      utimesSync(lock, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
      knocksOn(holderFileIn(dir));
      readFileSync(lock, 'utf8');
      utimesSync(lock, new Date(), new Date());
      assert.equal(knocksOn(holderFileIn(dir)), before);
      knock(lock);
      assert.equal(knocksOn(holderFileIn(dir)), before + 1);
      knock(lock);
      assert.equal(knocksOn(holderFileIn(dir)), before + 2, 'a second knock in the same second counts too');
      await release();
    });

    it('a symbolic-link lock (a CGI script\'s, held for one request) is not knocked on', async () => {
      symlinkSync(`${process.pid} ${hostname()} x`, lock);
      knock(lock);
      assert.equal(readlinkSync(lock), `${process.pid} ${hostname()} x`);
      unlinkSync(lock);
    });
  });
});

describe('acquireFileLock', () => {
  let dir: string;
  let cleanup: () => void;
  let lock: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    lock = join(dir, 'pso_svc_id.lock');
  });
  afterEach(() => cleanup());

  it('when free, creates the lock as a link whose target is "pid host token started", made in one step', async () => {
    const release = await acquireFileLock(lock, 1000);
    assert.ok(lstatSync(lock).isSymbolicLink());
    const [pid, host, token, started, ...rest] = holderOf(lock).split(' ');
    assert.equal(Number(pid), process.pid);
    assert.equal(host, hostname());
    assert.ok(token, 'a token tells this holder from earlier ones');
    assert.equal(started, ownStartTime(), 'the start time tells this process from a later one given its pid');
    assert.deepEqual(rest, []);
    await release();
    assert.equal(existsSync(lock), false);
    assert.throws(() => lstatSync(lock), { code: 'ENOENT' });
  });

  it('when a lock file of an earlier version is there, waits for it like any other', async () => {
    writeFileSync(lock, `${process.pid} ${hostname()} earlier`);
    await assert.rejects(acquireFileLock(lock, 100), SessionBusyError);
    unlinkSync(lock);
    const release = await acquireFileLock(lock, 100);
    await release();
  });

  it('when processes contend, lets only one in at a time (no lost increment)', async function () {
    this.timeout(20_000);
    const counter = join(dir, 'counter');
    writeFileSync(counter, '0');
    const children = 8;
    const iterations = 10;
    const results = await Promise.all(Array.from({ length: children }, () => run([CHILD, lock, counter, String(iterations)])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(counter, 'utf8'), String(children * iterations));
    assert.equal(existsSync(lock), false);
  });

  it('when the lock was left by a dead process of this host, breaks it and takes it', async () => {
    writeFileSync(lock, `${await deadPid()} ${hostname()} x`);
    const started = Date.now();
    const release = await acquireFileLock(lock, 2000);
    assert.ok(Date.now() - started < 1000);
    assert.ok(holderOf(lock).startsWith(`${process.pid} ${hostname()} `));
    await release();
    assert.equal(existsSync(lock), false);
  });

  it('when its holder is a zombie (killed, not yet reaped), breaks it at once', async function () {
    if (ownStartTime() === undefined) return this.skip();
    const zombie = await zombiePid();
    symlinkSync(`${zombie.pid} ${hostname()} x`, lock);
    const started = Date.now();
    const release = await acquireFileLock(lock, 2000);
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    await release();
    zombie.reap();
  });

  it('when its holder\'s pid now belongs to another process (another start time), breaks it at once', async function () {
    if (ownStartTime() === undefined) return this.skip();
    symlinkSync(`${process.pid} ${hostname()} x ${Number(ownStartTime()) - 1}`, lock);
    const release = await acquireFileLock(lock, 2000);
    assert.ok(holderOf(lock).endsWith(` ${ownStartTime()}`));
    await release();
  });

  it('when its holder\'s pid and start time are a live process\'s, or its token has no start time (an earlier pso), keeps waiting', async () => {
    for (const token of [`${process.pid} ${hostname()} x ${ownStartTime() ?? ''}`.trim(), `${process.pid} ${hostname()} x`]) {
      symlinkSync(token, lock);
      await assert.rejects(acquireFileLock(lock, 100), SessionBusyError);
      assert.equal(holderOf(lock), token);
      unlinkSync(lock);
    }
  });

  it('when a live process holds it, times out with SessionBusyError', async () => {
    writeFileSync(lock, `${process.pid} ${hostname()} other`);
    const started = Date.now();
    await assert.rejects(acquireFileLock(lock, 150), (e: unknown) => {
      assert.ok(e instanceof SessionBusyError);
      assert.equal(answerFor(e).status, 503);
      assert.ok(e.message.includes('pso_svc_id.lock'));
      return true;
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 150 && waited < 1500, `waited ${waited} ms`);
    assert.equal(readFileSync(lock, 'utf8'), `${process.pid} ${hostname()} other`);
  });

  it('when a dead lock is being broken by another waiter (fresh guard), does not break it too', async () => {
    writeFileSync(lock, `${await deadPid()} ${hostname()} x`);
    writeFileSync(`${lock}.break`, '1');
    await assert.rejects(acquireFileLock(lock, 100), SessionBusyError);
    assert.ok(existsSync(lock));
  });

  it('when the break guard itself was abandoned, removes it and then breaks the lock', async () => {
    writeFileSync(lock, `${await deadPid()} ${hostname()} x`);
    writeFileSync(`${lock}.break`, '1');
    age(`${lock}.break`, 10_000);
    const release = await acquireFileLock(lock, 2000);
    assert.equal(existsSync(`${lock}.break`), false);
    await release();
  });

  it('when the directory does not exist, rejects with the fs error, not a timeout', async () => {
    await assert.rejects(acquireFileLock(join(dir, 'missing', 'x.lock'), 1000), { code: 'ENOENT' });
  });

  describe('release', () => {
    it('when the lock now belongs to someone else, leaves it', async () => {
      const release = await acquireFileLock(lock, 1000);
      unlinkSync(lock);
      symlinkSync(`${process.pid} ${hostname()} someone-else`, lock);
      assert.equal(release.stillHeld(), false);
      await release();
      assert.equal(holderOf(lock), `${process.pid} ${hostname()} someone-else`);
    });

    it('when called twice, the second call does not remove a newer owner\'s lock', async () => {
      const r1 = await acquireFileLock(lock, 1000);
      await r1();
      const r2 = await acquireFileLock(lock, 1000);
      const content = holderOf(lock);
      await r1();
      assert.equal(holderOf(lock), content);
      await r2();
      assert.equal(existsSync(lock), false);
    });

    it('when the file is already gone, does not throw', async () => {
      const release = await acquireFileLock(lock, 1000);
      unlinkSync(lock);
      await release();
    });
  });
});

describe('lockIsStale', () => {
  let dir: string;
  let cleanup: () => void;
  let lock: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    lock = join(dir, 'pso_svc_id.lock');
  });
  afterEach(() => cleanup());

  it('when the owner (this host) is dead, is true', async () => {
    writeFileSync(lock, `${await deadPid()} ${hostname()} x`);
    assert.equal(await lockIsStale(lock), true);
  });

  it('when the owner (this host) is alive, is false however old', async () => {
    writeFileSync(lock, `${process.pid} ${hostname()} x`);
    age(lock, 3600_000);
    assert.equal(await lockIsStale(lock), false);
  });

  it('when another host owns it, is false for a minute and true after', async () => {
    writeFileSync(lock, `1 some-other-host.example x`);
    assert.equal(await lockIsStale(lock), false);
    age(lock, 59_000);
    assert.equal(await lockIsStale(lock), false);
    age(lock, 61_000);
    assert.equal(await lockIsStale(lock), true);
  });

  it('when empty or unreadable as "pid host", is false for 5 s and true after', async () => {
    for (const content of ['', 'garbage', '-4 host x', 'abc host x']) {
      writeFileSync(lock, content);
      assert.equal(await lockIsStale(lock), false, JSON.stringify(content));
      age(lock, 6000);
      assert.equal(await lockIsStale(lock), true, JSON.stringify(content));
    }
  });

  it('when the file does not exist, is false', async () => {
    assert.equal(await lockIsStale(lock), false);
  });
});

describe('isAlive', () => {
  it('when the pid is this process, is true', () => {
    assert.equal(isAlive(process.pid), true);
  });

  it('when the process has exited, is false', async () => {
    assert.equal(isAlive(await deadPid()), false);
  });

  it('when the process is a zombie (exited, waiting for its parent to reap it), is false', async function () {
    if (ownStartTime() === undefined) return this.skip();
    const zombie = await zombiePid();
    assert.equal(isAlive(zombie.pid), false);
    zombie.reap();
  });

  it('when the pid was given to another process since (its start time differs), is false', function () {
    if (ownStartTime() === undefined) return this.skip();
    assert.equal(isAlive(process.pid, ownStartTime()), true);
    assert.equal(isAlive(process.pid, String(Number(ownStartTime()) + 1)), false);
  });
});

describe('tryFileLock()', () => {
  let dir: string;
  let cleanup: () => void;
  let lock: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    lock = join(dir, 'pso_svc_id.lock');
  });
  afterEach(() => cleanup());

  it('takes a free lock, and gives undefined at once for a held one', async () => {
    const held = tryFileLock(lock)!;
    assert.ok(held.stillHeld());
    assert.equal(tryFileLock(lock), undefined);
    await held();
    assert.equal(held.stillHeld(), false);
    const again = tryFileLock(lock)!;
    await again();
  });

  it('breaks a lock whose holder died and takes it', async () => {
    symlinkSync(`${await deadPid()} ${hostname()} x`, lock);
    const held = tryFileLock(lock)!;
    assert.ok(held);
    assert.ok(holderOf(lock).startsWith(`${process.pid} `));
    await held();
  });
});
