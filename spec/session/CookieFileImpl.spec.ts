import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, {
  chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import {
  ConfigurationError, CookieFileImpl, CorruptSessionError, ServiceHandler, SessionStoreError, TOKENS, collectSessionFiles,
  createContainer, parseRecord, serializeRecord, type ServiceRequest, type SessionRecord,
} from '../../src/index.js';
import { tryFileLock, type FileLock } from '../../src/session/locks/FileLock.js';
import { asyncFs, type FsOps } from '../../src/util/fs.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';
import { storedRecord } from '../support/storedFile.js';

const DAY = 24 * 3600_000;

function setAge(file: string, ms: number): void {
  const t = (Date.now() - ms) / 1000;
  utimesSync(file, t, t);
}

function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

describe('CookieFileImpl', () => {
  let dir: string;
  let cleanup: () => void;
  let sessions: string;
  let impl: CookieFileImpl;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    sessions = join(dir, 'sessions');
    impl = createContainer().get<CookieFileImpl>(TOKENS.SessionImpl);
  });
  afterEach(() => {
    sinon.restore();
    cleanup();
  });

  function req(init: FakeRequestInit = {}): FakeRequest {
    return new FakeRequest({ ...init, env: { PSOSessionFileLoader_Path: sessions, PSOSessionGCProbability: '0', ...init.env } });
  }
  const withCookie = (id: string, init: FakeRequestInit = {}): FakeRequest => req({ ...init, headers: { cookie: `spec=${id}` } });
  const fileOf = (id: string) => join(sessions, `${sessionFileName('spec', id)}`);
  const record = (patch: Partial<SessionRecord> = {}): SessionRecord => ({ data: { a: 1 }, created: Date.now(), expires: Date.now() + 3600_000, ...patch });

  async function newSession(init: FakeRequestInit = {}, data: Record<string, number> = { n: 1 }): Promise<string> {
    const s = await impl.open(req(init));
    for (const [k, v] of Object.entries(data)) s.set(k, v);
    await impl.close(s, true);
    return s.id;
  }

  describe('PATH', () => {
    it('when not overridden, is pso-sessions-<uid> in the temporary directory', () => {
      assert.equal(CookieFileImpl.PATH, join(tmpdir(), `pso-sessions-${process.getuid!()}`));
    });
  });

  describe('sessionDirectory', () => {
    it('when PSOSessionFileLoader_Path is set, uses it (trimmed)', () => {
      assert.equal(impl.sessionDirectory(req({ env: { PSOSessionFileLoader_Path: ` ${dir}/x ` } })), `${dir}/x`);
    });

    it('when PSOSessionFileLoader_Path is unset or blank, uses getPath()', () => {
      const r = new FakeRequest({ env: { PSOSessionFileLoader_Path: '  ' } });
      assert.equal(impl.sessionDirectory(r), CookieFileImpl.PATH);
    });

    it('when PSOSessionFileLoader_Path is relative, is refused naming the directive', async () => {
      const r = req({ env: { PSOSessionFileLoader_Path: 'sessions' } });
      assert.throws(() => impl.sessionDirectory(r), (e: unknown) =>
        e instanceof ConfigurationError && e.directive === 'PSOSessionFileLoader_Path' && e.value === 'sessions' && /absolute/.test(e.reason));
      const s = await impl.open(r);
      s.set('n', 1);
      await assert.rejects(impl.close(s, true), ConfigurationError);
    });

    it('when getPath() returns a relative path, is refused naming the method', () => {
      class RelativeImpl extends CookieFileImpl {
        override getPath(): string {
          return 'relative/dir';
        }
      }
      const relative = new ServiceHandler(createContainer()).sessionImplFor({ sessionImpl: RelativeImpl }) as CookieFileImpl;
      assert.throws(() => relative.sessionDirectory(new FakeRequest()), (e: unknown) =>
        e instanceof ConfigurationError && e.directive === 'RelativeImpl.getPath()');
    });
  });

  describe('subclasses (How-To path1 and path2)', () => {
    it('when a subclass overrides the static PATH, stores there', async () => {
      const path1 = join(dir, 'path1');
      class Path1Impl extends CookieFileImpl {
        static override PATH = path1;
      }
      const sub = new ServiceHandler(createContainer()).sessionImplFor({ sessionImpl: Path1Impl });
      const s = await sub.open(new FakeRequest({ env: { PSOSessionGCProbability: '0' } }));
      s.set('x', 1);
      await sub.close(s, true);
      assert.deepEqual(readdirSync(path1), [`${sessionFileName('spec', s.id)}`]);
      assert.equal(existsSync(CookieFileImpl.PATH) && readdirSync(CookieFileImpl.PATH).some((n) => n.includes(s.id)), false);
    });

    it('when a subclass overrides getPath(request), stores where it says', async () => {
      class Path2Impl extends CookieFileImpl {
        override getPath(request: ServiceRequest): string {
          return join(dir, `path2-${request.getEnviron('TENANT')}`);
        }
      }
      const sub = new ServiceHandler(createContainer()).sessionImplFor({ sessionImpl: Path2Impl });
      const s = await sub.open(new FakeRequest({ env: { TENANT: 'acme', PSOSessionGCProbability: '0' } }));
      s.set('n', 1);
      await sub.close(s, true);
      assert.deepEqual(readdirSync(join(dir, 'path2-acme')), [`${sessionFileName('spec', s.id)}`]);
    });

    it('when PSOSessionFileLoader_Path is set, it wins over getPath()', async () => {
      class Path2Impl extends CookieFileImpl {
        override getPath(): string {
          return join(dir, 'never');
        }
      }
      const sub = new ServiceHandler(createContainer()).sessionImplFor({ sessionImpl: Path2Impl });
      const s = await sub.open(req());
      s.set('n', 1);
      await sub.close(s, true);
      assert.equal(existsSync(join(dir, 'never')), false);
      assert.ok(existsSync(fileOf(s.id)));
    });
  });

  describe('save', () => {
    it('when saving, creates the directory 0700 and the file 0600, leaving no temporary file', async () => {
      sessions = join(dir, 'deep', 'er', 'sessions');
      const id = await newSession();
      assert.equal(statSync(sessions).mode & 0o777, 0o700);
      assert.equal(statSync(fileOf(id)).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(sessions), [`${sessionFileName('spec', id)}`]);
      assert.deepEqual({ ...storedRecord(fileOf(id)).data }, { n: 1 });
    });

    it('when replacing a file, writes the new version into it, in place: the same inode, no other file', async () => {
      const id = await newSession();
      const before = statSync(fileOf(id)).ino;
      for (let n = 2; n <= 4; n++) {
        const s = await impl.open(withCookie(id));
        s.increment('n');
        await impl.close(s, true);
        assert.equal(statSync(fileOf(id)).ino, before);
        assert.equal(storedRecord(fileOf(id)).data.n, n);
        assert.deepEqual(readdirSync(sessions), [`${sessionFileName('spec', id)}`]);
      }
    });

    it('when replacing a file with PSOSessionFileFormat json, writes a new file and renames it over the old one', async () => {
      const env = { PSOSessionFileFormat: 'json' };
      const id = await newSession({ env });
      const before = statSync(fileOf(id)).ino;
      const s = await impl.open(withCookie(id, { env }));
      s.increment('n');
      await impl.close(s, true);
      assert.notEqual(statSync(fileOf(id)).ino, before);
      assert.equal(storedRecord(fileOf(id)).data.n, 2);
      assert.equal(readFileSync(fileOf(id), 'utf8')[0], '{', 'one JSON document');
      // The old version's inode stays as the spare the next version is written into.
      assert.deepEqual(readdirSync(sessions).sort(), [`${sessionFileName('spec', id)}`, `${sessionStem('spec', id)}.spare`]);
    });

    it('when saved many times concurrently, leaves no temporary files', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => newSession()));
      assert.deepEqual(readdirSync(sessions).sort(), ids.map((id) => `${sessionFileName('spec', id)}`).sort());
    });

    describe('PSOSessionFileLoader_Fsync', () => {
      // util/fs calls fs.fsync (servers) or fs.fsyncSync (CGI, scripts) through the node:fs
      // namespace; syncBuiltinESMExports makes the spies visible there.
      let spies: sinon.SinonSpy[];
      const fsync = { get callCount() { return spies.reduce((n, s) => n + s.callCount, 0); } };
      beforeEach(() => {
        spies = [sinon.spy(fs, 'fsync'), sinon.spy(fs, 'fsyncSync')];
        syncBuiltinESMExports();
      });
      afterEach(() => {
        for (const s of spies) s.restore();
        syncBuiltinESMExports();
      });

      it('when on, writes the file correctly and syncs it and its directory', async () => {
        const id = await newSession({ env: { PSOSessionFileLoader_Fsync: 'on' } }, { n: 7 });
        assert.equal(storedRecord(fileOf(id)).data.n, 7);
        assert.equal(statSync(fileOf(id)).mode & 0o777, 0o600);
        assert.deepEqual(readdirSync(sessions), [`${sessionFileName('spec', id)}`]);
        assert.ok(fsync.callCount >= 2, `fsync called ${fsync.callCount} times`);
      });

      it('when off (the default), does not sync', async () => {
        await newSession();
        assert.equal(fsync.callCount, 0);
      });

      it('when invalid, is refused', async () => {
        const s = await impl.open(req({ env: { PSOSessionFileLoader_Fsync: 'sometimes' } }));
        s.set('n', 1);
        await assert.rejects(impl.close(s, true), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionFileLoader_Fsync');
      });
    });

    describe('PSOSessionFileIO (a server)', () => {
      let spies: { rename: sinon.SinonSpy; renameSync: sinon.SinonSpy; write: sinon.SinonSpy; writeSync: sinon.SinonSpy };
      beforeEach(() => {
        spies = { rename: sinon.spy(fs, 'rename'), renameSync: sinon.spy(fs, 'renameSync'), write: sinon.spy(fs, 'write'), writeSync: sinon.spy(fs, 'writeSync') };
        syncBuiltinESMExports();
      });
      afterEach(() => {
        for (const spy of Object.values(spies)) spy.restore();
        syncBuiltinESMExports();
      });
      const twoSaves = async (env: Record<string, string>) => {
        const id = await newSession({ persistent: true, env });
        const s = await impl.open(withCookie(id, { persistent: true, env }));
        s.increment('n');
        await impl.close(s, true);
        assert.equal(storedRecord(fileOf(id)).data.n, 2);
      };

      // The first save makes the file (a rename into place), the second writes a slot in place.
      it('by default, makes the calls of a save directly', async () => {
        await twoSaves({});
        assert.ok(spies.renameSync.callCount >= 1, `renameSync ${spies.renameSync.callCount}`);
        assert.ok(spies.writeSync.callCount >= 2, `writeSync ${spies.writeSync.callCount}`);
        assert.equal(spies.rename.callCount + spies.write.callCount, 0);
      });

      it('when async, sends them to the thread pool', async () => {
        await twoSaves({ PSOSessionFileIO: 'async' });
        assert.ok(spies.rename.callCount >= 1, `rename ${spies.rename.callCount}`);
        assert.ok(spies.write.callCount >= 2, `write ${spies.write.callCount}`);
        assert.equal(spies.renameSync.callCount, 0);
      });

      it('when invalid, is refused', async () => {
        const s = await impl.open(req({ persistent: true, env: { PSOSessionFileIO: 'threads' } }));
        s.set('n', 1);
        await assert.rejects(impl.close(s, true), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionFileIO');
      });
    });

    it('when the directory cannot be created (its parent is a file), fails with SessionStoreError naming it', async () => {
      writeFileSync(join(dir, 'afile'), 'x');
      sessions = join(dir, 'afile', 'sessions');
      const s = await impl.open(req());
      s.set('n', 1);
      await assert.rejects(impl.close(s, true), (e: unknown) => {
        assert.ok(e instanceof SessionStoreError, String(e));
        assert.ok(e.message.includes(`cannot create session directory ${sessions}`), e.message);
        return true;
      });
    });

    it('when the directory cannot be created and the id is forced, open() fails already (file lock)', async () => {
      writeFileSync(join(dir, 'afile'), 'x');
      sessions = join(dir, 'afile', 'sessions');
      await assert.rejects(impl.open(req({ env: { spec: 'fixed' } })), (e: unknown) => e instanceof SessionStoreError && e.message.includes(sessions));
    });

    it('when the directory is writable by every user, is refused', async () => {
      mkdirSync(sessions);
      chmodSync(sessions, 0o777);
      const s = await impl.open(req());
      s.set('n', 1);
      await assert.rejects(impl.close(s, true), (e: unknown) =>
        e instanceof ConfigurationError && e.message.includes(sessions) && /writable by every user/.test(e.message));
      assert.deepEqual(readdirSync(sessions), []);
    });

    it('when the directory is a symbolic link, is refused', async () => {
      mkdirSync(join(dir, 'real'), { mode: 0o700 });
      symlinkSync(join(dir, 'real'), sessions);
      const s = await impl.open(req());
      s.set('n', 1);
      await assert.rejects(impl.close(s, true), (e: unknown) => e instanceof ConfigurationError && /symbolic link/.test(e.message));
      assert.deepEqual(readdirSync(join(dir, 'real')), []);
    });

    it('when the file cannot be renamed into place, fails with SessionStoreError and leaves only the session\'s spare (0600)', async () => {
      const s = await impl.open(req());
      s.set('n', 1);
      mkdirSync(join(fileOf(s.id), 'blocker'), { recursive: true, mode: 0o700 });
      await assert.rejects(impl.close(s, true), (e: unknown) => e instanceof SessionStoreError && e.message.includes(`cannot write session file in ${sessions}`));
      assert.deepEqual(readdirSync(sessions).sort(), [`${sessionFileName('spec', s.id)}`, `${sessionStem('spec', s.id)}.spare`]);
      assert.equal(statSync(join(sessions, `${sessionStem('spec', s.id)}.spare`)).mode & 0o777, 0o600);
    });

    it('when a server saves again and again, writes one inode in place (no file is created or renamed per save)', async () => {
      const id = await newSession({ persistent: true }, { n: 0 });
      const seen = new Set<number>();
      for (let n = 1; n <= 5; n++) {
        const s = await impl.open(req({ persistent: true, headers: { cookie: `spec=${id}` } }));
        s.set('n', n);
        await impl.close(s, true);
        assert.equal(storedRecord(fileOf(id)).data.n, n);
        seen.add(statSync(fileOf(id)).ino);
      }
      assert.equal(seen.size, 1, `inodes used: ${[...seen].join(', ')}`);
      // Beside it, the server's holder file, which its locks link to (one per process, not per save), and
      // the session's lock, kept for the next request: a second name of the holder file.
      const [holder, ...others] = readdirSync(sessions).sort();
      assert.match(holder!, new RegExp(`^\\.pso-holder-${process.pid}-`));
      assert.deepEqual(others, [`${sessionFileName('spec', id)}`, `${sessionStem('spec', id)}.lock`]);
      assert.equal(statSync(join(sessions, `${sessionStem('spec', id)}.lock`)).ino, statSync(join(sessions, holder!)).ino);
    });

    it('when a server saves again and again with PSOSessionFileFormat json, reuses the same two inodes (no file is created per save)', async () => {
      const env = { PSOSessionFileFormat: 'json' };
      const id = await newSession({ persistent: true, env }, { n: 0 });
      const seen = new Set<number>();
      for (let n = 1; n <= 5; n++) {
        const s = await impl.open(req({ persistent: true, env, headers: { cookie: `spec=${id}` } }));
        s.set('n', n);
        await impl.close(s, true);
        assert.equal(storedRecord(fileOf(id)).data.n, n);
        seen.add(statSync(fileOf(id)).ino);
      }
      assert.equal(seen.size, 2, `inodes used: ${[...seen].join(', ')}`);
      // Beside them, the server's holder file, which its locks link to (one per process, not per save).
      const [holder, ...others] = readdirSync(sessions).sort();
      assert.match(holder!, new RegExp(`^\\.pso-holder-${process.pid}-`));
      assert.deepEqual(others, [`${sessionFileName('spec', id)}`, `${sessionStem('spec', id)}.spare`]);
    });

    it('when a crash left the spare and a second name behind, a server still saves (PSOSessionFileFormat json)', async () => {
      const env = { PSOSessionFileFormat: 'json' };
      const id = await newSession({ persistent: true, env }, { n: 0 });
      writeFileSync(join(sessions, `${sessionStem('spec', id)}.spare`), 'half-writ');
      writeFileSync(join(sessions, `${sessionStem('spec', id)}.hold`), 'older');
      const s = await impl.open(req({ persistent: true, env, headers: { cookie: `spec=${id}` } }));
      s.set('n', 9);
      await impl.close(s, true);
      assert.equal(storedRecord(fileOf(id)).data.n, 9);
      assert.deepEqual(readdirSync(sessions).filter((n) => !n.startsWith('.pso-holder-')).sort(), [`${sessionFileName('spec', id)}`, `${sessionStem('spec', id)}.spare`]);
    });
  });

  describe('load', () => {
    it('when there is no file, is undefined', async () => {
      assert.equal(await impl.load(req(), 'H'.repeat(27)), undefined);
    });

    it('when the file is truncated, throws CorruptSessionError naming the file', async () => {
      mkdirSync(sessions, { mode: 0o700 });
      writeFileSync(fileOf('H'.repeat(27)), serializeRecord(record()).slice(0, 20));
      await assert.rejects(impl.load(req(), 'H'.repeat(27)), (e: unknown) =>
        e instanceof CorruptSessionError && e.message.includes(sessionFileName('spec', 'H'.repeat(27))));
    });

    it('when a directory is in the file\'s place, throws CorruptSessionError', async () => {
      mkdirSync(fileOf('H'.repeat(27)), { recursive: true });
      await assert.rejects(impl.load(req(), 'H'.repeat(27)), (e: unknown) => e instanceof CorruptSessionError && /cannot be read/.test(e.message));
    });
  });

  describe('sessionFile', () => {
    it('when the id is neither well formed nor a valid forced id, refuses to build a path', () => {
      for (const bad of ['../x', 'a/b', 'a.b', '', 'a'.repeat(129)]) {
        assert.throws(() => impl.sessionFile(req(), bad), /unvalidated session id/, bad);
      }
    });

    it('when the id is valid, names pso_<service>_~<hash of the id>.json in the session directory', () => {
      assert.equal(impl.sessionFile(req(), 'abc'), join(sessions, 'pso_spec_~ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0.json'));
      assert.equal(impl.sessionFile(req({ env: { PSOServiceId: 'shop' } }), 'abc'), join(sessions, sessionFileName('shop', 'abc')));
    });
  });

  describe('remove', () => {
    it('when the file exists, deletes it; when not, does nothing', async () => {
      const id = await newSession();
      await impl.remove(req(), id);
      assert.equal(existsSync(fileOf(id)), false);
      await impl.remove(req(), id);
    });
  });

  describe('lazy writes', () => {
    it('when an unchanged session is opened and closed twice within a minute, the file is not rewritten', async () => {
      const id = await newSession();
      const before = statSync(fileOf(id));
      const save = sinon.spy(impl, 'save');
      for (let i = 0; i < 2; i++) {
        const s = await impl.open(withCookie(id));
        assert.equal(s.get('n'), 1);
        await impl.close(s, true);
      }
      sinon.assert.notCalled(save);
      const after = statSync(fileOf(id));
      assert.equal(after.ino, before.ino);
      assert.equal(after.mtimeMs, before.mtimeMs);
    });

    it('when the data changed, the file is rewritten', async () => {
      const id = await newSession();
      const save = sinon.spy(impl, 'save');
      const s = await impl.open(withCookie(id));
      s.set('n', 2);
      await impl.close(s, true);
      sinon.assert.calledOnce(save);
    });

    it('when the stored expiry is more than a minute behind, the file is rewritten with a later expiry', async () => {
      const id = 'J'.repeat(27);
      mkdirSync(sessions, { mode: 0o700 });
      const old = Date.now() + DAY - 120_000;
      writeFileSync(fileOf(id), serializeRecord(record({ expires: old })), { mode: 0o600 });
      const s = await impl.open(withCookie(id));
      await impl.close(s, true);
      assert.ok(storedRecord(fileOf(id)).expires >= old + 120_000);
    });
  });

  describe('collectGarbage', () => {
    it('when sessions expired, deletes them, honouring PSOSessionIdleTimeout for unreadable files', async () => {
      mkdirSync(sessions, { mode: 0o700 });
      writeFileSync(fileOf('expired'), serializeRecord(record({ expires: Date.now() - 1 })));
      writeFileSync(fileOf('corrupt'), 'garbage');
      setAge(fileOf('corrupt'), 120_000);
      writeFileSync(fileOf('live'), serializeRecord(record()));
      const n = await impl.collectGarbage(req({ env: { PSOSessionIdleTimeout: '60' } }));
      assert.equal(n, 2);
      assert.deepEqual(readdirSync(sessions), [sessionFileName('spec', 'live')]);
    });
  });
});

describe('collectSessionFiles', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('when the directory holds expired, live and leftover files, deletes only what is abandoned', async () => {
    const now = Date.now();
    const put = (name: string, text: string, ageMs = 0) => {
      writeFileSync(join(dir, name), text);
      if (ageMs) setAge(join(dir, name), ageMs);
    };
    const rec = (expires: number) => serializeRecord({ data: {}, created: now - 1000, expires });
    put('pso_spec_live.json', rec(now + 60_000));
    put('pso_spec_expired.json', rec(now - 1));
    put('pso_spec_expiring-now.json', rec(now));
    put('pso_spec_corrupt-old.json', '{"v":1,', 2 * DAY);
    put('pso_spec_corrupt-new.json', '{"v":1,');
    put('.pso_abc.123.1.tmp', 'partial', 2 * 3600_000);
    put('.pso_abc.123.2.tmp', 'partial');
    put('pso_spec_dead.lock', `${await deadPid()} ${hostname()} x`);
    put('pso_spec_alive.lock', `${process.pid} ${hostname()} x`);
    put('notes.txt', rec(now - 1), 10 * DAY);
    put('pso_spec_other.txt', rec(now - 1), 10 * DAY);

    const removed = await collectSessionFiles(dir, { now });
    assert.equal(removed, 5);
    assert.deepEqual(readdirSync(dir).sort(), [
      '.pso_abc.123.2.tmp',
      'notes.txt',
      'pso_spec_alive.lock',
      'pso_spec_corrupt-new.json',
      'pso_spec_live.json',
      'pso_spec_other.txt',
    ]);
  });

  it('when given corruptAfterMs, deletes unreadable files untouched that long', async () => {
    writeFileSync(join(dir, 'pso_spec_bad.json'), 'x');
    setAge(join(dir, 'pso_spec_bad.json'), 10_000);
    assert.equal(await collectSessionFiles(dir, { corruptAfterMs: 20_000 }), 0);
    assert.equal(await collectSessionFiles(dir, { corruptAfterMs: 5_000 }), 1);
  });

  it('when given a later "now", treats sessions as expired by then', async () => {
    writeFileSync(join(dir, 'pso_spec_s.json'), serializeRecord({ data: {}, created: 1, expires: Date.now() + 60_000 }));
    assert.equal(await collectSessionFiles(dir), 0);
    assert.equal(await collectSessionFiles(dir, { now: Date.now() + 120_000 }), 1);
  });

  it('when the directory does not exist, deletes nothing', async () => {
    assert.equal(await collectSessionFiles(join(dir, 'missing')), 0);
  });

  // The kill -9 suite under heavy load: a sweep judged a dead server's lock abandoned; before its
  // removal came (through a busy thread pool), a request broke that lock and took it; the sweep then
  // removed the live lock, a second process took it too, and two writers tore the session's file.
  it('when a request breaks and takes a dead holder\'s lock while the sweep is removing it, leaves the new holder its lock', async () => {
    const lockFile = join(dir, 'pso_spec_busy.lock');
    writeFileSync(lockFile, `${await deadPid()} ${hostname()} x`);
    let taken: FileLock | undefined;
    const slowUnlink: FsOps = {
      ...asyncFs,
      unlink: async (path) => {
        // What a request does while the sweep's call waits its turn in the thread pool.
        if (path === lockFile) taken ??= tryFileLock(lockFile, { shared: true });
        return asyncFs.unlink(path);
      },
    };
    await collectSessionFiles(dir, { fs: slowUnlink });
    taken ??= tryFileLock(lockFile, { shared: true });
    try {
      assert.ok(taken, 'the request took the lock');
      assert.equal(taken.stillHeld(), true, 'the lock is still the request\'s');
      assert.equal(tryFileLock(lockFile), undefined, 'no one else can take it');
    } finally {
      await taken?.();
    }
  });
});
