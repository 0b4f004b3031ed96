/**
 * A handler module `pso serve` cannot load: missing, not a module it can
 * run, broken, failing while it loads, or without a handler. Its message is
 * one line that names the module, says what is wrong and what to change.
 *
 * @example
 * ```ts
 * throw new ModuleLoadError('app.ts', 'it exports no handler', 'export a function named "handler" (or a default export)');
 * // cannot load app.ts: it exports no handler; fix: export a function named "handler" (or a default export)
 * ```
 */
export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
  constructor(
    readonly module: string,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`cannot load ${module}: ${oneLine(reason)}; fix: ${oneLine(fix)}`);
  }
}

/** Error texts may span lines (a compiler's notes); the message is read as one. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
