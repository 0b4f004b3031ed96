// How a server's file store keeps a session's lock, and its file open,
// between its requests (FileStoreOptions.keepLocks, `PSOSessionLock auto`),
// and gives them up when another process knocks (locks/knocks.ts).
//
// While this process holds a session's lock nobody else writes its file, so
// what the last request read or wrote is what the file holds: the next
// request of this process on that session takes no lock, opens and reads
// nothing, and writes once. Every write still goes to the file at once.
import { readFileSync } from 'node:fs';
import type { FsOps } from '../../util/fs.js';
import { holderFileIn } from '../locks/FileLock.js';
import { knocksOn } from '../locks/knocks.js';
import type { Release } from '../locks/KeyedMutex.js';
import { closeHeld, type HeldFile } from './heldFile.js';

/** A kept lock with no request on it is given up after this long. */
export const KEEP_IDLE_MS = 500;
/**
 * A kept lock is given up this long after it was taken, however busy, and
 * its session is then locked per request for {@link KEEP_COOL_MS}: a waiter
 * that does not knock (an earlier pso) gets its turn between two requests.
 */
export const KEEP_MAX_MS = 3_000;
/** How long a session whose lock was kept {@link KEEP_MAX_MS} is then locked per request. */
export const KEEP_COOL_MS = 500;
/** After another process has knocked, locks are given up at the end of every request for this long. */
export const KEEP_QUIET_MS = 10_000;
/** How often a process with kept locks looks for knocks. */
const KEEP_CHECK_MS = 20;
/** Every how many looks for knocks it also looks for idle and old locks. */
const IDLE_CHECK_EVERY = 5;

/** A session's lock held by this process, from its request on, with its file as the request leaves it. */
export interface KeptLock {
  held: HeldFile;
  unlock: Release;
  /** When the lock was taken. */
  since: number;
  /** When a request last gave it back. */
  idleSince: number;
  /** A request holds it now. */
  busy: boolean;
}

/** The locks one store keeps, in one directory. */
export class KeptLocks {
  readonly #directory: string;
  readonly #ops: FsOps;
  readonly #kept = new Map<string, KeptLock>();
  /** Sessions locked per request until a time, by key (see {@link KEEP_COOL_MS}). */
  readonly #cooling = new Map<string, number>();
  /** Until when locks are not kept (another process knocked). */
  #quietUntil = 0;
  /** The knocks on this process's holder file, as last counted. */
  #knocks = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Looks for knocks since the last look for idle locks. */
  #ticks = 0;

  constructor(directory: string, ops: FsOps) {
    this.#directory = directory;
    this.#ops = ops;
  }

  /** A new entry for a lock just taken, held by its request. */
  static taken(held: HeldFile, unlock: Release): KeptLock {
    return { held, unlock, since: Date.now(), idleSince: 0, busy: true };
  }

  /** The lock kept for `key`, idle or held by a request. */
  get(key: string): KeptLock | undefined {
    return this.#kept.get(key);
  }

  /**
   * The kept lock of `key` taken up by a request, when there is one no
   * request holds and it may still be kept; one that may not is given up
   * (the request then takes the lock anew).
   */
  async take(key: string): Promise<KeptLock | undefined> {
    const kept = this.#kept.get(key);
    if (!kept || kept.busy) return undefined;
    if (this.#mayKeep(key, kept)) {
      kept.busy = true;
      return kept;
    }
    await this.giveUp(key, kept);
    return undefined;
  }

  /** A request is done with its lock: kept for the next one when it may be, else released. */
  async release(key: string, entry: KeptLock): Promise<void> {
    entry.busy = false;
    // Also when nothing is kept yet: a knock on the lock this request held says another process wants its sessions.
    this.#lookForKnocks();
    if (this.#mayKeep(key, entry) && (this.#kept.has(key) || this.#kept.size < maxKept())) {
      entry.idleSince = Date.now();
      this.#kept.set(key, entry);
      this.#watch();
      return;
    }
    await this.giveUp(key, entry);
  }

  /** Gives up a lock: its file closed, then the lock released. */
  async giveUp(key: string, entry: KeptLock): Promise<void> {
    if (this.#kept.get(key) === entry) this.#kept.delete(key);
    try {
      await closeHeld(this.#ops, entry.held);
    } finally {
      await entry.unlock();
    }
  }

  /** Gives up every kept lock no request holds, and keeps none from now on. */
  async close(): Promise<void> {
    this.#quietUntil = Infinity;
    for (const [key, entry] of [...this.#kept]) if (!entry.busy) await this.giveUp(key, entry);
  }

  /**
   * Whether a lock may be kept, or taken up again: nobody has knocked lately,
   * it is young enough (one that is not starts its session's cooling), and
   * its file is known as this process last left it (read or written whole,
   * in the slot format, with no other name).
   */
  #mayKeep(key: string, entry: KeptLock): boolean {
    const now = Date.now();
    if (now < this.#quietUntil) return false;
    if (now - entry.since >= KEEP_MAX_MS) {
      if (this.#cooling.size >= maxKept()) for (const [k, until] of this.#cooling) if (until <= now) this.#cooling.delete(k);
      this.#cooling.set(key, now + KEEP_COOL_MS);
      return false;
    }
    const cool = this.#cooling.get(key);
    if (cool !== undefined) {
      if (now < cool) return false;
      this.#cooling.delete(key);
    }
    const { held } = entry;
    return held.json !== undefined && held.layout !== undefined && !held.shared;
  }

  /** Looks every few milliseconds for a knock and for kept locks idle or old, while any is kept. */
  #watch(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#check(), KEEP_CHECK_MS);
    this.#timer.unref();
  }

  /** Gives up the kept locks that a knock, idleness or age asks for; never throws (it runs on a timer). */
  #check(): void {
    let knocked = true;
    try {
      knocked = this.#lookForKnocks();
    } catch {
      this.#quietUntil = Date.now() + KEEP_QUIET_MS;
    }
    if (!knocked && ++this.#ticks < IDLE_CHECK_EVERY) return;
    this.#ticks = 0;
    const now = Date.now();
    for (const [key, entry] of [...this.#kept]) {
      if (entry.busy) continue;
      let giveUp = true;
      try {
        giveUp = knocked || now - entry.idleSince >= KEEP_IDLE_MS || !this.#mayKeep(key, entry);
      } catch {
        // given up
      }
      if (giveUp) {
        this.giveUp(key, entry).catch(() => {
          // Released or closed already; a lock left is judged abandoned once this process is gone.
        });
      }
    }
    if (this.#kept.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Whether another process has knocked since the last look: then no lock is kept for a while. */
  #lookForKnocks(): boolean {
    const knocks = knocksOn(holderFileIn(this.#directory));
    if (knocks === this.#knocks) return false;
    this.#knocks = knocks;
    this.#quietUntil = Date.now() + KEEP_QUIET_MS;
    return true;
  }
}

/**
 * At most this many locks (and open files) are kept by one store: a quarter
 * of the files the process may open, between 64 and 4,096 (256 where the
 * limit cannot be read).
 */
let keepMaxCount: number | undefined;
function maxKept(): number {
  if (keepMaxCount === undefined) {
    let limit: number | undefined;
    try {
      const line = readFileSync('/proc/self/limits', 'latin1')
        .split('\n')
        .find((l) => l.startsWith('Max open files'));
      const soft = line ? Number(line.slice('Max open files'.length).trim().split(/\s+/)[0]) : NaN;
      if (Number.isFinite(soft) && soft > 0) limit = soft;
    } catch {
      // no /proc: the default below
    }
    keepMaxCount = limit === undefined ? 256 : Math.max(64, Math.min(4096, Math.floor(limit / 4)));
  }
  return keepMaxCount;
}
