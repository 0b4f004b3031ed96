// Every kind of pso process on one store at once, as during a migration or
// with several servers: CGI scripts under Apache (mod_cgid), the same bundle
// as a FastCGI program under mod_fcgid, `pso serve --fastcgi` behind
// mod_proxy_fcgi, and `pso serve --workers 2` over HTTP, all as www-data, all
// on one session directory (then on one SQLite database). Nobody tells any of
// them that they are not alone: 200 concurrent increments of one session,
// spread over the four, must all count.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler } from '../../src/cli/bundleCommand.js';
import { APACHE_MODULES, startApache, type ApacheServer } from '../support/apache.js';
import { ROOT } from '../support/http.js';
import { get, psoServe, type PsoServe } from '../support/psoServe.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const HANDLER = join(ROOT, 'dist/spec/support/fastcgiHandler.js');
const MODULES = ['fcgid', 'setenvif', 'proxy', 'proxy_fcgi'];

function skipReason(): string | undefined {
  if (process.env.PSO_APACHE_SKIP) return process.env.PSO_APACHE_SKIP;
  if (!isRoot) return 'the processes must run as www-data, which needs root';
  const missing = MODULES.filter((m) => !existsSync(join(APACHE_MODULES, `mod_${m}.so`)));
  return missing.length ? `${missing.map((m) => `mod_${m}`).join(', ')} not installed` : undefined;
}

const idOf = (flag: string) => Number(execFileSync('id', [flag, 'www-data'], { encoding: 'utf8' }).trim());

/** A counter front: where a GET increments the session's count. */
interface Front {
  name: string;
  url: string;
}

/** Sends `total` GETs spread over `fronts` in turn, at most `concurrency` at a time. */
async function spread(fronts: readonly Front[], cookie: string, total: number, concurrency: number) {
  const answers: { front: string; status: number; body: string }[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const front = fronts[next++ % fronts.length]!;
      try {
        // A connection each: a kept-alive one the server closes as it is reused would fail a request pso never saw.
        const url = new URL(front.url);
        const res = await get(url.origin + '/', url.pathname, { headers: { cookie }, timeoutMs: 60_000 });
        answers.push({ front: front.name, status: res.status, body: res.body });
      } catch (e) {
        answers.push({ front: front.name, status: 0, body: String((e as Error).stack) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}

for (const store of ['files', 'sqlite'] as const) {
  describe(`CGI, mod_fcgid, pso serve --fastcgi and pso serve --workers 2 on one ${store === 'files' ? 'session directory' : 'SQLite database'}`, function () {
    this.timeout(180_000);
    let base: string;
    let apache: ApacheServer | undefined;
    const servers: PsoServe[] = [];
    let fronts: Front[] = [];

    before(async function () {
      const reason = skipReason();
      if (reason) {
        console.log(`    skipping: ${reason}`);
        this.skip();
      }
      base = mkdtempSync(join('/tmp', `pso-mixed-${store}-`));
      chmodSync(base, 0o755);
      const docroot = join(base, 'htdocs');
      const own = join(base, 'www'); // what www-data writes: sessions, the database, the socket
      mkdirSync(docroot, { mode: 0o755 });
      mkdirSync(own, { mode: 0o700 });
      chownSync(own, idOf('-u'), idOf('-g'));
      const directives: Record<string, string> = {
        PSOServiceId: 'mixed',
        PSOSessionGCProbability: '0',
        // 200 requests queued on one session take a while on a busy machine: what is tested here is
        // that none is lost and none fails, not how long a queue the default timeout tolerates.
        PSOSessionLockTimeout: '120',
        ...(store === 'files' ? { PSOSessionFileLoader_Path: join(own, 'sessions') } : { PSOSessionStore: `sqlite://${join(own, 'sessions.db')}` }),
      };
      const bundle = join(base, 'app.bundle');
      await bundleHandler({ entry: join(ROOT, 'spec/support/fastcgiHandler.ts'), outfile: bundle, ...(store === 'sqlite' ? { stores: ['sqlite'], nodeModules: join(ROOT, 'node_modules') } : {}) });
      for (const name of ['counter.cgi', 'counter.fcgi']) {
        copyFileSync(bundle, join(docroot, name));
        chmodSync(join(docroot, name), 0o755);
      }
      writeFileSync(join(docroot, '.htaccess'), ['Options +ExecCGI', 'AddHandler fcgid-script .fcgi', 'AddHandler cgi-script .cgi', ''].join('\n'), { mode: 0o644 });
      const as = { uid: idOf('-u'), gid: idOf('-g') };
      const dashD = Object.entries(directives).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
      const socket = join(own, 'fcgi.sock');
      servers.push(await psoServe([HANDLER, '--fastcgi', `unix:${socket}`, '--socket-mode', '666', ...dashD], {}, as));
      const http = await psoServe([HANDLER, '--port', '0', '--workers', '2', ...dashD], {}, as);
      servers.push(http);
      apache = await startApache({
        docroot,
        modules: MODULES,
        extraConfig: [
          ...Object.entries(directives).map(([k, v]) => `SetEnv ${k} ${v}`),
          'FcgidIOTimeout 60',
          'FcgidMaxProcessesPerClass 4',
          // SCRIPT_NAME the mount point, PATH_INFO the rest, as for a CGI script.
          '<Location "/served/">',
          '  SetEnvIf Request_URI . proxy-fcgi-pathinfo=unescape',
          '</Location>',
          `ProxyPass "/served/" "unix:${socket}|fcgi://localhost/" enablereuse=on`,
          '',
        ].join('\n'),
      });
      fronts = [
        { name: 'cgi', url: `${apache.url}/counter.cgi/count` },
        { name: 'fcgid', url: `${apache.url}/counter.fcgi/count` },
        { name: 'proxy-fcgi', url: `${apache.url}/served/count` },
        { name: 'workers', url: `${http.address}count` },
      ];
    });

    after(async () => {
      await apache?.stop();
      await Promise.all(servers.splice(0).map((s) => s.stop()));
      if (base) rmSync(base, { recursive: true, force: true });
    });

    it('every front counts the same session', async () => {
      let cookie = '';
      for (const [i, front] of fronts.entries()) {
        const res = await fetch(front.url, cookie ? { headers: { cookie } } : {});
        const body = await res.text();
        assert.equal(res.status, 200, `${front.name}: ${body}`);
        assert.equal(body.split(' ')[1], String(i + 1), `${front.name} continues the count`);
        if (!cookie) cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
      }
    });

    it('loses no increment of 200 concurrent requests spread over the four, and answers no 5xx', async () => {
      const first = await fetch(fronts[3]!.url);
      assert.equal(await first.text().then((t) => t.split(' ')[1]), '1');
      const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!;
      const answers = await spread(fronts, cookie, 200, 40);
      const bad = answers.filter((a) => a.status !== 200);
      assert.deepEqual(bad, [], 'every request answered 200');
      // Each count from 2 to 201 was handed out exactly once: no two processes read the same state.
      const counts = answers.map((a) => Number(a.body.split(' ')[1])).sort((a, b) => a - b);
      assert.deepEqual(counts, Array.from({ length: 200 }, (_, i) => i + 2));
      for (const front of fronts) assert.ok(answers.some((a) => a.front === front.name), `${front.name} answered`);
      const last = await fetch(fronts[0]!.url, { headers: { cookie } });
      assert.equal((await last.text()).split(' ')[1], '202');
      assert.equal(apache!.errorLog().match(/\b5\d\d\b.*session/gi) ?? null, null);
    });
  });
}
