import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../../src/index.js';
import { asyncFs } from '../../src/util/fs.js';
import { ensurePrivateDirectory } from '../../src/util/privateDirectory.js';
import { tempDir } from '../support/fakeRequest.js';

const isRoot = process.getuid?.() === 0;
/** A uid no account uses: the "other local user". */
const STRANGER = 45_678;
const opts = { what: 'session directory', source: 'PSOSessionFileLoader_Path', parents: true };

describe('ensurePrivateDirectory()', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  const refusal = (target: string, pattern: RegExp) => (e: unknown) =>
    e instanceof ConfigurationError && e.directive === 'PSOSessionFileLoader_Path' && e.value === target && pattern.test(e.message);

  it('creates a missing directory 0700, parents too when asked', async () => {
    const target = join(dir, 'a', 'b');
    await ensurePrivateDirectory(asyncFs, target, opts);
    assert.equal(statSync(target).mode & 0o777, 0o700);
  });

  it('makes no parents for a default directory, so that only the last name is made', async () => {
    await assert.rejects(ensurePrivateDirectory(asyncFs, join(dir, 'missing', 'x'), { ...opts, parents: false }), { code: 'ENOENT' });
  });

  it('takes a directory of its own that others may read but not write', async () => {
    const target = join(dir, 'mine');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    await ensurePrivateDirectory(asyncFs, target, opts);
  });

  it('refuses a directory its group or every user may write, naming the mode and the fix', async () => {
    for (const [mode, who] of [[0o775, 'its group or through an ACL'], [0o757, 'every user'], [0o1777, 'every user']] as const) {
      const target = join(dir, `m${mode.toString(8)}`);
      mkdirSync(target);
      chmodSync(target, mode);
      await assert.rejects(
        ensurePrivateDirectory(asyncFs, target, opts),
        refusal(target, new RegExp(`writable by ${who} \\(mode ${mode.toString(8).padStart(4, '0')}\\).*Fix: chmod 0700 `)),
      );
    }
  });

  it('refuses a directory another user owns, naming the owner and the fix', async function () {
    if (!isRoot) this.skip();
    const target = join(dir, 'theirs');
    mkdirSync(target, { mode: 0o700 });
    chownSync(target, STRANGER, STRANGER);
    await assert.rejects(
      ensurePrivateDirectory(asyncFs, target, opts),
      refusal(target, new RegExp(`belongs to uid ${STRANGER}, not to uid 0 \\(root\\).*Fix: chown 0 `)),
    );
  });

  it('refuses a directory whose ACL lets another user write, though its mode is 0700', async function () {
    if (process.env.PSO_ACL_SKIP) {
      console.log(`      skipping: ${process.env.PSO_ACL_SKIP}`);
      this.skip();
    }
    const target = join(dir, 'acl');
    mkdirSync(target, { mode: 0o700 });
    execFileSync('setfacl', ['-m', `u:${STRANGER}:rwx`, target]);
    await assert.rejects(ensurePrivateDirectory(asyncFs, target, opts), refusal(target, /writable by its group or through an ACL .*setfacl -b/));
  });

  it('refuses a symbolic link and a file', async () => {
    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(dir, 'link'));
    writeFileSync(join(dir, 'file'), '');
    for (const name of ['link', 'file']) {
      await assert.rejects(ensurePrivateDirectory(asyncFs, join(dir, name), opts), refusal(join(dir, name), /not a directory/));
    }
  });

  describe('when the parent exists but takes no new directory (/proc)', () => {
    // mkdir in /proc says ENOENT though /proc exists: a walk that makes the parent and tries
    // again forever spins at 100% CPU (node's own recursive mkdir does). Run in a child
    // process, killed after 10 s, so that a spin cannot take the test run with it.
    const attempt = (fs: 'asyncFs' | 'syncFs', target: string) => {
      const code = `
        import { ${fs} } from ${JSON.stringify(new URL('../../src/util/fs.js', import.meta.url).href)};
        import { ensurePrivateDirectory } from ${JSON.stringify(new URL('../../src/util/privateDirectory.js', import.meta.url).href)};
        try {
          await ensurePrivateDirectory(${fs}, ${JSON.stringify(target)}, ${JSON.stringify(opts)});
          console.log('made');
        } catch (e) {
          console.log(e.name + ': ' + e.message);
        }`;
      return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
    };

    for (const fs of ['asyncFs', 'syncFs'] as const) {
      it(`fails at once with an error naming the directory and the parent (${fs})`, function () {
        if (!existsSync('/proc/self/stat')) this.skip();
        for (const target of ['/proc/pso-spec-sessions', '/proc/pso-spec-sessions/deeper']) {
          const r = attempt(fs, target);
          assert.equal(r.signal, null, `still making ${target} after 10 s: killed`);
          assert.equal(
            r.stdout.trim(),
            `ConfigurationError: PSOSessionFileLoader_Path=${JSON.stringify(target)} is invalid: the session directory cannot be made: ` +
              'mkdir says /proc/pso-spec-sessions does not exist, yet /proc does (a file system such as /proc takes no new directory); choose another directory',
          );
        }
      });
    }
  });
});
