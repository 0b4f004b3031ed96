// Child process for the store specs: increments a counter session through a
// store opened by URL, under the store's lock, with a deliberately slow
// read-modify-write, so that any overlap of two holders loses an increment.
// Every other iteration uses lockAndGet and setAndRelease, when the store has
// them, so that both ways of locking are shown to exclude each other.
// usage: node store-lock-child.mjs <storeUrl> <key> <iterations>
import { closeStores, openStore } from '../../dist/src/session/stores/registry.js';

const [url, key, iterations] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const store = await openStore(url);

for (let i = 0; i < Number(iterations); i++) {
  if (store.lockAndGet && i % 2 === 1) {
    const held = await store.lockAndGet(key, 30_000);
    try {
      const record = held.record();
      const n = Number(record?.data.n ?? 0);
      await sleep(1 + Math.floor(Math.random() * 2));
      const now = Date.now();
      await held.setAndRelease({ data: { n: n + 1 }, created: record?.created ?? now, expires: now + 600_000 });
    } finally {
      await held.release();
    }
    continue;
  }
  const release = await store.lock(key, 30_000);
  try {
    const record = await store.get(key);
    const n = Number(record?.data.n ?? 0);
    await sleep(1 + Math.floor(Math.random() * 2));
    const now = Date.now();
    await store.set(key, { data: { n: n + 1 }, created: record?.created ?? now, expires: now + 600_000 });
  } finally {
    await release();
  }
}
await closeStores();
