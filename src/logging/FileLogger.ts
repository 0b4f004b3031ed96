import { closeSync, openSync, writeSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ConfigurationError } from '../config/ConfigurationError.js';
import { formatLine } from './formatLine.js';
import type { Logger, LogLevel } from './Logger.js';

const open = new Map<string, FileLogger>();

/**
 * A {@link Logger} that appends to a file: what the `PSOLog` directive
 * chooses. The file is opened in append mode and every line is one write,
 * so the lines of concurrent CGI processes and server workers never mix.
 *
 * @example
 * ```ts
 * container.rebind(TOKENS.Logger).toConstantValue(FileLogger.for('/var/log/shop/pso.log'));
 * ```
 */
export class FileLogger implements Logger {
  /** The file's absolute path. */
  readonly path: string;
  #fd: number | undefined;

  /** @throws ConfigurationError when `path` is not absolute. */
  constructor(path: string) {
    if (!isAbsolute(path)) throw new ConfigurationError('PSOLog', path, 'expected an absolute path');
    this.path = path;
  }

  /** One logger per file for the life of the process, so a server opens each file once. */
  static for(path: string): FileLogger {
    let logger = open.get(path);
    if (!logger) {
      logger = new FileLogger(path);
      open.set(path, logger);
    }
    return logger;
  }

  /**
   * Appends one line.
   * @throws Error (from the file system) when the file cannot be opened or written.
   */
  log(level: LogLevel, message: string): void {
    this.#fd ??= openSync(this.path, 'a', 0o640);
    writeSync(this.#fd, formatLine(level, message));
  }

  /** Closes the file; the next line opens it again (after a log rotation, say). */
  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}
