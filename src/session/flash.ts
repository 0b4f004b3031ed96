import type { JsonValue } from './json.js';

/** A message for the next page: `session.flash(kind, message)`, read once with `session.flashes()`. */
export interface FlashMessage {
  /** What sort of message: `'info'`, `'error'`, `'welcome'`, ... */
  kind: string;
  message: string;
}

/**
 * The data key flash messages wait under until they are read: one JSON key
 * like any other, so every store and every `load`/`save` hook keeps them.
 */
export const FLASH_KEY = 'pso.flash';

/**
 * Adds a message to the data's queue.
 *
 * @throws TypeError when `kind` is not a non-empty string of at most 64 characters or `message` is not a string.
 * @example
 * ```ts
 * addFlash(data, 'info', 'saved');
 * ```
 */
export function addFlash(data: Record<string, JsonValue>, kind: string, message: string): void {
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > 64) {
    throw new TypeError(`session.flash(kind, message): kind must be a string of 1 to 64 characters; got ${JSON.stringify(kind)}`);
  }
  if (typeof message !== 'string') throw new TypeError(`session.flash(${JSON.stringify(kind)}, message): message must be a string`);
  const queue = queueOf(data);
  queue.push({ kind, message });
  data[FLASH_KEY] = queue as unknown as JsonValue;
}

/**
 * Takes the waiting messages (of one kind, or all) out of the data, oldest
 * first; the key goes when none is left, so a session that only carried a
 * message is empty again.
 *
 * @example
 * ```ts
 * takeFlashes(data, 'error'); // [{ kind: 'error', message: 'wrong password' }]
 * ```
 */
export function takeFlashes(data: Record<string, JsonValue>, kind?: string): FlashMessage[] {
  if (!Object.hasOwn(data, FLASH_KEY)) return [];
  const queue = queueOf(data);
  const taken = kind === undefined ? queue : queue.filter((m) => m.kind === kind);
  const left = kind === undefined ? [] : queue.filter((m) => m.kind !== kind);
  if (left.length === 0) delete data[FLASH_KEY];
  else data[FLASH_KEY] = left as unknown as JsonValue;
  return taken;
}

/** The stored queue as copies; anything in it that is not a message (stored by hand, or damaged) is left out. */
function queueOf(data: Record<string, JsonValue>): FlashMessage[] {
  const stored = data[FLASH_KEY];
  if (!Array.isArray(stored)) return [];
  const out: FlashMessage[] = [];
  for (const item of stored) {
    if (item && typeof item === 'object' && !Array.isArray(item) && typeof item.kind === 'string' && typeof item.message === 'string') {
      out.push({ kind: item.kind, message: item.message });
    }
  }
  return out;
}
