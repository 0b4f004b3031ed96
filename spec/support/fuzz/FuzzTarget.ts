// What a fuzz target is: a named fast-check property over one parser of
// outside input, with the cases it runs in `npm test` and a fixed seed.
// spec/fuzz/*.spec.ts run them under a deadline (runTarget.ts); bench/fuzz.ts
// runs the same ones longer.
import fc from 'fast-check';

/** A property fast-check can run, sync or async. */
export type AnyProperty = fc.IProperty<any> | fc.IAsyncProperty<any>;

/** One fuzz target. */
export interface FuzzTarget {
  /** Unique within its module; what the spec and the bench print. */
  readonly name: string;
  /** Cases run in `npm test` (bounded: the whole fuzz suite takes a minute or two). */
  readonly runs: number;
  /** Builds the property (in the worker that runs it, and again to show a case that hung). */
  property(): AnyProperty;
}

/**
 * Where the worker running a target is told of each case: [0] the case
 * running (from 0, in the order fast-check generates them, then its
 * shrinking steps), [1] when it started (ms since the epoch), [2] the first
 * case that failed, plus one (0: none yet, so a hang is a generated case).
 */
let progress: Float64Array | undefined;
let caseIndex = -1;

/** @internal Set by the worker before it builds the property. */
export function reportProgressTo(buffer: SharedArrayBuffer): void {
  progress = new Float64Array(buffer);
  caseIndex = -1;
}

function started(): void {
  if (!progress) return;
  progress[0] = ++caseIndex;
  progress[1] = Date.now();
}

function failedCase(): void {
  if (progress && progress[2] === 0) progress[2] = caseIndex + 1;
}

/**
 * `fc.property`, with each case told to the worker (see {@link reportProgressTo}).
 *
 * @example
 * ```ts
 * fuzzProperty(fc.string(), (s) => { parseHttpDate(s); });
 * ```
 */
export function fuzzProperty<Ts extends [unknown, ...unknown[]]>(
  ...args: [...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...values: Ts) => boolean | void]
): fc.IProperty<Ts> {
  const predicate = args.pop() as (...values: Ts) => boolean | void;
  const arbitraries = args as unknown as { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };
  return fc.property(...arbitraries, (...values: Ts) => {
    started();
    try {
      const ok = predicate(...values);
      if (ok === false) failedCase();
      return ok;
    } catch (e) {
      if (!fc.PreconditionFailure.isFailure(e)) failedCase();
      throw e;
    }
  });
}

/** `fc.asyncProperty`, with each case told to the worker. */
export function fuzzAsyncProperty<Ts extends [unknown, ...unknown[]]>(
  ...args: [...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...values: Ts) => Promise<boolean | void>]
): fc.IAsyncProperty<Ts> {
  const predicate = args.pop() as (...values: Ts) => Promise<boolean | void>;
  const arbitraries = args as unknown as { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };
  return fc.asyncProperty(...arbitraries, async (...values: Ts) => {
    started();
    try {
      const ok = await predicate(...values);
      if (ok === false) failedCase();
      return ok;
    } catch (e) {
      if (!fc.PreconditionFailure.isFailure(e)) failedCase();
      throw e;
    }
  });
}

/** The seed of a target in `npm test`: fixed, from its name, so a failure repeats. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** The classes a parser may throw, by the contract its doc comment states. */
export type ErrorClass = abstract new (...args: any[]) => Error;

/**
 * Runs `fn`; an error of one of `allowed` is what the parser promises and is
 * returned, anything else is rethrown, so the property fails and shows the input.
 */
export function onlyThrows<T>(fn: () => T, ...allowed: ErrorClass[]): { value: T } | { error: Error } {
  try {
    return { value: fn() };
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) return { error: e as Error };
    throw undocumented(e, allowed);
  }
}

/** {@link onlyThrows} for an async `fn`. */
export async function onlyRejects<T>(fn: () => Promise<T>, ...allowed: ErrorClass[]): Promise<{ value: T } | { error: Error }> {
  try {
    return { value: await fn() };
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) return { error: e as Error };
    throw undocumented(e, allowed);
  }
}

function undocumented(e: unknown, allowed: ErrorClass[]): Error {
  const what = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
  return new Error(`threw something other than ${allowed.map((c) => c.name).join(' or ')}: ${what}`);
}
