// Child process for the FileLock spec: increments a counter file under the
// lock with a deliberately slow read-modify-write, so that any overlap of two
// holders loses an increment.
// usage: node lock-child.mjs <lockPath> <counterPath> <iterations> [shared|symlink]
import { readFile, writeFile } from 'node:fs/promises';
import { acquireFileLock } from '../../dist/src/session/locks/FileLock.js';

const [lockPath, counterPath, iterations, mode] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (let i = 0; i < Number(iterations); i++) {
  const release = await acquireFileLock(lockPath, 20_000, { shared: mode === 'shared' });
  try {
    const n = Number((await readFile(counterPath, 'utf8')).trim() || '0');
    await sleep(1 + Math.floor(Math.random() * 2));
    await writeFile(counterPath, String(n + 1));
  } finally {
    await release();
  }
}
