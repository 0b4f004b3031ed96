import { createIndexUnlessThere } from '../postgresIndex.js';
import { parseRecord } from '../../SessionRecord.js';
import type { IndexedSession, UserIndex } from '../UserIndex.js';

/** Runs a statement: on the connection holding `key`'s lock when the store holds it, else on any. */
export type PgQuery = (key: string | undefined, text: string, values: unknown[]) => Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;

/** PostgreSQL's code for "relation does not exist". */
const UNDEFINED_TABLE = '42P01';

/**
 * The index of users' sessions of a {@link PostgresStore}: the tables
 * `<table>_users (owner, key, expires)` and `<table>_user_gens (owner, gen)`
 * beside the sessions' table, created on first use (or by `pso store init`).
 * A revocation is one statement: the generation moved on, the entries and
 * the sessions deleted, in one transaction.
 *
 * @example
 * ```ts
 * const store = new PostgresStore('postgres://pso@127.0.0.1/app');
 * await store.users.revoke('app:ada', []);
 * ```
 */
export class PostgresUserIndex implements UserIndex {
  readonly #query: PgQuery;
  readonly #sessions: string;
  readonly #users: string;
  readonly #gens: string;
  readonly #create: string;
  #ready: Promise<void> | undefined;

  /** @param table the sessions' table, a checked identifier. */
  constructor(table: string, query: PgQuery) {
    this.#query = query;
    const base = table.slice(0, 50);
    this.#sessions = `"${table}"`;
    this.#users = `"${base}_users"`;
    this.#gens = `"${base}_user_gens"`;
    // Concurrent CREATE TABLE IF NOT EXISTS can collide in the catalogue: creators wait for each other.
    this.#create =
      `BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('pso-schema:${base}_users', 0)); ` +
      `CREATE TABLE IF NOT EXISTS ${this.#users} (owner text NOT NULL, key text NOT NULL, expires timestamptz NOT NULL, PRIMARY KEY (owner, key)); ` +
      `${createIndexUnlessThere(`"${base}_users_expires_idx"`, this.#users, 'expires')}; ` +
      `CREATE TABLE IF NOT EXISTS ${this.#gens} (owner text PRIMARY KEY, gen bigint NOT NULL); COMMIT`;
  }

  init(held?: string): Promise<void> {
    this.#ready ??= this.#query(held, this.#create, []).then(
      () => undefined,
      async (e: unknown) => {
        this.#ready = undefined;
        await this.#query(held, 'ROLLBACK', []).catch(() => undefined);
        throw e;
      },
    );
    return this.#ready;
  }

  async generation(owner: string, held?: string): Promise<number> {
    const { rows } = await this.#run(held, `SELECT gen FROM ${this.#gens} WHERE owner = $1`, [owner]);
    return rows[0] ? Number(rows[0].gen) : 0;
  }

  async add(owner: string, key: string, until: number, held?: string): Promise<void> {
    await this.#run(
      held,
      `INSERT INTO ${this.#users} (owner, key, expires) VALUES ($1, $2, to_timestamp($3::float8 / 1000)) ON CONFLICT (owner, key) DO UPDATE SET expires = EXCLUDED.expires`,
      [owner, key, Math.round(until)],
    );
  }

  async remove(owner: string, key: string, held?: string): Promise<void> {
    await this.#run(held, `DELETE FROM ${this.#users} WHERE owner = $1 AND key = $2`, [owner, key]);
  }

  async sessions(owner: string, held?: string): Promise<IndexedSession[]> {
    const { rows } = await this.#run(
      held,
      `SELECT u.key, s.data, round(extract(epoch FROM s.expires) * 1000)::float8 AS expires_ms FROM ${this.#users} u JOIN ${this.#sessions} s ON s.key = u.key ` +
        'WHERE u.owner = $1 AND u.expires > to_timestamp($2::float8 / 1000) AND s.expires > to_timestamp($2::float8 / 1000) ORDER BY u.key',
      [owner, Date.now()],
    );
    const out: IndexedSession[] = [];
    for (const row of rows) {
      try {
        const record = parseRecord(String(row.data));
        // The store's touch() moves only the column.
        record.expires = Number(row.expires_ms);
        out.push({ key: String(row.key), record });
      } catch {
        // An unreadable session is nobody's.
      }
    }
    return out;
  }

  async revoke(owner: string, keep: readonly string[], held?: string): Promise<number> {
    // Data-modifying WITH clauses all run, once, in the statement's transaction.
    const { rows } = await this.#run(
      held,
      `WITH g AS (INSERT INTO ${this.#gens} AS g0 (owner, gen) VALUES ($1, 1) ON CONFLICT (owner) DO UPDATE SET gen = g0.gen + 1 RETURNING gen), ` +
        `d AS (DELETE FROM ${this.#users} WHERE owner = $1 AND NOT (key = ANY($2::text[])) RETURNING key), ` +
        `s AS (DELETE FROM ${this.#sessions} WHERE key IN (SELECT key FROM d) RETURNING 1) ` +
        'SELECT gen FROM g',
      [owner, [...keep]],
    );
    return Number(rows[0]!.gen);
  }

  /** Deletes lapsed entries; a database whose index was never used has nothing to delete. */
  async gc(): Promise<number> {
    try {
      const { rowCount } = await this.#query(
        undefined,
        `DELETE FROM ${this.#users} u WHERE u.expires <= to_timestamp($1::float8 / 1000) ` +
          `OR EXISTS (SELECT 1 FROM ${this.#sessions} s WHERE s.key = u.key AND s.expires <= to_timestamp($1::float8 / 1000))`,
        [Date.now()],
      );
      return rowCount ?? 0;
    } catch (e) {
      if ((e as { code?: string }).code === UNDEFINED_TABLE) return 0;
      throw e;
    }
  }

  async entries(owner: string): Promise<{ key: string; until: number }[]> {
    const { rows } = await this.#run(undefined, `SELECT key, round(extract(epoch FROM expires) * 1000)::float8 AS until FROM ${this.#users} WHERE owner = $1 ORDER BY key`, [owner]);
    return rows.map((r) => ({ key: String(r.key), until: Number(r.until) }));
  }

  /** A statement, after creating the tables the first time one is missing. */
  async #run(held: string | undefined, text: string, values: unknown[]) {
    try {
      return await this.#query(held, text, values);
    } catch (e) {
      if ((e as { code?: string }).code !== UNDEFINED_TABLE) throw e;
      await this.init(held);
      return this.#query(held, text, values);
    }
  }
}
