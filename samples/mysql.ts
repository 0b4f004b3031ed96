// How-To "Storing the session in a database": your own implementation class,
// identification by cookie (CookieSession), storage in MySQL or MariaDB.
// What the 2002 recipe did unsafely, this one does safely:
//
//   - queries are parameterised (the original pasted ids into SQL text);
//   - sessions are JSON (parseRecord/serializeRecord), not pickle, so nothing
//     stored can run code;
//   - newSessionId returns 160 random bits (the original returned 0);
//   - one upsert instead of UPDATE-then-INSERT, which raced;
//   - a GET_LOCK per session, held from load to save, so CGI processes never
//     lose each other's writes;
//   - the table is created when missing, and the pool closed when a CGI
//     process is done, so it exits.
//
// The database: PSOSessionMySQLLoader_Url (SetEnv, or -D with pso serve),
// default mysql://root@127.0.0.1:3306/test.
//
// The same storage needs no subclass at all: SetEnv PSOSessionStore
// mysql://user:password@host:3306/db keeps sessions in MySQL with the
// built-in store (connection pool, timeouts answered 503, GET_LOCK locking).
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import {
  CookieSession, ServiceHandler, SessionBusyError, isMain, parseRecord, serializeRecord,
  type Release, type ServiceRequest, type SessionRecord,
} from 'pso-ts';

const DEFAULT_URL = 'mysql://root@127.0.0.1:3306/test';
const TABLE = 'pso_howto_session';

export class MySQLImpl extends CookieSession {
  /** One pool per database URL, shared by every request of the process. */
  static readonly pools = new Map<string, { pool: mysql.Pool; ready: Promise<unknown> }>();
  /** The connection holding a request's session lock: its queries go there, so a full pool cannot deadlock. */
  readonly #locked = new WeakMap<ServiceRequest<any>, mysql.PoolConnection>();

  /** Closes every pool: a CGI process calls it when its request is done. */
  static async end(): Promise<void> {
    const pools = [...MySQLImpl.pools.values()];
    MySQLImpl.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.end().catch(() => undefined)));
  }

  /** The pool for this request's database, with the table created when missing. */
  async db(request: ServiceRequest<any>): Promise<mysql.Pool> {
    const url = request.getEnviron('PSOSessionMySQLLoader_Url') || DEFAULT_URL;
    let entry = MySQLImpl.pools.get(url);
    if (!entry) {
      const pool = mysql.createPool({ uri: url, connectionLimit: 10, connectTimeout: 5000, charset: 'utf8mb4' });
      const ready = pool.query(
        // Ids are ASCII and case matters: a binary collation keeps "abc" and "ABC" apart.
        `CREATE TABLE IF NOT EXISTS ${TABLE} (serviceId VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ` +
          'sessionId VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ' +
          'sessionObj MEDIUMTEXT NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (serviceId, sessionId), INDEX (expires)) DEFAULT CHARSET=utf8mb4',
      );
      entry = { pool, ready };
      MySQLImpl.pools.set(url, entry);
      // A failed start (the database is down) is tried again by the next request.
      ready.catch(() => {
        if (MySQLImpl.pools.get(url) === entry) MySQLImpl.pools.delete(url);
        void pool.end().catch(() => undefined);
      });
    }
    await entry.ready;
    return entry.pool;
  }

  /** Where this request's statements run: its lock connection, else the pool. */
  async #conn(request: ServiceRequest<any>): Promise<mysql.Pool | mysql.PoolConnection> {
    return this.#locked.get(request) ?? this.db(request);
  }

  /** The saved session, or undefined. */
  override async load(request: ServiceRequest<any>, id: string): Promise<SessionRecord | undefined> {
    const [rows] = await (await this.#conn(request)).execute<mysql.RowDataPacket[]>(
      `SELECT sessionObj FROM ${TABLE} WHERE serviceId = ? AND sessionId = ?`,
      [this.getServiceId(request), id],
    );
    // parseRecord throws CorruptSessionError for garbage: the visitor then gets a new session.
    return rows[0] ? parseRecord(String(rows[0].sessionObj)) : undefined;
  }

  override async save(request: ServiceRequest<any>, id: string, record: SessionRecord): Promise<void> {
    await (await this.#conn(request)).execute(
      `INSERT INTO ${TABLE} (serviceId, sessionId, sessionObj, expires) VALUES (?, ?, ?, ?) ` +
        'ON DUPLICATE KEY UPDATE sessionObj = VALUES(sessionObj), expires = VALUES(expires)',
      [this.getServiceId(request), id, serializeRecord(record), Math.round(record.expires)],
    );
  }

  override async remove(request: ServiceRequest<any>, id: string): Promise<void> {
    await (await this.#conn(request)).execute(`DELETE FROM ${TABLE} WHERE serviceId = ? AND sessionId = ?`, [this.getServiceId(request), id]);
  }

  /** A new id: 160 random bits (the original counted rows and returned 0). */
  override newSessionId(request: ServiceRequest<any>): string {
    return super.newSessionId(request);
  }

  /** Expired sessions are deleted now and then (PSOSessionGCProbability). */
  override async collectGarbage(request: ServiceRequest<any>): Promise<number> {
    const [result] = await (await this.db(request)).execute<mysql.ResultSetHeader>(`DELETE FROM ${TABLE} WHERE expires <= ?`, [Date.now()]);
    return result.affectedRows;
  }

  /**
   * The lock inside this process, then GET_LOCK on a connection of its own,
   * so that CGI processes take turns too. A connection that fails is closed,
   * which frees its lock; it never goes back to the pool holding one.
   */
  override async lock(request: ServiceRequest<any>, id: string): Promise<Release> {
    const started = Date.now();
    const local = await super.lock(request, id);
    let conn: mysql.PoolConnection | undefined;
    try {
      conn = await (await this.db(request)).getConnection();
      // Lock names hold at most 64 characters.
      const name = `pso-howto:${createHash('sha1').update(`${this.getServiceId(request)}:${id}`).digest('hex')}`;
      const wait = Math.max(0, this.lockTimeoutMs(request) - (Date.now() - started)) / 1000;
      const [rows] = await conn.execute<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS ok', [name, wait]);
      if (rows[0]?.ok !== 1) throw new SessionBusyError(id, Date.now() - started);
      const held = conn;
      this.#locked.set(request, held);
      return async () => {
        if (this.#locked.get(request) !== held) return;
        this.#locked.delete(request);
        try {
          await held.execute('SELECT RELEASE_LOCK(?)', [name]);
          held.release();
        } catch {
          held.destroy();
        } finally {
          await local();
        }
      };
    } catch (e) {
      // GET_LOCK said no, or failed: a connection that may hold the lock is closed, not reused.
      if (e instanceof SessionBusyError) conn?.release();
      else conn?.destroy();
      await local();
      throw e;
    }
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
if (isMain(import.meta.url)) new ServiceHandler().run(handler, { sessionImpl: MySQLImpl }).then(() => MySQLImpl.end());
