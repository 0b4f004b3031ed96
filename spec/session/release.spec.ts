// Early release (session.release()) and read-only sessions: what is saved,
// what is locked, and what a change after it says.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceHandler, SessionReadOnlyError, createContainer, parseRecord, type Handler, type HandlerOptions } from '../../src/index.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { sessionFileName } from '../support/sessionFiles.js';
import { storedRecord } from '../support/storedFile.js';

const idOf = (r: FakeRequest) => /^spec=([^;]*)/.exec(r.setCookies()[0] ?? '')?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('early release and read-only sessions', function () {
  this.timeout(20_000);
  let dir: string;
  let cleanup: () => void;
  let handler: ServiceHandler;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    handler = new ServiceHandler(createContainer());
  });
  afterEach(() => cleanup());

  const fileOf = (id: string) => join(dir, sessionFileName('spec', id));
  const stored = (id: string) => storedRecord(fileOf(id));
  const dataOf = (id: string) => ({ ...stored(id).data });

  /** One request through the core, on a persistent host (so the in-process lock applies), the file store in `dir`. */
  async function handle(fn: Handler, init: FakeRequestInit & { cookie?: string; options?: HandlerOptions } = {}): Promise<FakeRequest> {
    const r = new FakeRequest({
      persistent: true, ...init,
      env: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', PSOSessionLockTimeout: '1', ...init.env },
      headers: { ...(init.cookie ? { cookie: `spec=${init.cookie}` } : {}), ...init.headers },
    });
    await handler.handle(r, fn, init.options);
    return r;
  }
  async function seed(data: Record<string, number | string | number[]>): Promise<string> {
    const r = await handle((req) => { for (const [k, v] of Object.entries(data)) req.session.set(k, v); });
    return idOf(r)!;
  }
  const errorLines = (r: FakeRequest) => r.logLines.filter((l) => l.level === 'error').map((l) => l.message).join('\n');

  describe('session.release()', () => {
    it('saves the session and unlocks it: a parallel request of the same session runs while the first is still in its handler', async () => {
      const id = await seed({ n: 1 });
      const released = gate();
      const finish = gate();
      const first = handle(async (r) => {
        r.session.set('a', 'first');
        await r.session.release();
        released.open();
        await finish.wait;
        r.write(`a=${String(r.session.get('a'))}`);
      }, { cookie: id });
      await released.wait;
      // The lock timeout is 1 s: a session still locked would answer 503.
      const second = await handle((r) => { r.write(`${String(r.session.get('a'))} ${r.session.increment('n')}`); }, { cookie: id });
      assert.equal(second.head!.status, 200, errorLines(second));
      assert.equal(second.sentBody, 'first 2', 'the second request saw what the first saved at release()');
      finish.open();
      const done = await first;
      assert.equal(done.head!.status, 200, errorLines(done));
      assert.equal(done.sentBody, 'a=first');
      assert.deepEqual(dataOf(id), { n: 2, a: 'first' }, 'the first request saved nothing more at its end');
    });

    it('refuses a change after it with a SessionReadOnlyError that says so; the request answers 500 and what release() saved stays', async () => {
      const id = await seed({ n: 1 });
      let thrown: unknown;
      const r = await handle(async (req) => {
        req.session.set('kept', 1);
        await req.session.release();
        try {
          req.session.set('lost', 2);
        } catch (e) {
          thrown = e;
          throw e;
        }
      }, { cookie: id });
      assert.ok(thrown instanceof SessionReadOnlyError);
      assert.equal(thrown.reason, 'released');
      assert.match(thrown.message, /^cannot set "lost": the session was released with session\.release\(\): it is saved and unlocked, .* make the change before release\(\)$/);
      assert.equal(r.head!.status, 500);
      assert.match(errorLines(r), /SessionReadOnlyError: cannot set "lost"/);
      assert.deepEqual(dataOf(id), { n: 1, kept: 1 });
    });

    it('refuses every kind of change, to the data itself too, nested values included; reading goes on', async () => {
      const id = await seed({ list: [1, 2] });
      const refused: string[] = [];
      const r = await handle(async (req) => {
        const s = req.session;
        await s.release();
        const attempts: [string, () => unknown][] = [
          ['assign', () => { (s.data as Record<string, unknown>).x = 1; }],
          ['push', () => (s.get('list') as number[]).push(3)],
          ['data push', () => (s.data as { list: number[] }).list.push(3)],
          ['delete', () => s.delete('list')], ['clear', () => s.clear()], ['increment', () => s.increment('n')],
          ['expire', () => s.expire(60)], ['timeouts', () => s.setTimeouts({ idle: 60 })], ['regenerate', () => s.regenerate()],
          ['destroy', () => s.destroy()], ['flash', () => s.flash('info', 'x')], ['flashes', () => s.flashes()],
        ];
        for (const [name, attempt] of attempts) {
          try {
            attempt();
          } catch (e) {
            if (e instanceof SessionReadOnlyError) refused.push(name);
          }
        }
        await assert.rejects(s.save(), SessionReadOnlyError);
        assert.equal(s.readOnly, true);
        s.revert();
        req.write(JSON.stringify({ list: s.get('list'), json: s.toJSON(), keys: s.keys() }));
      }, { cookie: id });
      assert.deepEqual(refused, ['assign', 'push', 'data push', 'delete', 'clear', 'increment', 'expire', 'timeouts', 'regenerate', 'destroy', 'flash', 'flashes']);
      assert.equal(r.head!.status, 200, errorLines(r));
      assert.deepEqual(JSON.parse(r.sentBody), { list: [1, 2], json: { list: [1, 2] }, keys: ['list'] });
      assert.deepEqual(dataOf(id), { list: [1, 2] });
    });

    it('answers 500 when the data was changed after it through a value taken before, which would otherwise be lost without a word', async () => {
      const id = await seed({ list: [1] });
      const r = await handle(async (req) => {
        const list = req.session.get('list') as number[];
        await req.session.release();
        list.push(2);
        req.write('done');
      }, { cookie: id });
      assert.equal(r.head!.status, 500);
      assert.match(errorLines(r), /SessionReadOnlyError: cannot change the session data through a value taken from it before release\(\): the session was released/);
      assert.deepEqual(dataOf(id), { list: [1] });
    });

    it('leaves a failed save to the handler that called it, and takes it for no late change', async () => {
      const id = await seed({ n: 1 });
      const r = await handle(async (req) => {
        req.session.set('blob', 'x'.repeat(3000));
        await assert.rejects(req.session.release(), /more than PSOSessionMaxSize/);
        req.write('went on');
      }, { cookie: id, env: { PSOSessionMaxSize: '1k' } });
      assert.equal(r.head!.status, 200, errorLines(r));
      assert.equal(r.sentBody, 'went on');
      assert.deepEqual(dataOf(id), { n: 1 });
    });

    it('stores a new session and still sends its cookie with the response', async () => {
      const r = await handle(async (req) => {
        req.session.set('user', 'ada');
        await req.session.release();
        req.write('ok');
      });
      const id = idOf(r)!;
      assert.ok(id, r.setCookies().join());
      assert.deepEqual(dataOf(id), { user: 'ada' });
    });

    it('is harmless twice, and does nothing to a read-only session', async () => {
      const id = await seed({ n: 1 });
      const r = await handle(async (req) => {
        await req.session.release();
        await req.session.release();
        req.write('ok');
      }, { cookie: id });
      assert.equal(r.head!.status, 200, errorLines(r));
      const ro = await handle(async (req) => { await req.session.release(); req.write(String(req.session.get('n'))); }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(ro.sentBody, '1');
    });
  });

  describe('read-only sessions', () => {
    /** A request of session `id` that waits in its handler until `done` is opened, and a promise of its response. */
    function holder(id: string, options: HandlerOptions) {
      const inside = gate();
      const done = gate();
      const response = handle(async (r) => {
        r.write(String(r.session.get('n')));
        inside.open();
        await done.wait;
      }, { cookie: id, options });
      return { inside: inside.wait, done, response };
    }

    it('take no lock: a writer of the same session goes on while a read-only request waits (a writable one would hold it up)', async () => {
      const id = await seed({ n: 1 });
      const ro = holder(id, { readOnlySession: true });
      await ro.inside;
      const writer = await handle((r) => { r.write(String(r.session.increment('n'))); }, { cookie: id });
      assert.equal(writer.head!.status, 200, errorLines(writer));
      assert.equal(writer.sentBody, '2');
      ro.done.open();
      assert.equal((await ro.response).sentBody, '1');
      assert.equal(stored(id).data.n, 2, 'the read-only request did not write its stale copy back');

      // The same with a writable request: the writer waits out the 1 s lock timeout.
      const rw = holder(id, {});
      await rw.inside;
      const blocked = await handle((r) => { r.write(String(r.session.increment('n'))); }, { cookie: id });
      assert.equal(blocked.head!.status, 503);
      rw.done.open();
      await rw.response;
    });

    it('save nothing and send no cookie; a change is refused, naming the directive and the option', async () => {
      const id = await seed({ n: 1 });
      const before = statSync(fileOf(id)).mtimeMs;
      await sleep(20);
      let thrown: unknown;
      const r = await handle((req) => {
        req.write(String(req.session.get('n')));
        try {
          req.session.increment('n');
        } catch (e) {
          thrown = e;
        }
      }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(r.head!.status, 200);
      assert.equal(r.sentBody, '1');
      assert.deepEqual(r.setCookies(), []);
      assert.ok(thrown instanceof SessionReadOnlyError);
      assert.equal(thrown.reason, 'read-only');
      assert.match(thrown.message, /^cannot increment "n": the session was opened read-only \(PSOSessionReadOnly, or the readOnlySession handler option\)/);
      assert.equal(statSync(fileOf(id)).mtimeMs, before, 'the session file was not written');
    });

    it('are chosen by PSOSessionReadOnly, by a function of the request, and the option decides over the directive', async () => {
      const id = await seed({ n: 1 });
      const count: Handler = (r) => { r.write(String(r.session.increment('n'))); };
      const byDirective = await handle(count, { cookie: id, env: { PSOSessionReadOnly: 'on' } });
      assert.equal(byDirective.head!.status, 500);
      assert.equal(stored(id).data.n, 1);
      const optionWins = await handle(count, { cookie: id, env: { PSOSessionReadOnly: 'on' }, options: { readOnlySession: false } });
      assert.equal(optionWins.sentBody, '2');
      const perRequest: HandlerOptions = { readOnlySession: (r) => (r.path === '/poll' ? true : undefined) };
      assert.equal((await handle(count, { cookie: id, path: '/poll', options: perRequest })).head!.status, 500);
      assert.equal((await handle(count, { cookie: id, path: '/save', options: perRequest })).sentBody, '3');
      const bad = await handle(count, { cookie: id, options: { readOnlySession: (() => 'yes') as unknown as () => boolean } });
      assert.equal(bad.head!.status, 500);
      assert.match(errorLines(bad), /the readOnlySession option must be a boolean/);
      assert.equal((await handle(count, { cookie: id, env: { PSOSessionReadOnly: 'maybe' } })).head!.status, 500);
    });

    it('give a new visitor an empty session that is neither stored nor sent, and no CSRF token', async () => {
      const r = await handle((req) => {
        assert.equal(req.session.isNew, true);
        assert.throws(() => req.csrfToken(), (e: unknown) => e instanceof SessionReadOnlyError && /^cannot keep the session for a CSRF token/.test(e.message));
        req.write('anonymous');
      }, { options: { readOnlySession: true } });
      assert.equal(r.head!.status, 200, errorLines(r));
      assert.deepEqual(r.setCookies(), []);
      assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json')), [], 'no session file');
    });

    it('give a stored session a CSRF token that a writable request accepts', async () => {
      const id = await seed({ n: 1 });
      let token = '';
      await handle((req) => { token = req.csrfToken(); }, { cookie: id, options: { readOnlySession: true } });
      const post = await handle((req) => { req.write('posted'); }, {
        cookie: id, method: 'POST', headers: { 'x-csrf-token': token }, options: { csrf: 'on' },
      });
      assert.equal(post.head!.status, 200, post.sentBody);
    });

    it('leave an expired session to the sweep, and tell the client to forget its id', async () => {
      const id = await seed({ n: 1 });
      const record = stored(id);
      const { writeFileSync } = await import('node:fs');
      const { serializeRecord } = await import('../../src/index.js');
      writeFileSync(fileOf(id), serializeRecord({ ...record, expires: Date.now() - 1000 }));
      const r = await handle((req) => { req.write(String(req.session.get('n', 0))); }, { cookie: id, options: { readOnlySession: true } });
      assert.equal(r.sentBody, '0');
      assert.match(r.setCookies()[0] ?? '', /^spec=; .*Max-Age=0/);
      assert.ok(existsSync(fileOf(id)), 'a read-only request deletes nothing');
    });
  });
});
