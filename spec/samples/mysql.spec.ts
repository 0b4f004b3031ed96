import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { CookieJar, cookiePair, runCgi, sample, startServer, type ParsedResponse } from '../support/http.js';
import { sessionKey } from '../support/sessionFiles.js';

const ID = /^[A-Za-z0-9_-]{27}$/;
const line = (n: number) => `Hello World!  ~ You reloaded: ${n} times ~ Try Reload !\n`;

describe('samples/mysql.ts (the How-To database recipe, against MariaDB)', function () {
  this.timeout(60_000);
  // Its own service id per run, so its rows are told apart and deleted after.
  const service = `mysql_spec_${process.pid}`;
  const env = { PSOServiceId: service };
  let db: mysql.Connection | undefined;

  const idOf = (r: ParsedResponse | Response): string => {
    const sc = r instanceof Response ? r.headers.getSetCookie()[0] : r.header('set-cookie');
    const [name, id] = cookiePair(sc)!.split('=');
    assert.equal(name, service);
    assert.match(id!, ID);
    return id!;
  };

  before(async function () {
    if (process.env.PSO_MYSQL_SKIP) {
      process.stderr.write(`samples/mysql.ts suite skipped: ${process.env.PSO_MYSQL_SKIP}\n`);
      this.skip();
    }
    db = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
  });
  after(async () => {
    if (!db) return;
    await db.execute('DELETE FROM pso_howto_sessions WHERE sessionKey LIKE ?', [`${service}:%`]).catch(() => undefined);
    await db.end();
  });

  it('as a CGI process: counts 1, 2, 3 with its cookie, stores JSON, and exits', async () => {
    const started = Date.now();
    const first = await runCgi(sample('mysql'), env);
    assert.equal(first.status, 200, first.stderr);
    assert.equal(first.code, 0);
    assert.equal(first.body, line(1));
    const id = idOf(first);
    for (const n of [2, 3]) {
      const next = await runCgi(sample('mysql'), { ...env, HTTP_COOKIE: `${service}=${id}` });
      assert.equal(next.body, line(n), next.stderr);
      assert.equal(next.header('set-cookie'), undefined);
    }
    // Three processes that each exit on their own (no pool left open) take well under the test's timeout.
    assert.ok(Date.now() - started < 20_000);
    // The table holds a hash of the id, never the id.
    const [rows] = await db!.execute<mysql.RowDataPacket[]>('SELECT sessionObj, expires FROM pso_howto_sessions WHERE sessionKey = ?', [sessionKey(service, id)]);
    const stored = JSON.parse(String(rows[0]!.sessionObj));
    assert.equal(stored.data.reloads, 3);
    assert.equal(Number(rows[0]!.expires), stored.expires);
  });

  it('as a CGI process: a new client starts at 1; its new session ids are random and well formed', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await runCgi(sample('mysql'), env);
      assert.equal(r.body, line(1), r.stderr);
      ids.add(idOf(r));
    }
    assert.equal(ids.size, 4);
    // An unknown or malformed id is never adopted.
    for (const cookie of ['0', "x' OR '1'='1", 'A'.repeat(27)]) {
      const r = await runCgi(sample('mysql'), { ...env, HTTP_COOKIE: `${service}=${cookie}` });
      assert.equal(r.body, line(1));
      assert.notEqual(idOf(r), cookie);
    }
  });

  it('as concurrent CGI processes on one session: GET_LOCK keeps every increment', async () => {
    const first = await runCgi(sample('mysql'), env);
    const id = idOf(first);
    const all = await Promise.all(Array.from({ length: 8 }, () => runCgi(sample('mysql'), { ...env, HTTP_COOKIE: `${service}=${id}` })));
    for (const r of all) assert.ok(r.status === 200 && r.code === 0 && r.body !== '', `status ${r.status}, exit code ${r.code}: ${r.stderr}`);
    assert.deepEqual(all.map((r) => r.body).sort(), [2, 3, 4, 5, 6, 7, 8, 9].map(line).sort());
  });

  it('reads the database from PSOSessionMySQLLoader_Url', async () => {
    const r = await runCgi(sample('mysql'), { ...env, PSOSessionMySQLLoader_Url: 'mysql://root@127.0.0.1:1/test' });
    // The loader is a store: a database that is down is a 503 (Retry-After), as for every store.
    assert.equal(r.status, 503);
    assert.match(r.stderr, /ECONNREFUSED/);
    assert.equal(r.code, 0, 'and the process still exits');
    const ok = await runCgi(sample('mysql'), { ...env, PSOSessionMySQLLoader_Url: 'mysql://root@127.0.0.1:3306/test' });
    assert.equal(ok.body, line(1), ok.stderr);
  });

  it('behind pso serve: the counter goes 1, 2, 3 and a new client starts at 1 with another id', async () => {
    const server = await startServer(sample('mysql'), ['-D', `PSOServiceId=${service}`]);
    try {
      const jar = new CookieJar();
      let id = '';
      for (const n of [1, 2, 3]) {
        const res = await jar.fetch(server.url);
        assert.equal(res.status, 200, server.stderr());
        assert.equal(await res.text(), line(n));
        if (n === 1) id = idOf(res);
      }
      const other = new CookieJar();
      const res = await other.fetch(server.url);
      assert.equal(await res.text(), line(1));
      assert.notEqual(idOf(res), id);
      // Concurrent requests of one visitor are serialised too.
      await Promise.all(Array.from({ length: 20 }, () => jar.fetch(server.url).then((r) => r.text())));
      assert.equal(await (await jar.fetch(server.url)).text(), line(24));
    } finally {
      await server.stop();
    }
  });
});
