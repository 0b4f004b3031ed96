/** Severity of a log line. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Where pso writes log lines. Bind your own under `TOKENS.Logger` to send them
 * elsewhere (pino, syslog, ...) without touching handlers.
 *
 * @example
 * ```ts
 * container.rebind(TOKENS.Logger).toConstantValue({
 *   log: (level, message) => pino[level](message),
 * });
 * ```
 */
export interface Logger {
  log(level: LogLevel, message: string): void;
}
