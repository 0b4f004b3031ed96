import { parseRecord, serializeRecord, type SessionRecord } from '../SessionRecord.js';
import type { SessionStore } from './SessionStore.js';
import { MemoryUserIndex } from './users/MemoryUserIndex.js';
import type { UserIndex } from './UserIndex.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Most records kept; the least recently used go first beyond it (default 100,000). */
  maxEntries?: number;
  /** How often expired records are swept, in ms (default 60,000; 0: only on access). */
  sweepIntervalMs?: number;
}

/**
 * Sessions in this process's memory: for tests and single-process servers.
 * Records are kept as JSON text, so a handler never shares objects with the
 * store; expired ones are swept, and the size is bounded (least recently used
 * out first), so it does not leak.
 *
 * @example
 * ```ts
 * container.bind(TOKENS.SessionStore).toConstantValue(new MemoryStore({ maxEntries: 10_000 }));
 * ```
 */
export class MemoryStore implements SessionStore {
  readonly name = 'memory:';
  /** Maps in this process: no deadline is kept for its operations. */
  readonly answersAtOnce = true;
  /** Users' sessions (`session.login()`), in a map beside the records. */
  readonly #index = new MemoryUserIndex(this);
  readonly users: UserIndex = this.#index;
  readonly #entries = new Map<string, { text: string; expires: number }>();
  readonly #max: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError('maxEntries must be a positive integer');
    const every = options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.#timer = setInterval(() => void this.gc(), every);
      this.#timer.unref();
    }
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.#drop(key);
      return undefined;
    }
    // Most recently used last.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return parseRecord(entry.text);
  }

  async set(key: string, record: SessionRecord): Promise<void> {
    this.#entries.delete(key);
    this.#entries.set(key, { text: serializeRecord(record), expires: record.expires });
    while (this.#entries.size > this.#max) this.#drop(this.#entries.keys().next().value!);
  }

  async destroy(key: string): Promise<void> {
    this.#drop(key);
  }

  /** Forgets a record, and its entry in the index of users' sessions. */
  #drop(key: string): void {
    this.#entries.delete(key);
    this.#index.forget(key);
  }

  async gc(): Promise<number> {
    // Lapsed index entries: swept, not counted.
    await this.users.gc();
    const now = Date.now();
    let removed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.expires <= now) {
        this.#drop(key);
        removed++;
      }
    }
    return removed;
  }

  async count(): Promise<number> {
    return this.#entries.size;
  }

  async list(): Promise<string[]> {
    return [...this.#entries.keys()];
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#entries.clear();
  }
}
