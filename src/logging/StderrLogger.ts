import { injectable } from 'inversify';
import type { Logger, LogLevel } from './Logger.js';

/**
 * The default {@link Logger}: one line per message on standard error, which is
 * Apache's error log under CGI and the terminal otherwise.
 *
 * @example
 * ```ts
 * new StderrLogger().log('warn', 'disk almost full');
 * // [pso] 2026-01-01T00:00:00.000Z warn disk almost full
 * ```
 */
@injectable()
export class StderrLogger implements Logger {
  log(level: LogLevel, message: string): void {
    // One write per line keeps lines whole when several CGI processes share a log.
    process.stderr.write(`[pso] ${new Date().toISOString()} ${level} ${message.replace(/\r?\n/g, '\n    ')}\n`);
  }
}
