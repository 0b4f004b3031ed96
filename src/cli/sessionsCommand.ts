import { CookieFileImpl } from '../session/CookieFileImpl.js';
import { FileStore } from '../session/stores/FileStore.js';
import { closeStores, openStore } from '../session/stores/registry.js';
import type { SessionStore } from '../session/stores/SessionStore.js';
import { listStoredSessions, revokeStoredSessions } from '../session/users/storeSessions.js';
import { UsageError } from './args.js';

const USAGE = 'usage: pso sessions list|revoke --user NAME [--service ID] [--store URL | --path DIR] [--except HANDLE ...] [--json]';

/**
 * `pso sessions list --user NAME`: the live sessions of a user (handle,
 * times, User-Agent). `pso sessions revoke --user NAME [--except HANDLE]`:
 * ends them all, or all but the ones named. The store is `--store URL`, else
 * `--path DIR` (files), else what `PSOSessionStore` or
 * `PSOSessionFileLoader_Path` say, as for a handler; the service is
 * `--service`, else `PSOServiceId`.
 */
export async function sessionsCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== 'list' && action !== 'revoke') throw new UsageError(USAGE);
  let user: string | undefined;
  let service = process.env.PSOServiceId?.trim() || undefined;
  let url: string | undefined;
  let path: string | undefined;
  let json = false;
  const except: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = () => {
      const v = rest[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--user') user = value();
    else if (a === '--service') service = value();
    else if (a === '--store') url = value();
    else if (a === '--path') path = value();
    else if (a === '--except' && action === 'revoke') except.push(value());
    else if (a === '--json' && action === 'list') json = true;
    else throw new UsageError(`unknown argument ${a}\n${USAGE}`);
  }
  if (!user) throw new UsageError(`--user NAME: whose sessions\n${USAGE}`);
  if (!service) throw new UsageError(`--service ID: the service id (the cookie name) the sessions belong to; or set PSOServiceId\n${USAGE}`);
  if (url && path) throw new UsageError('--store and --path name two stores: give one');
  const store = await storeOf(url, path);
  try {
    if (action === 'list') {
      const sessions = await listStoredSessions(store, service, user);
      if (json) {
        process.stdout.write(`${JSON.stringify(sessions, null, 2)}\n`);
        return;
      }
      const when = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));
      process.stdout.write('handle\tlogged in\tlast seen\texpires\tuser agent\n');
      for (const s of sessions) process.stdout.write(`${s.handle}\t${when(s.loggedIn)}\t${when(s.lastSeen)}\t${when(s.expires)}\t${s.userAgent ?? '-'}\n`);
      process.stderr.write(`pso: ${sessions.length} live session(s) of ${user} in ${store.name}\n`);
    } else {
      const n = await revokeStoredSessions(store, service, user, except);
      process.stdout.write(`pso: revoked ${n} session(s) of ${user} in ${store.name}${except.length ? ` (kept ${except.length})` : ''}\n`);
    }
  } finally {
    await closeStores();
  }
}

/** The store named on the command line, else by the environment, as a handler would find it. */
async function storeOf(url: string | undefined, path: string | undefined): Promise<SessionStore> {
  const named = url ?? (path === undefined ? process.env.PSOSessionStore?.trim() || undefined : undefined);
  if (named !== undefined && !named.startsWith('file:')) {
    if (named === 'memory:') throw new UsageError('memory: sessions live inside one server process: no other process can list or revoke them');
    return (await openStore(named))!;
  }
  const dir = path ?? (named ? new URL(named).pathname : undefined) ?? (process.env.PSOSessionFileLoader_Path || CookieFileImpl.PATH);
  return new FileStore(dir, { parents: false, source: path ? '--path' : 'PSOSessionFileLoader_Path' });
}
