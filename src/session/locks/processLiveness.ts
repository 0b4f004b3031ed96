import { readFileSync } from 'node:fs';

/**
 * A process as the kernel describes it in /proc/PID/stat (Linux): its state
 * letter and its start time (clock ticks after boot). `undefined` where there
 * is no such file: no /proc here, or no such process.
 */
function procStat(pid: number | 'self'): { state: string; started: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name, in parentheses, may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const started = fields[19];
  return state && started ? { state, started } : undefined;
}

const OWN_STAT = procStat('self');
const HAS_PROC = OWN_STAT !== undefined;
const OWN_START = OWN_STAT?.started;

/**
 * This process's start time, to write beside its pid in a lock's holder
 * token: with it, a pid the system has given to another process since is not
 * taken for the holder. `undefined` where the system does not tell (no /proc).
 *
 * @example
 * ```ts
 * const token = `${process.pid} ${hostname()} ${randomUUID()}${ownStartTime() ? ` ${ownStartTime()}` : ''}`;
 * ```
 */
export function ownStartTime(): string | undefined {
  return OWN_START;
}

/**
 * Whether the process that wrote a lock still runs: a process with this pid
 * exists (EPERM means it does, as another user), it is not a zombie (which
 * holds nothing any more and waits only to be reaped: a worker killed with its
 * primary stays one until init gets to it), and, when the holder's start time
 * is known, it is that same process rather than a later one given its pid.
 *
 * @example
 * ```ts
 * const [pid, , , started] = token.split(' ');
 * if (!isAlive(Number(pid), started)) breakLock();
 * ```
 */
export function isAlive(pid: number, started?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!HAS_PROC) return true;
  const stat = procStat(pid);
  // Gone between the two looks.
  if (!stat) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return started === undefined || stat.started === started;
}
