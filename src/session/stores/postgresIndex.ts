/**
 * A PostgreSQL index, made only if it is not there yet. `CREATE INDEX IF NOT EXISTS`
 * locks the table against writes before it looks for the index: on a table
 * in use, behind a request that waits for a session's lock, every writer then
 * queued behind it, the lock's holder among them, until it timed out.
 *
 * @example
 * ```ts
 * createIndexUnlessThere('"pso_sessions_expires_idx"', '"pso_sessions"', 'expires');
 * ```
 */
export function createIndexUnlessThere(index: string, table: string, column: string): string {
  return `DO $pso$ BEGIN IF to_regclass('${index}') IS NULL THEN CREATE INDEX IF NOT EXISTS ${index} ON ${table} (${column}); END IF; END $pso$`;
}
