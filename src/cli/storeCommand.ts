import { closeStores, openStore, redact } from '../session/stores/registry.js';
import { UsageError } from './args.js';

/**
 * `pso store init <url>`: creates the store's tables (and those of its index
 * of users' sessions) now. `pso store gc <url>`:
 * deletes its expired sessions. `pso store count <url>`: how many it keeps.
 */
export async function storeCommand(args: string[]): Promise<void> {
  const [action, url] = args;
  if (!action || !url || args.length > 2 || !['init', 'gc', 'count'].includes(action)) {
    throw new UsageError('usage: pso store init|gc|count <store URL>');
  }
  const store = await openStore(url);
  if (!store) throw new UsageError(`${url} is the file store: use pso gc --path <dir>`);
  const name = redact(new URL(url));
  try {
    if (action === 'init') {
      if (store.init) await store.init();
      if (store.users?.init) await store.users.init();
      process.stdout.write(store.init ? `pso: ${name} is ready\n` : `pso: ${name} needs nothing created\n`);
    } else if (action === 'gc') {
      const n = store.gc ? await store.gc() : 0;
      process.stdout.write(store.gc ? `pso: removed ${n} expired session(s) from ${name}\n` : `pso: ${name} expires sessions by itself\n`);
    } else {
      if (!store.count) throw new UsageError(`${name} cannot count its sessions`);
      process.stdout.write(`${await store.count()}\n`);
    }
  } finally {
    await closeStores();
  }
}
