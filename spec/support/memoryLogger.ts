import type { Logger, LogLevel } from '../../src/logging/Logger.js';

/** A logger that keeps its lines, for assertions. */
export class MemoryLogger implements Logger {
  readonly lines: { level: LogLevel; message: string }[] = [];
  log(level: LogLevel, message: string): void {
    this.lines.push({ level, message });
  }
  has(level: LogLevel, pattern: RegExp): boolean {
    return this.lines.some((l) => l.level === level && pattern.test(l.message));
  }
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message}`).join('\n');
  }
}
