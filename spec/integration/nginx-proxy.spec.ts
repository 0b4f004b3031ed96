// pso serve deployed as the README shows: workers on a unix socket (mode
// 0660, group www-data) behind a real nginx's proxy_pass, reloaded with
// SIGHUP while nginx sends it traffic.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNginx, type NginxServer } from '../support/nginx.js';
import { CookieJar } from '../support/http.js';
import { Load, psoServe, sleep, type PsoServe } from '../support/psoServe.js';

describe('pso serve behind nginx proxy_pass to a unix socket', function () {
  this.timeout(60_000);
  let base: string;
  let sock: string;
  let server: PsoServe | undefined;
  let nginx: NginxServer | undefined;

  before(async function () {
    const reason = process.env.PSO_NGINX_SKIP;
    if (reason) {
      console.log(`    skipping the nginx suite: ${reason}`);
      this.skip();
    }
    const wwwGid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());
    // Under /tmp, traversable, so that nginx's workers (www-data) reach the socket.
    base = mkdtempSync('/tmp/pso-proxy-spec-');
    chmodSync(base, 0o755);
    mkdirSync(join(base, 'run'), { mode: 0o755 });
    sock = join(base, 'run', 'app.sock');
    const module = join(base, 'counter.mjs');
    writeFileSync(module, `export function handler(r) { r.sendHttpHeaders('text/plain'); r.write(r.session.increment('n') + ' ' + process.pid); }\n`);
    // As the systemd unit's Group=www-data: the socket's group is nginx's.
    server = await psoServe([module, '--workers', '2', '--listen', `unix:${sock}`, '-D', `PSOSessionFileLoader_Path=${join(base, 'sessions')}`], {}, { gid: wwwGid });
    nginx = await startNginx({
      docroot: base,
      httpConfig: `
    upstream pso_app {
        server unix:${sock};
        keepalive 16;
    }`,
      extraConfig: `
        location /app/ {
            proxy_pass http://pso_app/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }`,
    });
  });

  after(async () => {
    await nginx?.stop();
    await server?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('answers through nginx, on a socket only its owner and group may use', async () => {
    const info = statSync(sock);
    assert.equal(info.mode & 0o777, 0o660);
    assert.equal(info.gid, Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim()));
    const jar = new CookieJar();
    for (const n of [1, 2, 3]) {
      const res = await jar.fetch(`${nginx!.url}/app/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), new RegExp(`^${n} \\d+$`));
    }
  });

  it('reloads on SIGHUP while nginx sends traffic, and nginx gets no error', async () => {
    const load = new Load(`${nginx!.url}/`, { keepAlive: 8, fresh: 2, path: '/app/' });
    await sleep(500);
    server!.child.kill('SIGHUP');
    await server!.waitFor(/^pso: reloaded /m);
    await sleep(2000);
    const tally = await load.stop();
    assert.deepEqual(tally.errors, []);
    assert.deepEqual(tally.statuses, {}, 'no 502 from nginx');
    assert.ok(tally.ok > 50, `${tally.ok} answers`);
    assert.equal(nginx!.errorLog().match(/\[error\]/g)?.length ?? 0, 0, nginx!.errorLog());
  });
});
