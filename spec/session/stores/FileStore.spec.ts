import assert from 'node:assert/strict';
import fs, { linkSync, statSync, unlinkSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import sinon from 'sinon';
import { CorruptSessionError, type SessionRecord } from '../../../src/session/SessionRecord.js';
import { FileStore } from '../../../src/session/stores/FileStore.js';
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
        const store = new FileStore(dir, { io });
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
        const store = new FileStore(dir);
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
});
