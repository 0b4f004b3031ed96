import { parseRecord } from '../../SessionRecord.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

/** Runs a prepared statement for the session of `key` (the store chooses the line). */
export type MysqlRun = <T>(key: string | undefined, sql: string, values: unknown[]) => Promise<T>;

/** The server's "table doesn't exist". */
const ER_NO_SUCH_TABLE = 1146;

type Row = Record<string, unknown>;

/**
 * The index of users' sessions of a {@link MysqlStore}: the tables
 * `<table>_users (owner, k, expires)` and `<table>_user_gens (owner, gen)`
 * beside the sessions' table, created on first use (or by `pso store init`).
 * A revocation moves the generation on first (`LAST_INSERT_ID(gen + 1)`, so
 * each revocation learns its own number), then deletes the sessions and
 * their entries.
 *
 * @example
 * ```ts
 * const store = new MysqlStore('mysql://pso:secret@127.0.0.1/app');
 * await store.users.revoke('app:ada', []);
 * ```
 */
export class MysqlUserIndex implements UserIndex {
  readonly #run: MysqlRun;
  readonly #sessions: string;
  readonly #users: string;
  readonly #gens: string;
  #ready: Promise<void> | undefined;

  /** @param table the sessions' table, a checked identifier. */
  constructor(table: string, run: MysqlRun) {
    this.#run = run;
    const base = table.slice(0, 50);
    this.#sessions = `\`${table}\``;
    this.#users = `\`${base}_users\``;
    this.#gens = `\`${base}_user_gens\``;
  }

  init(held?: string): Promise<void> {
    // Binary collations: ids differing only in case are different users and sessions.
    const text = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL';
    this.#ready ??= (async () => {
      await this.#run(held, `CREATE TABLE IF NOT EXISTS ${this.#users} (owner VARCHAR(300) ${text}, k VARCHAR(255) ${text}, expires BIGINT NOT NULL, PRIMARY KEY (owner, k), INDEX (expires)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`, []);
      await this.#run(held, `CREATE TABLE IF NOT EXISTS ${this.#gens} (owner VARCHAR(300) ${text} PRIMARY KEY, gen BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`, []);
    })().catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async generation(owner: string, held?: string): Promise<number> {
    const rows = await this.#statement<Row[]>(held, `SELECT gen FROM ${this.#gens} WHERE owner = ?`, [owner]);
    return rows[0] ? Number(rows[0].gen) : 0;
  }

  async add(owner: string, key: string, until: number, held?: string): Promise<void> {
    await this.#statement(held, `INSERT INTO ${this.#users} (owner, k, expires) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE expires = VALUES(expires)`, [owner, key, Math.round(until)]);
  }

  async remove(owner: string, key: string, held?: string): Promise<void> {
    await this.#statement(held, `DELETE FROM ${this.#users} WHERE owner = ? AND k = ?`, [owner, key]);
  }

  async sessions(owner: string, held?: string): Promise<IndexedSession[]> {
    const now = Date.now();
    const rows = await this.#statement<Row[]>(
      held,
      `SELECT u.k AS k, s.data AS data, s.expires AS expires FROM ${this.#users} u JOIN ${this.#sessions} s ON s.k = u.k WHERE u.owner = ? AND u.expires > ? AND s.expires > ? ORDER BY u.k`,
      [owner, now, now],
    );
    const out: IndexedSession[] = [];
    for (const row of rows) {
      try {
        const record = parseRecord(String(row.data));
        // The store's touch() moves only the column.
        record.expires = Number(row.expires);
        out.push({ key: String(row.k), record });
      } catch {
        // An unreadable session is nobody's.
      }
    }
    return out;
  }

  async revoke(owner: string, keep: readonly string[], held?: string): Promise<number> {
    const moved = await this.#statement<{ insertId: number }>(
      held,
      `INSERT INTO ${this.#gens} (owner, gen) VALUES (?, LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE gen = LAST_INSERT_ID(gen + 1)`,
      [owner],
    );
    const gen = Number(moved.insertId);
    const except = keep.length ? ` AND u.k NOT IN (${keep.map(() => '?').join(', ')})` : '';
    await this.#statement(held, `DELETE s FROM ${this.#sessions} s JOIN ${this.#users} u ON u.k = s.k WHERE u.owner = ?${except}`, [owner, ...keep]);
    await this.#statement(held, `DELETE u FROM ${this.#users} u WHERE u.owner = ?${except}`, [owner, ...keep]);
    return gen;
  }

  /** Deletes lapsed entries; a database whose index was never used has nothing to delete. */
  async gc(): Promise<number> {
    try {
      const now = Date.now();
      return (
        await this.#run<{ affectedRows: number }>(undefined, `DELETE u FROM ${this.#users} u LEFT JOIN ${this.#sessions} s ON s.k = u.k WHERE u.expires <= ? OR s.expires <= ?`, [now, now])
      ).affectedRows;
    } catch (e) {
      if ((e as { errno?: number }).errno === ER_NO_SUCH_TABLE) return 0;
      throw e;
    }
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    const rows = await this.#statement<Row[]>(undefined, `SELECT k, expires FROM ${this.#users} WHERE owner = ? ORDER BY k`, [owner]);
    return rows.map((r) => ({ key: String(r.k), until: Number(r.expires) }));
  }

  /** A statement, after creating the tables the first time one is missing. */
  async #statement<T>(held: string | undefined, sql: string, values: unknown[]): Promise<T> {
    try {
      return await this.#run<T>(held, sql, values);
    } catch (e) {
      if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
      await this.init(held);
      return this.#run<T>(held, sql, values);
    }
  }
}
