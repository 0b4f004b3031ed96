import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { existsSync, linkSync, lstatSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import sinon from 'sinon';
import { CorruptSessionError, serializeRecord, type SessionRecord } from '../../../src/session/SessionRecord.js';
import { FileStore } from '../../../src/session/stores/FileStore.js';
import { KEEP_COOL_MS, KEEP_IDLE_MS, KEEP_MAX_MS } from '../../../src/session/stores/keptLocks.js';
import { currentVersion } from '../../../src/session/stores/slotFile.js';
import { tempDir } from '../../support/fakeRequest.js';

const record = (n: number, pad: string): SessionRecord => ({ data: { n, pad }, created: 1_700_000_000_000, expires: Date.now() + 3600_000 });

describe('FileStore', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => {
    sinon.restore();
    syncBuiltinESMExports();
    cleanup();
  });

  it('answers at once (no store deadline) once its directory is checked, with direct calls only', async () => {
    const direct = new FileStore(dir);
    assert.equal(direct.answersAtOnce, false, 'before the directory is checked (the thread pool checks it)');
    await direct.set('s:~a', { data: { n: 1 }, expires: Date.now() + 60_000, created: Date.now() });
    assert.equal(direct.answersAtOnce, true);
    const pooled = new FileStore(dir, { io: 'async' });
    await pooled.set('s:~b', { data: { n: 1 }, expires: Date.now() + 60_000, created: Date.now() });
    assert.equal(pooled.answersAtOnce, false, 'through the thread pool every call keeps its deadline');
  });

  describe('set', () => {
    // write() may take fewer bytes than it is given (a disk that fills up takes what fits, and says so
    // only on the next call): the rest went unwritten, the file was cut to length, and the torn version
    // replaced the session's file.
    for (const io of ['sync', 'async'] as const) {
      it(`when the system writes part of a version at a time, writes the rest (${io === 'sync' ? 'direct' : 'thread pool'} calls)`, async () => {
        const store = new FileStore(dir, { io });
        const key = 'spec:short';
        const write = fs.write;
        const writeSync = fs.writeSync;
        // At most 16 bytes per call, as a file system short of space might.
        sinon.stub(fs, 'write').callsFake(((fd: number, buf: Buffer, off: number, len: number, pos: number, cb: (e: Error | null, n: number) => void) =>
          write(fd, buf, off, Math.min(len, 16), pos, cb)) as unknown as typeof fs.write);
        sinon.stub(fs, 'writeSync').callsFake(((fd: number, buf: Buffer, off: number, len: number, pos: number) =>
          writeSync(fd, buf, off, Math.min(len, 16), pos)) as unknown as typeof fs.writeSync);
        syncBuiltinESMExports();
        await store.set(key, record(1, 'z'.repeat(200)));
        await store.set(key, record(2, 'w'.repeat(100)));
        sinon.restore();
        syncBuiltinESMExports();
        assert.deepEqual({ ...(await store.get(key))?.data }, { n: 2, pad: 'w'.repeat(100) });
      });
    }

    // The spare holds the version before last: rewritten in place, it is cut to length only when the new
    // version is shorter, so a session that grows or keeps its size saves with one system call fewer.
    for (const io of ['sync', 'async'] as const) {
      it(`cuts the spare to length only when the new version is shorter (${io === 'sync' ? 'direct' : 'thread pool'} calls)`, async () => {
        // The spare holds versions of the JSON format; a slot file is written in place (see below).
        const store = new FileStore(dir, { io, format: 'json' });
        const key = 'spec:sizes';
        const file = store.fileOf(key);
        await store.set(key, record(1, 'a'.repeat(300)));
        await store.set(key, record(2, 'b'.repeat(300)));
        const cut = [sinon.spy(fs, 'ftruncateSync'), sinon.spy(fs, 'ftruncate')];
        syncBuiltinESMExports();
        const cuts = () => cut.reduce((n, spy) => n + spy.callCount, 0);
        await store.set(key, record(3, 'c'.repeat(400)));
        await store.set(key, record(4, 'd'.repeat(400)));
        assert.equal(cuts(), 0, 'a version at least as long as the spare is written without cutting');
        for (const [n, len] of [[5, 10], [6, 0], [7, 250]] as const) {
          await store.set(key, record(n, 'e'.repeat(len)));
          assert.deepEqual({ ...(await store.get(key))?.data }, { n, pad: 'e'.repeat(len) });
          assert.equal(statSync(file).size, Buffer.byteLength(fs.readFileSync(file, 'utf8')));
          assert.ok(!/ccc|ddd/.test(fs.readFileSync(file, 'utf8')), 'nothing of an older version is left at the end');
        }
        assert.equal(cuts(), 2, 'the two shorter versions were cut to length, the longer one was not');
      });
    }

    // Two writers of one session at once (a lock removed under its holder: see collectSessionFiles) could
    // leave the spare as a second name of the session's file; every later save then rewrote the live
    // file in place, and a kill -9 between writing and truncating left it torn: the session was lost.
    describe('when the spare is another name of the session\'s file', () => {
      it('writes the next version to a file of its own: a save cut short leaves the current version whole', async () => {
        const store = new FileStore(dir, { format: 'json' });
        const key = 'spec:abc';
        const file = store.fileOf(key);
        const spare = file.replace(/\.json$/, '.spare');
        await store.set(key, record(1, 'x'.repeat(300)));
        await store.set(key, record(2, 'y'.repeat(300)));
        unlinkSync(spare);
        linkSync(file, spare);
        // The process dies after writing the new text at the start of the file, before cutting it to length.
        // (Through the thread pool or directly: PSOSessionFileIO.)
        sinon.stub(fs, 'ftruncate').callsFake(((_fd: number, _len: number, cb: (e: Error) => void) => cb(new Error('killed'))) as typeof fs.ftruncate);
        sinon.stub(fs, 'ftruncateSync').throws(new Error('killed'));
        syncBuiltinESMExports();
        await assert.rejects(store.set(key, record(3, '')));
        sinon.restore();
        syncBuiltinESMExports();
        const kept = await store.get(key).catch((e: unknown) => (e instanceof CorruptSessionError ? e : Promise.reject(e)));
        assert.ok(!(kept instanceof CorruptSessionError), `the session's file was torn: ${(kept as Error).message}`);
        assert.equal(kept?.data.n, 2);
        await store.set(key, record(4, ''));
        assert.equal((await store.get(key))?.data.n, 4);
        assert.notEqual(statSync(spare).ino, statSync(file).ino, 'the spare is a file of its own again');
      });
    });
  });
  describe('two versions in one file, the older rewritten in place', () => {
    /** One request's load and save under the lock, as pso makes them. */
    async function bump(store: FileStore, key: string, pad = ''): Promise<number> {
      const held = await store.lockAndGet!(key, 1000);
      const n = ((held.record()?.data.n as number | undefined) ?? 0) + 1;
      try {
        await held.setAndRelease!(record(n, pad));
      } finally {
        // A failed save leaves the lock held (as StoreAccess does, give it back).
        await held.release();
      }
      return n;
    }
    const layoutOf = (file: string) => currentVersion(readFileSync(file)).layout;

    for (const io of ['sync', 'async'] as const) {
      it(`saves in place: one inode, nothing renamed, nothing beside the file (${io === 'sync' ? 'direct' : 'thread pool'} calls)`, async () => {
        const store = new FileStore(dir, { io });
        const key = 'spec:inplace';
        const file = store.fileOf(key);
        await bump(store, key);
        const ino = statSync(file).ino;
        const renames = [sinon.spy(fs, 'rename'), sinon.spy(fs, 'renameSync'), sinon.spy(fs, 'ftruncate'), sinon.spy(fs, 'ftruncateSync')];
        syncBuiltinESMExports();
        for (let n = 2; n <= 20; n++) {
          assert.equal(await bump(store, key, 'p'.repeat(n * 5)), n);
          assert.equal((await store.get(key))?.data.n, n);
          assert.equal(statSync(file).ino, ino);
          assert.deepEqual(layoutOf(file), { capacity: 512, slot: (n - 1) % 2, seq: n });
        }
        assert.equal(renames.reduce((k, spy) => k + spy.callCount, 0), 0, 'no rename and no cut to length');
        assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.pso-holder-')), [file.slice(dir.length + 1)]);
      });
    }

    it('a session grown past its slots gets a new file with larger ones, then saves in place again', async () => {
      const store = new FileStore(dir);
      const key = 'spec:grow';
      const file = store.fileOf(key);
      await bump(store, key);
      assert.equal(layoutOf(file)?.capacity, 512);
      await bump(store, key, 'g'.repeat(2000));
      assert.equal(layoutOf(file)?.capacity, 8192);
      assert.deepEqual({ ...(await store.get(key))?.data }, { n: 2, pad: 'g'.repeat(2000) });
      const ino = statSync(file).ino;
      await bump(store, key, 'h'.repeat(3000));
      assert.equal(statSync(file).ino, ino);
      assert.deepEqual({ ...(await store.get(key))?.data }, { n: 3, pad: 'h'.repeat(3000) });
      // Shrinking keeps the slots.
      await bump(store, key);
      assert.deepEqual({ ...(await store.get(key))?.data }, { n: 4, pad: '' });
      assert.equal(statSync(file).ino, ino);
      // The version the new layout replaced is not kept beside it (it would hold old data for as long as the session lives).
      assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.pso-holder-')), [file.slice(dir.length + 1)]);
    });

    // A 1 MB session would otherwise read up to 5 MB a request: its slots leave room to grow.
    for (const io of ['sync', 'async'] as const) {
      it(`a large session is read without its spare room, by its holder and by readers without the lock (${io === 'sync' ? 'direct' : 'thread pool'} calls)`, async () => {
        const store = new FileStore(dir, { io });
        const key = 'spec:large';
        const size = 300_000;
        await bump(store, key, 'L'.repeat(size));
        await bump(store, key, 'M'.repeat(size - 100));
        await bump(store, key, 'N'.repeat(size - 200));
        assert.ok(statSync(store.fileOf(key)).size > 2 * size, 'the file holds more than the session');
        const reads: sinon.SinonSpy[] = [sinon.spy(fs, 'read') as sinon.SinonSpy, sinon.spy(fs, 'readSync') as sinon.SinonSpy];
        syncBuiltinESMExports();
        const bytesRead = () => reads.reduce((n, spy) => n + spy.getCalls().reduce((m, c) => m + (c.args[3] as number), 0), 0);
        assert.equal(await bump(store, key, 'O'.repeat(size)), 4);
        const held = bytesRead();
        assert.equal((await store.get(key))?.data.pad, 'O'.repeat(size));
        const unlocked = bytesRead() - held;
        sinon.restore();
        syncBuiltinESMExports();
        assert.ok(held < size + 1_000, `the holder read ${held} bytes`);
        assert.ok(unlocked < size + 1_000, `a reader without the lock read ${unlocked} bytes`);
      });
    }

    it('a file of the earlier format (one JSON record) is read, and its first save makes it a slot file', async () => {
      const store = new FileStore(dir);
      const key = 'spec:legacy';
      const file = store.fileOf(key);
      writeFileSync(file, serializeRecord(record(41, '')), { mode: 0o600 });
      // The spare an earlier version of pso kept beside it: used for the conversion, then gone.
      writeFileSync(file.replace(/\.json$/, '.spare'), serializeRecord(record(40, '')), { mode: 0o600 });
      assert.equal((await store.get(key))?.data.n, 41);
      assert.equal(await bump(store, key), 42);
      assert.equal(readFileSync(file, 'latin1').slice(0, 10), '#pso-slots');
      assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.pso-holder-')), [file.slice(dir.length + 1)]);
      assert.equal(await bump(store, key), 43);
      assert.equal((await store.get(key))?.data.n, 43);
    });

    it('PSOSessionFileFormat json writes one JSON record per file, and reads slot files, so both kinds of process share a directory', async () => {
      const slots = new FileStore(dir);
      const json = new FileStore(dir, { format: 'json' });
      const key = 'spec:mixed';
      const file = slots.fileOf(key);
      for (let i = 0; i < 6; i++) await bump(i % 2 ? json : slots, key);
      assert.equal((await slots.get(key))?.data.n, 6);
      assert.equal((await json.get(key))?.data.n, 6);
      assert.equal(readFileSync(file, 'utf8')[0], '{', 'the last save, of the json store, wrote JSON');
    });

    it('a file with a second name (a backup\'s hard link) is not written in place: the other name keeps its version', async () => {
      const store = new FileStore(dir);
      const key = 'spec:linked';
      const file = store.fileOf(key);
      await bump(store, key);
      await bump(store, key);
      const backup = `${dir}/backup.json`;
      linkSync(file, backup);
      await bump(store, key);
      assert.equal((await store.get(key))?.data.n, 3);
      assert.equal(JSON.parse(currentVersion(readFileSync(backup)).json).data.n, 2);
      assert.notEqual(statSync(file).ino, statSync(backup).ino);
    });

    // A process killed mid-write, or a disk that fills: the slot being written is left torn.
    for (const io of ['sync', 'async'] as const) {
      it(`a save cut short leaves the version before it whole, and the next save goes on (${io === 'sync' ? 'direct' : 'thread pool'} calls)`, async () => {
        const store = new FileStore(dir, { io });
        const key = 'spec:torn';
        for (let i = 0; i < 3; i++) await bump(store, key, 'q'.repeat(200));
        const write = fs.write;
        const writeSync = fs.writeSync;
        // Half of the slot is written, then the process "dies" (the call fails).
        sinon.stub(fs, 'write').callsFake(((fd: number, buf: Buffer, off: number, len: number, pos: number, cb: (e: Error | null, n?: number) => void) =>
          write(fd, buf, off, len >> 1, pos, () => cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })))) as unknown as typeof fs.write);
        sinon.stub(fs, 'writeSync').callsFake(((fd: number, buf: Buffer, off: number, len: number, pos: number) => {
          writeSync(fd, buf, off, len >> 1, pos);
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }) as unknown as typeof fs.writeSync);
        syncBuiltinESMExports();
        await assert.rejects(bump(store, key, 'r'.repeat(200)), /no space left/);
        sinon.restore();
        syncBuiltinESMExports();
        assert.deepEqual({ ...(await store.get(key))?.data }, { n: 3, pad: 'q'.repeat(200) });
        assert.equal(await bump(store, key, 's'), 4);
        assert.equal(await bump(store, key, 't'), 5);
        assert.deepEqual({ ...(await store.get(key))?.data }, { n: 5, pad: 't' });
      });
    }

    // session.save() in a request that made the session, then the save that ends it: the second write
    // goes into the file the first one made, in place, on a descriptor opened again for it.
    it('a new session saved twice under one hold is made once, then written in place', async () => {
      const store = new FileStore(dir);
      const key = 'spec:twice';
      const file = store.fileOf(key);
      const held = await store.lockAndGet!(key, 1000);
      assert.equal(held.record(), undefined);
      await store.set(key, record(1, ''));
      const ino = statSync(file).ino;
      assert.deepEqual(layoutOf(file), { capacity: 512, slot: 0, seq: 1 });
      await held.setAndRelease!(record(2, ''));
      assert.equal((await store.get(key))?.data.n, 2);
      assert.equal(statSync(file).ino, ino);
      assert.deepEqual(layoutOf(file), { capacity: 512, slot: 1, seq: 2 });
    });

    it('a session deleted while its lock is held, then saved, is saved to a new file', async () => {
      const store = new FileStore(dir);
      const key = 'spec:gone';
      await bump(store, key);
      const held = await store.lockAndGet!(key, 1000);
      await store.destroy(key);
      await held.setAndRelease!(record(7, ''));
      assert.equal((await store.get(key))?.data.n, 7);
    });

    it('a file that cannot be read is replaced whole by the next save', async () => {
      const store = new FileStore(dir);
      const key = 'spec:junk';
      writeFileSync(store.fileOf(key), '#pso-slots 1 0000000512      \n@garbage', { mode: 0o600 });
      const held = await store.lockAndGet!(key, 1000);
      assert.throws(() => held.record(), (e: unknown) => e instanceof CorruptSessionError && e.message.includes('pso_spec_junk.json'));
      await held.setAndRelease!(record(1, ''));
      assert.equal((await store.get(key))?.data.n, 1);
    });

    // Readers without the lock (listing, the users index, another process's get) read while a save is
    // under way. Here a second process reads as fast as it can while this one saves, with sessions that
    // span pages; every read must give a whole version, never an older one than a read before it.
    it('a reader in another process never sees a torn version, nor the count go back', async function () {
      this.timeout(20_000);
      const store = new FileStore(dir);
      const key = 'spec:race';
      await bump(store, key, 'v'.repeat(5000));
      const storeModule = fileURLToPath(new URL('../../../src/session/stores/FileStore.js', import.meta.url));
      const reader = spawn(process.execPath, ['--input-type=module', '-e', `
        const { FileStore } = await import(${JSON.stringify(storeModule)});
        const store = new FileStore(${JSON.stringify(dir)});
        let reads = 0, errors = 0, back = 0, last = 0, first = '';
        const end = Date.now() + 1500;
        while (Date.now() < end) {
          try {
            const n = (await store.get(${JSON.stringify(key)})).data.n;
            if (n < last) back++;
            last = n;
            reads++;
          } catch (e) { errors++; first ||= String(e); }
        }
        console.log(JSON.stringify({ reads, errors, back, last, first }));
      `], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      reader.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => reader.on('exit', r));
      let saves = 0;
      let running = true;
      void exited.then(() => (running = false));
      while (running) {
        await bump(store, key, (saves % 2 ? 'v' : 'w').repeat(5000 + (saves % 7) * 300));
        saves++;
        if (saves % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      assert.equal(await exited, 0);
      const seen = JSON.parse(out) as { reads: number; errors: number; back: number; last: number; first: string };
      assert.ok(seen.reads > 50 && saves > 50, `reads ${seen.reads}, saves ${saves}`);
      assert.equal(seen.errors, 0, seen.first);
      assert.equal(seen.back, 0);
    });
  });
  describe('locks kept between requests (keepLocks, PSOSessionLock auto in a server)', () => {
    const key = 'spec:~kept';
    const lockOf = (store: FileStore) => store.fileOf(key).replace(/\.json$/, '.lock');
    const isLocked = (store: FileStore) => lstatSync(lockOf(store), { throwIfNoEntry: false }) !== undefined;
    const storeModule = fileURLToPath(new URL('../../../src/session/stores/FileStore.js', import.meta.url));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let stores: FileStore[] = [];
    afterEach(async () => {
      for (const s of stores) await s.close();
      stores = [];
    });
    const keeping = () => {
      const store = new FileStore(dir, { keepLocks: true });
      stores.push(store);
      return store;
    };

    async function increment(store: FileStore): Promise<number> {
      const held = await store.lockAndGet!(key, 5000);
      const n = ((held.record()?.data.n as number | undefined) ?? 0) + 1;
      try {
        await held.setAndRelease!(record(n, ''));
      } finally {
        await held.release();
      }
      return n;
    }

    /** A CGI-like process (direct calls, a symbolic link per lock) that increments the session once and says how long it waited. */
    function otherProcess(): Promise<{ n: number; waitedMs: number }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', `
          const { FileStore } = await import(${JSON.stringify(storeModule)});
          const store = new FileStore(${JSON.stringify(dir)}, { sync: true });
          const t0 = Date.now();
          const held = await store.lockAndGet(${JSON.stringify(key)}, 10000);
          const waitedMs = Date.now() - t0;
          const r = held.record();
          const n = r.data.n + 1;
          await held.setAndRelease({ ...r, data: { ...r.data, n } });
          console.log(JSON.stringify({ n, waitedMs }));
        `], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${out}`))));
      });
    }

    it('keeps the lock and the open file after a request: the next one reads nothing, locks nothing, and writes once', async () => {
      const store = keeping();
      assert.equal(await increment(store), 1);
      assert.ok(isLocked(store), 'kept after the request');
      // The file a new session was made in is opened once, at its second save.
      assert.equal(await increment(store), 2);
      const calls = { open: 0, link: 0, symlink: 0, read: 0, write: 0 };
      for (const name of ['openSync', 'linkSync', 'symlinkSync', 'readSync', 'writeSync'] as const) {
        const original = fs[name] as (...a: unknown[]) => unknown;
        const counter = name.replace('Sync', '') as keyof typeof calls;
        sinon.stub(fs, name).callsFake(((...a: unknown[]) => {
          calls[counter]++;
          return original(...a);
        }) as never);
      }
      syncBuiltinESMExports();
      assert.equal(await increment(store), 3);
      assert.equal(await increment(store), 4);
      sinon.restore();
      syncBuiltinESMExports();
      assert.deepEqual(calls, { open: 0, link: 0, symlink: 0, read: 0, write: 2 });
      // Written through: a reader without the lock sees every version at once.
      assert.equal((await new FileStore(dir).get(key))?.data.n, 4);
    });

    it('gives a kept lock up once idle', async () => {
      const store = keeping();
      await increment(store);
      const started = Date.now();
      while (isLocked(store) && Date.now() - started < KEEP_IDLE_MS + 2000) await sleep(10);
      assert.equal(isLocked(store), false);
      assert.ok(Date.now() - started >= KEEP_IDLE_MS - 50, `given up after ${Date.now() - started} ms`);
    });

    it('another process that waits knocks: the lock is given up at once, though this process uses the session without a pause, and nothing is lost', async function () {
      this.timeout(20_000);
      const store = keeping();
      await increment(store);
      let mine = 1;
      let busy = true;
      const other = otherProcess().finally(() => (busy = false));
      while (busy) {
        await increment(store);
        mine++;
        await sleep(2);
      }
      const seen = await other;
      // Without the knock it would wait for the lock to be two seconds old.
      assert.ok(seen.waitedMs < KEEP_MAX_MS / 2, `the other process waited ${seen.waitedMs} ms`);
      assert.equal((await new FileStore(dir).get(key))?.data.n, mine + 1, 'every increment of both processes kept');
      // This process reads what the other wrote; knocked, for a while each request gives its lock back.
      assert.equal(await increment(store), mine + 2);
      assert.equal(isLocked(store), false, 'not kept after a knock');
    });

    it('a knock on a lock a request holds, while nothing is kept yet, is heeded when that request ends', async function () {
      this.timeout(20_000);
      const store = keeping();
      await increment(store);
      await store.close();
      const fresh = keeping();
      const held = await fresh.lockAndGet!(key, 1000);
      const other = otherProcess();
      // The other process waits, and knocks, while this request holds the lock.
      await sleep(300);
      await held.setAndRelease!(record(((held.record()?.data.n as number) ?? 0) + 1, ''));
      const st = lstatSync(lockOf(fresh), { throwIfNoEntry: false });
      assert.ok(!st?.isFile(), 'the lock was given back, not kept (the other process may hold its own, a symbolic link, by now)');
      assert.equal((await other).n, 3);
    });

    it('a process that does not knock (an earlier pso) gets its turn once the lock is KEEP_MAX_MS old, however busy the session', async function () {
      this.timeout(20_000);
      const store = keeping();
      await increment(store);
      const lock = lockOf(store);
      let busy = true;
      const child = spawn(process.execPath, ['-e', `
        const fs = require('node:fs');
        const t0 = Date.now();
        for (;;) {
          try { fs.symlinkSync('1 other-host x', ${JSON.stringify(lock)}); break; } catch (e) { if (e.code !== 'EEXIST') throw e; }
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        }
        console.log(Date.now() - t0);
        fs.unlinkSync(${JSON.stringify(lock)});
      `], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.on('exit', r)).finally(() => (busy = false));
      while (busy) {
        await increment(store);
        await sleep(2);
      }
      assert.equal(await exited, 0);
      const waited = Number(out);
      assert.ok(waited <= KEEP_MAX_MS + KEEP_COOL_MS + 1000, `waited ${waited} ms`);
    });

    it('a save that fails is not kept: the next request takes the lock and reads the file again', async () => {
      const store = keeping();
      await increment(store);
      const held = await store.lockAndGet!(key, 1000);
      const writeSync = fs.writeSync;
      sinon.stub(fs, 'writeSync').callsFake(((...a: Parameters<typeof writeSync>) => {
        if (typeof a[0] === 'number') throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        return writeSync(...a);
      }) as typeof fs.writeSync);
      syncBuiltinESMExports();
      await assert.rejects(held.setAndRelease!(record(99, '')), /EIO/);
      sinon.restore();
      syncBuiltinESMExports();
      await held.release();
      assert.equal(isLocked(store), false, 'given back, not kept');
      assert.equal(await increment(store), 2, 'the version before the failed save');
    });

    it('deleting a session under a kept lock deletes its file and gives the lock up', async () => {
      const store = keeping();
      await increment(store);
      assert.ok(isLocked(store));
      await store.destroy(key);
      assert.equal(isLocked(store), false);
      assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('.pso-holder-')), []);
      assert.equal(await increment(store), 1, 'a new session');
    });

    it('a process that exits gives up the locks it keeps', async () => {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', `
          const { FileStore } = await import(${JSON.stringify(storeModule)});
          const store = new FileStore(${JSON.stringify(dir)}, { keepLocks: true });
          const held = await store.lockAndGet(${JSON.stringify(key)}, 1000);
          await held.setAndRelease({ data: { n: 1 }, created: Date.now(), expires: Date.now() + 60000 });
          console.log((await import('node:fs')).readdirSync(${JSON.stringify(dir)}).filter((n) => n.endsWith('.lock')).length);
          process.exit(0);
        `], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d) => (text += d));
        child.on('error', reject);
        child.on('exit', () => resolve(text.trim()));
      });
      assert.equal(out, '1', 'kept while it ran');
      assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.json')), [], 'neither its lock nor its holder file is left');
    });

    it('keeps no more locks (and open files) than a quarter of what the process may open', async function () {
      if (!existsSync('/usr/bin/prlimit')) this.skip();
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn('/usr/bin/prlimit', ['--nofile=400:400', process.execPath, '--input-type=module', '-e', `
          const { FileStore } = await import(${JSON.stringify(storeModule)});
          const store = new FileStore(${JSON.stringify(dir)}, { keepLocks: true });
          for (let i = 0; i < 150; i++) {
            const held = await store.lockAndGet('spec:~k' + i, 1000);
            await held.setAndRelease({ data: { i }, created: Date.now(), expires: Date.now() + 60000 });
            // Saved twice: the second save is the one a kept lock keeps the open file of.
            const again = await store.lockAndGet('spec:~k' + i, 1000);
            await again.setAndRelease({ data: { i, again: true }, created: Date.now(), expires: Date.now() + 60000 });
          }
          const fs = await import('node:fs');
          console.log(fs.readdirSync(${JSON.stringify(dir)}).filter((n) => n.endsWith('.lock')).length, fs.readdirSync('/proc/self/fd').length);
          process.exit(0);
        `], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d) => (text += d));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(text.trim()) : reject(new Error(`exit ${code}`))));
      });
      const [locks, fds] = out.split(' ').map(Number);
      assert.equal(locks, 100, 'a quarter of 400');
      assert.ok(fds! < 200, `${fds} descriptors open`);
    });

    it('is off where it cannot hold: a CGI (direct calls, one request), the thread pool (a network file system), the json format, locks in the process only', async () => {
      for (const options of [{ sync: true }, { io: 'async' as const }, { format: 'json' as const }, { lockAcrossProcesses: false }]) {
        const store = new FileStore(dir, { ...options, keepLocks: true });
        const held = await store.lockAndGet?.(key, 1000);
        if (!held) {
          await store.set(key, record(1, ''));
        } else {
          await held.setAndRelease!(record(1, ''));
        }
        assert.equal(isLocked(store), false, JSON.stringify(options));
      }
    });
  });
});
