// `pso sessions list|revoke` on every store several processes share, against
// sessions logged in through real HTTP.
import assert from 'node:assert/strict';
import { serve, type PsoServer } from '../../src/index.js';
import { handler } from '../support/accountHandler.js';
import { CLI, CookieJar, cleanEnv, runProcess } from '../support/http.js';
import { STORE_KITS } from '../support/storeKits.js';

const SERVICE = 'acct';
const pso = (args: string[], env: Record<string, string> = {}) => runProcess(process.execPath, [CLI, ...args], cleanEnv(env));

describe('pso sessions (usage)', () => {
  it('without --user, or with a store no other process can reach, exits 2 saying what to give', async () => {
    const noUser = await pso(['sessions', 'list', '--service', SERVICE]);
    assert.equal(noUser.code, 2);
    assert.match(noUser.stderr, /^pso: --user NAME: whose sessions/);
    const noService = await pso(['sessions', 'list', '--user', 'ada']);
    assert.equal(noService.code, 2);
    assert.match(noService.stderr, /--service ID: the service id .* or set PSOServiceId/);
    const memory = await pso(['sessions', 'revoke', '--user', 'ada', '--service', SERVICE, '--store', 'memory:']);
    assert.equal(memory.code, 2);
    assert.match(memory.stderr, /memory: sessions live inside one server process/);
    const bad = await pso(['sessions', 'list', '--user', 'ada', '--service', SERVICE, '--except', 'x']);
    assert.equal(bad.code, 2);
  });

  it('on the cookie store, exits 1 with one line saying why it cannot', async () => {
    const r = await pso(['sessions', 'list', '--user', 'ada', '--service', SERVICE, '--store', 'cookie:']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pso: PSOSessionStore="cookie:" is invalid: the cookie store keeps each session in its browser/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});

for (const kit of STORE_KITS.filter((k) => k.shared)) {
  describe(`pso sessions on ${kit.label}`, function () {
    this.timeout(60_000);
    let server: PsoServer | undefined;
    let base: string;
    let where: string[];
    let env: Record<string, string>;

    before(async function () {
      if (kit.skip()) this.skip();
      const directives: Record<string, string> = { ...(await kit.setUp()), PSOSessionGCProbability: '0' };
      server = await serve(handler, { port: 0, moduleName: SERVICE, directives });
      base = server.url.replace(/\/$/, '');
      where = directives.PSOSessionStore ? ['--store', directives.PSOSessionStore] : ['--path', directives.PSOSessionFileLoader_Path!];
      env = { PSOServiceId: SERVICE, ...(directives.PSOSessionStore ? { PSOSessionStore: directives.PSOSessionStore } : { PSOSessionFileLoader_Path: directives.PSOSessionFileLoader_Path! }) };
    });
    after(async () => {
      await server?.close();
      await kit.tearDown();
    });

    async function login(user: string, agent: string): Promise<CookieJar> {
      const jar = new CookieJar();
      const r = await jar.fetch(`${base}/login?user=${encodeURIComponent(user)}`, { headers: { 'user-agent': agent } });
      assert.equal(r.status, 200, await r.text());
      return jar;
    }
    const whoAmI = async (jar: CookieJar) => (await (await jar.fetch(`${base}/me`)).text()).split('\n')[0];

    it('lists a user\'s sessions (text and JSON), revokes all but one, then all', async () => {
      const jars = [await login('ada', 'Firefox/140'), await login('ada', 'curl/8'), await login('ada', 'Safari/18')];
      await login('bob', 'Edge/1');
      const text = await pso(['sessions', 'list', '--user', 'ada', '--service', SERVICE, ...where]);
      assert.equal(text.code, 0, text.stderr);
      const lines = text.stdout.trim().split('\n');
      assert.equal(lines[0], 'handle\tlogged in\tlast seen\texpires\tuser agent');
      assert.deepEqual(lines.slice(1).map((l) => l.split('\t')[4]).sort(), ['Firefox/140', 'Safari/18', 'curl/8']);
      assert.match(text.stderr, /3 live session\(s\) of ada/);
      // The environment names the store and the service, as it does for a handler.
      const json = await pso(['sessions', 'list', '--user', 'ada', '--json'], env);
      assert.equal(json.code, 0, json.stderr);
      const listed = JSON.parse(json.stdout) as { handle: string; userAgent: string }[];
      const keep = listed.find((s) => s.userAgent === 'curl/8')!.handle;

      const unknown = await pso(['sessions', 'revoke', '--user', 'ada', '--service', SERVICE, '--except', 'A'.repeat(43), ...where]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^pso: A{43} is not a live session of ada: nothing was revoked/);
      assert.equal(await whoAmI(jars[0]!), 'user: ada');

      const revoked = await pso(['sessions', 'revoke', '--user', 'ada', '--service', SERVICE, '--except', keep, ...where]);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, /^pso: revoked 2 session\(s\) of ada in .* \(kept 1\)/);
      assert.deepEqual(await Promise.all(jars.map(whoAmI)), ['user: -', 'user: ada', 'user: -']);
      assert.equal(await whoAmI(jars[1]!), 'user: ada', 'the kept session still works after its own writes');

      const all = await pso(['sessions', 'revoke', '--user', 'ada'], env);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /^pso: revoked 1 session\(s\) of ada/);
      assert.equal(await whoAmI(jars[1]!), 'user: -');
    });
  });
}
