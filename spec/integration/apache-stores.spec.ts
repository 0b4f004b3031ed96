// Session stores chosen from .htaccess (PSOSessionStore) for bundled CGI
// scripts behind a real Apache httpd (event MPM + mod_cgid), as www-data.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { startApache, type ApacheServer } from '../support/apache.js';
import { CookieJar, ROOT } from '../support/http.js';

const SERVICE = 'MyPSOTest';
const idOf = (flag: '-u' | '-g', name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
const modeOf = (p: string) => (statSync(p).mode & 0o777).toString(8);

function counter(body: string): number {
  const m = /You reloaded: (\d+) times/.exec(body);
  assert.ok(m, `unexpected body: ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/** Runs `fn` on `items`, at most `limit` at a time. */
async function limited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

describe('SQLite sessions for CGI under a real Apache httpd (PSOSessionStore sqlite:)', function () {
  this.timeout(180_000);

  let apache: ApacheServer | undefined;
  let base: string;
  let storeDir: string;
  let db: string;
  let wwwUid: number;
  let wwwGid: number;
  const url = (p: string) => `${apache!.url}${p}`;

  /** Runs node code as www-data (so that no file of the database becomes root's), returning its stdout. */
  function asWwwData(code: string): string {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { uid: wwwUid, gid: wwwGid, cwd: '/tmp', encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`node as www-data failed: ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  /** The rows of a table of the session database, read as www-data. */
  function rows(sql: string): unknown[] {
    const driver = join(ROOT, 'node_modules/better-sqlite3/lib/index.js');
    return JSON.parse(asWwwData(`
      import { createRequire } from 'node:module';
      const Database = createRequire(import.meta.url)(${JSON.stringify(driver)});
      const db = new Database(${JSON.stringify(db)}, { fileMustExist: true });
      process.stdout.write(JSON.stringify(db.prepare(${JSON.stringify(sql)}).all()));
      db.close();
    `));
  }

  before(async function () {
    const reason = process.env.PSO_APACHE_SKIP;
    if (reason) {
      console.log(`    skipping the Apache SQLite store suite: ${reason}`);
      this.skip();
    }
    wwwUid = idOf('-u', 'www-data');
    wwwGid = idOf('-g', 'www-data');
    // CGI bundles leave the driver outside and find it in the project's node_modules, as www-data.
    const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))})`], { uid: wwwUid, gid: wwwGid, cwd: '/tmp', encoding: 'utf8' });
    if (probe.status !== 0) {
      console.log(`    skipping the Apache SQLite store suite: www-data cannot load ${join(ROOT, 'node_modules/better-sqlite3')}: ${(probe.stderr || probe.error?.message || '').trim().split('\n')[0]}`);
      this.skip();
    }

    base = mkdtempSync('/tmp/pso-apache-stores-');
    chmodSync(base, 0o755);
    const docroot = join(base, 'htdocs');
    const sqlite = join(docroot, 'sqlite');
    mkdirSync(sqlite, { recursive: true, mode: 0o755 });
    chmodSync(docroot, 0o755);
    // The database's directory belongs to www-data; pso creates the file in it.
    storeDir = join(base, 'store');
    mkdirSync(storeDir, { mode: 0o700 });
    chownSync(storeDir, wwwUid, wwwGid);
    db = join(storeDir, 'sessions.db');

    await bundleHandler({ entry: join(ROOT, 'samples', 'quick.ts'), outfile: join(sqlite, 'quick.cgi') });
    writeFileSync(join(docroot, '.htaccess'), [
      'Options +ExecCGI',
      'AddHandler cgi-script .cgi',
      `SetEnv PSOServiceId ${SERVICE}`,
      'SetEnv PSOSessionExpire "15*60"',
      '',
    ].join('\n'), { mode: 0o644 });
    writeFileSync(join(sqlite, '.htaccess'), `SetEnv PSOSessionStore sqlite://${db}\n`, { mode: 0o644 });
    apache = await startApache({ docroot });
  });

  after(async function () {
    await apache?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('keeps a counter per session in the database, which www-data creates 0600', async () => {
    const jar = new CookieJar();
    for (const expected of [1, 2, 3]) {
      const res = await jar.fetch(url('/sqlite/quick.cgi'));
      const body = await res.text();
      assert.equal(res.status, 200, `${body}\n${apache!.errorLog()}`);
      assert.equal(counter(body), expected);
    }
    const id = jar.cookies.get(SERVICE);
    assert.ok(id);
    assert.equal(modeOf(db), '600');
    assert.equal(statSync(db).uid, wwwUid, 'created by the CGI as www-data');
    const stored = rows('SELECT key, data FROM pso_sessions') as { key: string; data: string }[];
    assert.deepEqual(stored.map((r) => r.key), [`${SERVICE}:${id}`]);
    assert.equal(JSON.parse(stored[0]!.data).data.reloads, 3);
    assert.deepEqual(readdirSync(storeDir).filter((n) => !n.startsWith('sessions.db')), [], 'nothing but the database (and its WAL files)');
  });

  it('loses no increment under 200 concurrent requests on one session (50 at a time)', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(url('/sqlite/quick.cgi'));
    assert.equal(counter(await first.text()), 1);
    const cookie = jar.header();
    const seen = await limited(Array.from({ length: 200 }, (_, i) => i), 50, async () => {
      let res: Response;
      try {
        res = await fetch(url('/sqlite/quick.cgi'), { headers: { cookie } });
      } catch (e) {
        throw new Error(`${(e as Error).message} (${(e as Error).cause ?? ''})\n${apache!.errorLog()}`);
      }
      const body = await res.text();
      assert.equal(res.status, 200, `${body}\n${apache!.errorLog()}`);
      return counter(body);
    });
    seen.sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => 2 + i), 'each request saw its own count');
    const last = await jar.fetch(url('/sqlite/quick.cgi'));
    assert.equal(counter(await last.text()), 202);
    assert.deepEqual(rows('SELECT key FROM pso_session_locks'), [], 'every lock was released');
    assert.ok(!existsSync(join(base, 'htdocs/sqlite/sessions')), 'no file sessions');
  });
});
