import { writeSync } from 'node:fs';
import { injectable } from 'inversify';
import { formatLine } from './formatLine.js';
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
    // One write per line keeps lines whole when several CGI processes share a log;
    // writing the descriptor directly spares a CGI process node's stream modules.
    const line = formatLine(level, message);
    try {
      writeSync(2, line);
    } catch {
      // A non-blocking pipe that is full, for instance: let the stream queue it.
      process.stderr.write(line);
    }
  }
}
