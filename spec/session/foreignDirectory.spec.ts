// A local attacker who creates pso's predictable default directories before
// the server does: run as two unprivileged users, for real.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeRecord } from '../../src/index.js';
import { cleanEnv, parseCgiOutput, runProcess, sample } from '../support/http.js';

/** The user pso runs as, and the local attacker: uids no account uses. */
const SERVER = 23_456;
const ATTACKER = 34_567;
const ID = 'A'.repeat(27);

describe('a default directory made first by another local user', function () {
  this.timeout(30_000);
  let shared: string;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(() => {
    // A shared temporary directory, as /tmp is: every user may create entries, sticky.
    shared = mkdtempSync('/tmp/pso-shared-tmp-');
    chmodSync(shared, 0o1777);
  });
  afterEach(() => rmSync(shared, { recursive: true, force: true }));

  /** The attacker's directory at `name`, writable by the server's user through an ACL or by the attacker's group. */
  function plant(name: string, how: 'acl' | 'group'): string {
    const dir = join(shared, name);
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, ATTACKER, ATTACKER);
    if (how === 'acl') {
      chmodSync(dir, 0o755);
      execFileSync('setfacl', ['-m', `u:${SERVER}:rwx`, dir]);
    } else {
      chmodSync(dir, 0o775);
    }
    return dir;
  }

  /** samples/quick.js run as a command-line script by the server's user. */
  function quick(args: string[], extra: Record<string, string> = {}) {
    return runProcess('setpriv', [`--reuid=${SERVER}`, `--regid=${SERVER}`, '--clear-groups', process.execPath, sample('quick'), ...args],
      cleanEnv({ TMPDIR: shared, ...extra })).then((r) => parseCgiOutput(r.stdout, r.stderr, r.code));
  }

  for (const how of ['acl', 'group'] as const) {
    it(`refuses the session directory (${how === 'acl' ? '0755 with an ACL granting the server write' : '0775, the attacker\'s group'}), and takes no planted session`, async function () {
      if (how === 'acl' && process.env.PSO_ACL_SKIP) this.skip();
      const dir = plant(`pso-sessions-${SERVER}`, how);
      const now = Date.now();
      writeFileSync(join(dir, `pso_quick_${ID}.json`), serializeRecord({ data: { reloads: 41 }, created: now, expires: now + 3600_000 }));
      if (how === 'group') chownSync(join(dir, `pso_quick_${ID}.json`), ATTACKER, SERVER);
      const res = await quick(['--cookie', `quick=${ID}`]);
      assert.equal(res.status, 500, res.body);
      assert.doesNotMatch(res.body, /reloaded: 42/);
      assert.match(res.stderr, new RegExp(`belongs to uid ${ATTACKER}, not to uid ${SERVER} that this process runs as.*Fix: chown ${SERVER} ${dir}`));
      assert.deepEqual(readdirSync(dir), [`pso_quick_${ID}.json`], 'nothing written there');
    });
  }

  it('makes its own default session directory 0700 when nobody made it first', async () => {
    const res = await quick([]);
    assert.equal(res.status, 200, res.stderr);
    assert.match(res.body, /reloaded: 1 times/);
  });

  it('refuses the default upload directory made first by another user', async function () {
    plant(`pso-uploads-${SERVER}`, 'group');
    const file = join(shared, 'note.txt');
    writeFileSync(file, 'hello');
    chmodSync(file, 0o644);
    const res = await quick(['-F', `doc=@${file}`], { PSOSessionFileLoader_Path: join(shared, 'own-sessions') });
    assert.equal(res.status, 500, res.body);
    assert.match(res.stderr, new RegExp(`upload directory belongs to uid ${ATTACKER}`));
  });
});
