/** A value a session can hold: what JSON can represent. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The shape of session data. Augment it to type your sessions:
 *
 * @example
 * ```ts
 * declare module 'pso-ts' {
 *   interface SessionData { reloads: number; user: { name: string } }
 * }
 * ```
 */
export interface SessionData {
  [key: string]: JsonValue | undefined;
}

/** Raised when a session holds something JSON cannot represent faithfully. */
export class SessionDataError extends TypeError {
  override name = 'SessionDataError';
}

/**
 * Serialises session data, refusing values that would not come back as they
 * went in (functions, symbols, bigints, Maps, class instances, NaN, ...).
 *
 * @throws SessionDataError naming the offending key path.
 */
export function stringifyJson(value: unknown): string {
  const path: string[] = [];
  check(value, path, 0);
  return JSON.stringify(value);
}

/** How deep session data may nest: deeper data is neither saved nor read back. */
export const MAX_DATA_DEPTH = 64;

/**
 * Whether parsed JSON nests at most `max` levels below `value` (as
 * {@link stringifyJson} counts them), checked without recursion: stored text
 * may nest far deeper than the stack would take.
 *
 * @example
 * ```ts
 * nestsWithin(JSON.parse('{"a":[[1]]}'), 64); // true
 * ```
 */
export function nestsWithin(value: unknown, max = MAX_DATA_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return false;
    if (typeof v !== 'object' || v === null) continue;
    // A value below the deepest container counts, as stringifyJson counts it.
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

function check(value: unknown, path: string[], depth: number): void {
  if (depth > MAX_DATA_DEPTH) throw new SessionDataError(`session data nested deeper than ${MAX_DATA_DEPTH} levels at ${where(path)}`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new SessionDataError(`session value at ${where(path)} is ${value}, which JSON cannot store`);
      return;
    case 'undefined':
      // Tolerated in objects (the key is dropped, as `delete` would); arrays refuse it before recursing.
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          path.push(String(i));
          if (value[i] === undefined) throw new SessionDataError(`session value at ${where(path)} is undefined inside an array`);
          check(value[i], path, depth + 1);
          path.pop();
        }
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (value instanceof Date) return; // stored as its ISO string, as JSON does
      if (proto !== Object.prototype && proto !== null) {
        const kind = (value as object).constructor?.name ?? 'object';
        throw new SessionDataError(`session value at ${where(path)} is a ${kind}; sessions store JSON values only (plain objects, arrays, strings, numbers, booleans, null)`);
      }
      for (const key of Object.keys(value)) {
        path.push(key);
        check((value as Record<string, unknown>)[key], path, depth + 1);
        path.pop();
      }
      return;
    }
    default:
      throw new SessionDataError(`session value at ${where(path)} is a ${typeof value}; sessions store JSON values only`);
  }
}

function where(path: string[]): string {
  return path.length === 0 ? '(root)' : path.map((p) => JSON.stringify(p)).join('.');
}

/** A fresh object with no prototype, so that a `__proto__` key is an ordinary key. */
export function bareObject<T extends object>(from?: object): T {
  // Assigning to an object without a prototype makes every key, `__proto__` included, an own data property.
  return from ? Object.assign(Object.create(null), from) : Object.create(null);
}
