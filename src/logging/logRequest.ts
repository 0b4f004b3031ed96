import { FileLogger } from './FileLogger.js';
import type { Logger, LogLevel } from './Logger.js';

/**
 * Writes one line of a request's log: to the file `PSOLog` names when it is
 * set, to `logger` otherwise. A log file that cannot be written never fails
 * the request: the line and the reason go to `logger` instead.
 *
 * @param psoLog - reads the `PSOLog` directive (it may throw for a bad value).
 * @example
 * ```ts
 * logRequest(logger, () => request.getDirective('PSOLog'), 'warn', 'GET /cart', ['slow:', 120, 'ms']);
 * ```
 */
export function logRequest(logger: Logger, psoLog: () => string | undefined, level: LogLevel, prefix: string, args: readonly unknown[]): void {
  const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : safeJson(a))).join(' ');
  const line = `${prefix}: ${text}`;
  let file: string | undefined;
  try {
    file = psoLog()?.trim() || undefined;
    if (file !== undefined) {
      FileLogger.for(file).log(level, line);
      return;
    }
  } catch (e) {
    logger.log('error', `PSOLog ${JSON.stringify(file ?? '')}: ${(e as Error).message}`);
  }
  logger.log(level, line);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
