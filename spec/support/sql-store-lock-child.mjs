// Child process for the SQL store specs: increments a counter kept in a
// session record under the store's cross-process lock, with a deliberately
// slow read-modify-write, so that any overlap of two holders loses one.
// Every other iteration uses lockAndGet and setAndRelease, so that both ways
// of locking are shown to exclude each other.
// usage: node sql-store-lock-child.mjs <PostgresStore|MysqlStore> <url> <key> <iterations>
const [module, url, key, iterations] = process.argv.slice(2);
const { [module]: Store } = await import(`../../dist/src/session/stores/${module}.js`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const store = new Store(url);
try {
  for (let i = 0; i < Number(iterations); i++) {
    if (i % 2 === 1) {
      const held = await store.lockAndGet(key, 30_000);
      try {
        const record = held.record();
        const n = record?.data.n ?? 0;
        await sleep(1 + Math.floor(Math.random() * 2));
        await held.setAndRelease({ data: { n: n + 1 }, created: record?.created ?? Date.now(), expires: Date.now() + 3600_000 });
      } finally {
        await held.release();
      }
      continue;
    }
    const release = await store.lock(key, 30_000);
    try {
      const record = await store.get(key);
      const n = record?.data.n ?? 0;
      await sleep(1 + Math.floor(Math.random() * 2));
      await store.set(key, { data: { n: n + 1 }, created: record?.created ?? Date.now(), expires: Date.now() + 3600_000 });
    } finally {
      await release();
    }
  }
} finally {
  await store.close();
}
