// How-To "Storing the session in a database": the 2002 recipe wrote a loader
// (load, save, newSessionId) and mixed it into the session class. Here the
// loader is a SessionStore (get, set, destroy, and a lock), and the session
// class names it in one line. What the 2002 recipe did unsafely, this does safely:
//
//   - queries are parameterised (the original pasted ids into SQL text);
//   - sessions are JSON (parseRecord/serializeRecord), not pickle, so nothing
//     stored can run code;
//   - new ids are pso's 160 random bits (the original's newSessionId returned 0),
//     and the table holds a hash of each id, never the id;
//   - one upsert instead of UPDATE-then-INSERT, which raced;
//   - a GET_LOCK per session, held from load to save, so CGI processes never
//     lose each other's writes;
//   - the table is created when missing, and the pool closed when a CGI
//     process is done, so it exits.
//
// The database: PSOSessionMySQLLoader_Url (SetEnv, or -D with pso serve),
// default mysql://root@127.0.0.1:3306/test.
//
// The same storage needs no code at all: SetEnv PSOSessionStore
// mysql://user:password@host:3306/db keeps sessions in MySQL with the
// built-in store (shared connections, batches, timeouts answered 503).
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import {
  CookieSession, ServiceHandler, SessionBusyError, isMain, parseRecord, serializeRecord,
  type Release, type ServiceRequest, type SessionRecord, type SessionStore,
} from 'pso-ts';

const DEFAULT_URL = 'mysql://root@127.0.0.1:3306/test';
const TABLE = 'pso_howto_sessions';

/** The How-To's loader: sessions in one table, by key. */
export class MySQLLoader implements SessionStore {
  /** One loader per database URL, shared by every request of the process. */
  static readonly #loaders = new Map<string, MySQLLoader>();
  readonly name: string;
  readonly #pool: mysql.Pool;
  #ready: Promise<unknown> | undefined;

  static for(url: string): MySQLLoader {
    let loader = MySQLLoader.#loaders.get(url);
    if (!loader) MySQLLoader.#loaders.set(url, (loader = new MySQLLoader(url)));
    return loader;
  }

  /** Closes every pool: a CGI process calls it when its request is done. */
  static async end(): Promise<void> {
    const loaders = [...MySQLLoader.#loaders.values()];
    MySQLLoader.#loaders.clear();
    await Promise.all(loaders.map((l) => l.#pool.end().catch(() => undefined)));
  }

  constructor(url: string) {
    this.name = `How-To MySQL loader ${new URL(url).host}`;
    this.#pool = mysql.createPool({ uri: url, connectionLimit: 10, connectTimeout: 5000, charset: 'utf8mb4' });
  }

  /** The pool, with the table created when missing (a failed start is tried again by the next request). */
  async #db(): Promise<mysql.Pool> {
    this.#ready ??= this.#pool.query(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (sessionKey VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY, ` +
        'sessionObj MEDIUMTEXT NOT NULL, expires BIGINT NOT NULL, INDEX (expires)) DEFAULT CHARSET=utf8mb4',
    ).catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    await this.#ready;
    return this.#pool;
  }

  /** The saved session, or undefined (parseRecord throws CorruptSessionError for garbage: the visitor gets a new session). */
  async get(key: string): Promise<SessionRecord | undefined> {
    const [rows] = await (await this.#db()).execute<mysql.RowDataPacket[]>(`SELECT sessionObj FROM ${TABLE} WHERE sessionKey = ? AND expires > ?`, [key, Date.now()]);
    return rows[0] ? parseRecord(String(rows[0].sessionObj)) : undefined;
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    await (await this.#db()).execute(
      `INSERT INTO ${TABLE} (sessionKey, sessionObj, expires) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE sessionObj = VALUES(sessionObj), expires = VALUES(expires)`,
      [key, serializeRecord(record), Math.round(record.expires)],
    );
  }

  async destroy(key: string): Promise<void> {
    await (await this.#db()).execute(`DELETE FROM ${TABLE} WHERE sessionKey = ?`, [key]);
  }

  /** Expired sessions are deleted now and then (PSOSessionGCProbability). */
  async gc(): Promise<number> {
    const [result] = await (await this.#db()).execute<mysql.ResultSetHeader>(`DELETE FROM ${TABLE} WHERE expires <= ?`, [Date.now()]);
    return result.affectedRows;
  }

  /**
   * GET_LOCK on a connection of its own, so that CGI processes take turns too
   * (pso locks inside the process first). A connection that fails is closed,
   * which frees its lock; it never goes back to the pool holding one.
   */
  async lock(key: string, timeoutMs: number): Promise<Release> {
    const started = Date.now();
    const conn = await (await this.#db()).getConnection();
    // Lock names hold at most 64 characters.
    const name = `pso-howto:${createHash('sha1').update(key).digest('hex')}`;
    try {
      const [rows] = await conn.execute<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS ok', [name, timeoutMs / 1000]);
      if (rows[0]?.ok !== 1) throw new SessionBusyError(`GET_LOCK ${name}`, Date.now() - started);
    } catch (e) {
      // GET_LOCK said no, or failed: a connection that may hold the lock is closed, not reused.
      if (e instanceof SessionBusyError) conn.release();
      else conn.destroy();
      throw e;
    }
    return async () => {
      try {
        await conn.execute('SELECT RELEASE_LOCK(?)', [name]);
        conn.release();
      } catch {
        conn.destroy();
      }
    };
  }
}

/** The How-To's MySQLImpl: cookie sessions, kept by the loader. */
export class MySQLImpl extends CookieSession {
  override storeFor(request: ServiceRequest): SessionStore {
    return MySQLLoader.for(request.getEnviron('PSOSessionMySQLLoader_Url') || DEFAULT_URL);
  }
}

/** `pso serve` uses this session policy too. */
export const sessionImpl = MySQLImpl;

export function handler(serviceRequest: ServiceRequest) {
  serviceRequest.pso().sendHttpHeaders();
  const reloads = serviceRequest.pso().session.increment('reloads');
  serviceRequest.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
}

// The pool's connections would keep a CGI process alive: close them when the request is done.
if (isMain(import.meta.url)) new ServiceHandler().run(handler, { sessionImpl: MySQLImpl }).then(() => MySQLLoader.end());
