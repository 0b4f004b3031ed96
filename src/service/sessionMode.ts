import { readFlag, type DirectiveSource } from '../config/directives.js';

/** Whether a handler's sessions are opened read-only: `true`, `false`, or a function deciding per request (`undefined`: the directive). */
export type ReadOnlyOption<R> = boolean | ((request: R) => boolean | undefined);

/**
 * Whether this request's session is opened read-only: the handler's
 * `readOnlySession` option when it decides, else `PSOSessionReadOnly`.
 *
 * @throws TypeError when the option gives something other than a boolean or undefined.
 * @example
 * ```ts
 * readOnlyOf(request, (r) => r.path.startsWith('/poll')); // true for /poll/...
 * ```
 */
export function readOnlyOf<R extends DirectiveSource>(request: R, option: ReadOnlyOption<R> | undefined): boolean {
  const chosen = typeof option === 'function' ? option(request) : option;
  if (chosen === undefined) return readFlag(request, 'PSOSessionReadOnly');
  if (typeof chosen !== 'boolean') throw new TypeError(`the readOnlySession option must be a boolean (or a function giving one, or undefined); got ${JSON.stringify(chosen)}`);
  return chosen;
}
