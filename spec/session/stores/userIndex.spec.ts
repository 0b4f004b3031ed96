// The index of users' sessions of every store, by its contract: entries,
// generations, revocation, lapsing and gc; and, for the stores that serve a
// session's statements on its lock's connection, index calls that never
// need a second connection.
import assert from 'node:assert/strict';
import { closeStores, openStore, type SessionRecord, type SessionStore, type UserIndex } from '../../../src/index.js';
import { STORE_KITS } from '../../support/storeKits.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bound = (user: string, patch: Partial<SessionRecord> = {}): SessionRecord => ({
  data: { n: 1 }, created: Date.now(), expires: Date.now() + 60_000, user: { id: user, at: Date.now(), gen: 0 }, ...patch,
});

for (const kit of STORE_KITS) {
  describe(`UserIndex of ${kit.label}`, function () {
    this.timeout(30_000);
    let directives: Record<string, string>;
    let store: SessionStore;
    let index: UserIndex;
    let n = 0;
    const owner = () => `svc:user-${++n}`;
    const key = (i: number | string) => `svc:~k${n}_${i}`;

    before(async function () {
      if (kit.skip()) this.skip();
      directives = await kit.setUp();
      store = await kit.open(directives);
      index = store.users!;
      assert.ok(index, 'the store keeps an index');
    });
    after(async () => {
      await kit.tearDown();
    });

    it('lists the sessions added under an owner, with their records, until removed; another owner is apart', async () => {
      const ada = owner();
      const bob = owner();
      for (const i of [1, 2]) {
        await index.add(ada, key(i), Date.now() + 60_000);
        await store.set(key(i), bound('ada'));
      }
      await index.add(bob, key(3), Date.now() + 60_000);
      await store.set(key(3), bound('bob'));
      assert.deepEqual((await index.sessions(ada)).map((s) => s.key).sort(), [key(1), key(2)]);
      assert.equal((await index.sessions(ada))[0]!.record.user!.id, 'ada');
      await index.remove(ada, key(1));
      await index.remove(ada, key(1));
      assert.deepEqual((await index.sessions(ada)).map((s) => s.key), [key(2)]);
      assert.deepEqual((await index.entries(ada)).map((e) => e.key), [key(2)]);
      assert.deepEqual((await index.sessions(bob)).map((s) => s.key), [key(3)]);
    });

    it('leaves out an entry whose session is not stored, and moves an entry\'s time when added again', async () => {
      const ada = owner();
      await index.add(ada, key(1), Date.now() + 60_000);
      assert.deepEqual(await index.sessions(ada), []);
      const later = Date.now() + 3_600_000;
      await index.add(ada, key(1), later);
      const [entry] = await index.entries(ada);
      assert.equal(entry!.key, key(1));
      assert.ok(Math.abs(entry!.until - later) < 1_000, `${entry!.until} vs ${later}`);
    });

    it('revoke moves the generation on, deletes the sessions and entries but those kept', async () => {
      const ada = owner();
      assert.equal(await index.generation(ada), 0);
      for (const i of [1, 2, 3]) {
        await index.add(ada, key(i), Date.now() + 60_000);
        await store.set(key(i), bound('ada'));
      }
      assert.equal(await index.revoke(ada, [key(2)]), 1);
      assert.equal(await index.generation(ada), 1);
      assert.equal(await store.get(key(1)), undefined);
      assert.equal(await store.get(key(3)), undefined);
      assert.ok(await store.get(key(2)));
      assert.deepEqual((await index.entries(ada)).map((e) => e.key), [key(2)]);
      assert.equal(await index.revoke(ada, []), 2);
      assert.equal(await store.get(key(2)), undefined);
      assert.deepEqual(await index.entries(ada), []);
      assert.equal(await index.generation(ada), 2, 'a generation is kept when nothing is left');
    });

    it('revocations at once each get a generation of their own', async () => {
      const ada = owner();
      const gens = await Promise.all(Array.from({ length: 12 }, () => index.revoke(ada, [])));
      assert.deepEqual([...gens].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
      assert.equal(await index.generation(ada), 12);
    });

    it('an entry lapses at its time: not listed, and gone after gc', async () => {
      const ada = owner();
      await index.add(ada, key(1), Date.now() + 300);
      await store.set(key(1), bound('ada'));
      await index.add(ada, key(2), Date.now() + 60_000);
      await store.set(key(2), bound('ada'));
      await sleep(400);
      assert.deepEqual((await index.sessions(ada)).map((s) => s.key), [key(2)]);
      await store.gc?.();
      await index.gc();
      assert.deepEqual((await index.entries(ada)).map((e) => e.key), [key(2)]);
    });

    it('gc keeps an entry whose session is not written yet (a login lists it just before)', async () => {
      const ada = owner();
      await index.add(ada, key(1), Date.now() + 60_000);
      await index.gc();
      await store.gc?.();
      assert.deepEqual((await index.entries(ada)).map((e) => e.key), [key(1)]);
    });

    it('a key and a user id with any characters', async () => {
      const odd = `svc:${'ü "\'%_\\*?[]{}'.repeat(4)}`;
      await index.add(odd, key('x'), Date.now() + 60_000);
      await store.set(key('x'), bound(odd.slice(4)));
      assert.deepEqual((await index.sessions(odd)).map((s) => s.key), [key('x')]);
      assert.equal(await index.revoke(odd, []), 1);
    });
  });
}

for (const [label, skipVar, url] of [
  ['PostgreSQL', 'PSO_POSTGRES_SKIP', 'postgres://postgres@127.0.0.1:5432/test'],
  ['MySQL', 'PSO_MYSQL_SKIP', 'mysql://root@127.0.0.1:3306/test'],
] as const) {
  describe(`UserIndex of ${label} with one pooled connection`, function () {
    this.timeout(30_000);
    const kit = STORE_KITS.find((k) => k.label === label)!;
    let table: string;

    before(async function () {
      if (process.env[skipVar]) this.skip();
      table = new URL((await kit.setUp()).PSOSessionStore!).searchParams.get('table')!;
    });
    after(async () => {
      await kit.tearDown();
    });

    it('while a session\'s lock holds the only connection, the index calls made for it do not wait for another', async () => {
      const store = (await openStore(`${url}?table=${table}&pool=1`))!;
      const held = 'svc:~held';
      const locked = await store.lockAndGet!(held, 5_000);
      try {
        const ada = 'svc:ada';
        // Each would wait for a second connection, for ever, if it could not run on the lock's.
        await index(store).add(ada, held, Date.now() + 60_000, held);
        await store.set(held, bound('ada'));
        assert.equal(await index(store).generation(ada, held), 0);
        assert.deepEqual((await index(store).sessions(ada, held)).map((s) => s.key), [held]);
        assert.equal(await index(store).revoke(ada, [held], held), 1);
        await index(store).remove(ada, held, held);
      } finally {
        await locked.release();
        await closeStores();
      }
    });
  });
}

function index(store: SessionStore): UserIndex {
  return store.users!;
}
