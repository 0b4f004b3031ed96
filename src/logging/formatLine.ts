import type { LogLevel } from './Logger.js';

/**
 * One log line as pso writes it: a prefix, an ISO time, the level and the
 * message, with continuation lines indented so a multi-line stack stays
 * readable and cannot forge a line of its own.
 *
 * @example
 * ```ts
 * formatLine('warn', 'disk almost full'); // "[pso] 2026-01-01T00:00:00.000Z warn disk almost full\n"
 * ```
 */
export function formatLine(level: LogLevel, message: string): string {
  return `[pso] ${new Date().toISOString()} ${level} ${message.replace(/\r\n?|\n/g, '\n    ')}\n`;
}
