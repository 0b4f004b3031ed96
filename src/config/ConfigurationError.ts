/**
 * A directive or option with a value pso cannot use. The message names the
 * directive and the value so that the fix is obvious from the log.
 *
 * @example
 * ```ts
 * throw new ConfigurationError('PSOSessionExpire', '15*', 'the expression ends after "*"');
 * // PSOSessionExpire="15*" is invalid: the expression ends after "*"
 * ```
 */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
  constructor(
    readonly directive: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${directive}=${JSON.stringify(value)} is invalid: ${reason}`);
  }
}
