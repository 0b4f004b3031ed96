import type Database from 'better-sqlite3';
import { parseRecord } from '../../SessionRecord.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

type Statement = Database.Statement<unknown[], unknown>;

interface Statements {
  generation: Statement;
  add: Statement;
  remove: Statement;
  sessions: Statement;
  bump: Statement;
  dropSessions: Statement;
  dropEntries: Statement;
  gc: Statement;
  entries: Statement;
  revoke: (owner: string, keep: string) => number;
}

/**
 * The tables of the index, in the store's database: an entry per session of
 * a user, and a generation per user whose sessions were once revoked.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS pso_session_users (owner TEXT NOT NULL, key TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (owner, key));
CREATE INDEX IF NOT EXISTS pso_session_users_expires ON pso_session_users (expires);
CREATE TABLE IF NOT EXISTS pso_user_generations (owner TEXT PRIMARY KEY, gen INTEGER NOT NULL);
`;

/**
 * The index of users' sessions of a {@link SqliteStore}: the tables
 * `pso_session_users (owner, key, expires)` and `pso_user_generations
 * (owner, gen)` in the same database, created on first use. A revocation is
 * one transaction: the generation moved on, the sessions and their entries
 * deleted.
 *
 * @example
 * ```ts
 * const store = new SqliteStore('/var/lib/pso/sessions.db');
 * await store.users.revoke('app:ada', []);
 * ```
 */
export class SqliteUserIndex implements UserIndex {
  readonly #db: () => Database.Database;
  readonly #prepared = new WeakMap<Database.Database, Statements>();

  /** @param db the store's open database (opened again when its file was replaced). */
  constructor(db: () => Database.Database) {
    this.#db = db;
  }

  async init(): Promise<void> {
    this.#statements();
  }

  async generation(owner: string): Promise<number> {
    const row = this.#statements().generation.get(owner) as { gen: number } | undefined;
    return row?.gen ?? 0;
  }

  async add(owner: string, key: string, until: number): Promise<void> {
    this.#statements().add.run(owner, key, Math.round(until));
  }

  async remove(owner: string, key: string): Promise<void> {
    this.#statements().remove.run(owner, key);
  }

  async sessions(owner: string): Promise<IndexedSession[]> {
    const now = Date.now();
    const rows = this.#statements().sessions.all(owner, now, now) as { key: string; data: string }[];
    const out: IndexedSession[] = [];
    for (const row of rows) {
      try {
        out.push({ key: row.key, record: parseRecord(row.data) });
      } catch {
        // An unreadable session is nobody's.
      }
    }
    return out;
  }

  async revoke(owner: string, keep: readonly string[]): Promise<number> {
    return this.#statements().revoke(owner, JSON.stringify(keep));
  }

  async gc(): Promise<number> {
    const now = Date.now();
    return this.#statements().gc.run(now, now).changes;
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    return (this.#statements().entries.all(owner) as { key: string; until: number }[]);
  }

  #statements(): Statements {
    const db = this.#db();
    let s = this.#prepared.get(db);
    if (s) return s;
    db.exec(SCHEMA);
    const keeps = 'key NOT IN (SELECT value FROM json_each(?))';
    const prepared = {
      generation: db.prepare('SELECT gen FROM pso_user_generations WHERE owner = ?'),
      add: db.prepare('INSERT INTO pso_session_users (owner, key, expires) VALUES (?, ?, ?) ON CONFLICT (owner, key) DO UPDATE SET expires = excluded.expires'),
      remove: db.prepare('DELETE FROM pso_session_users WHERE owner = ? AND key = ?'),
      sessions: db.prepare(
        'SELECT u.key AS key, s.data AS data FROM pso_session_users u JOIN pso_sessions s ON s.key = u.key WHERE u.owner = ? AND u.expires > ? AND s.expires > ? ORDER BY u.key',
      ),
      bump: db.prepare('INSERT INTO pso_user_generations (owner, gen) VALUES (?, 1) ON CONFLICT (owner) DO UPDATE SET gen = gen + 1 RETURNING gen'),
      dropSessions: db.prepare(`DELETE FROM pso_sessions WHERE key IN (SELECT key FROM pso_session_users WHERE owner = ? AND ${keeps})`),
      dropEntries: db.prepare(`DELETE FROM pso_session_users WHERE owner = ? AND ${keeps}`),
      gc: db.prepare('DELETE FROM pso_session_users WHERE expires <= ? OR key IN (SELECT key FROM pso_sessions WHERE expires <= ?)'),
      entries: db.prepare('SELECT key, expires AS until FROM pso_session_users WHERE owner = ? ORDER BY key'),
    };
    // One write transaction: no request sees the generation moved and the sessions still there, or the reverse.
    const revoke = db.transaction((owner: string, keep: string) => {
      const { gen } = prepared.bump.get(owner) as { gen: number };
      prepared.dropSessions.run(owner, keep);
      prepared.dropEntries.run(owner, keep);
      return gen;
    });
    s = { ...prepared, revoke: (owner, keep) => revoke.immediate(owner, keep) };
    this.#prepared.set(db, s);
    return s;
  }
}
