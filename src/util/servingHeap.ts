import { createRequire } from 'node:module';

let done = false;

/** What a server made in code (`serve()`, the middlewares, `createFetchHandler()`) may say about the heap. */
export interface HeapOptions {
  /**
   * Turn off V8's allocation-site pretenuring in this process (default
   * `true`), as `pso serve` does: see {@link keepRequestsYoung}. `false`
   * leaves V8's flags as they are, for an application that tunes its heap
   * itself or serves mostly something else.
   */
  keepRequestsYoung?: boolean;
}

/**
 * Turns off V8's allocation-site pretenuring in a process that serves
 * requests for a long time (`pso serve`, its workers, a FastCGI responder,
 * and by default a server made in code: `serve()`, `psoMiddleware()`,
 * `psoSession()`, `createFetchHandler()`), unless node was started with an
 * `--allocation-site-pretenuring` flag of its own
 * (`node --allocation-site-pretenuring $(which pso) serve ...`), which is
 * left to win.
 *
 * Why: V8 watches each object or array literal, and when most of what one
 * makes survives a young-generation collection, it makes that literal's
 * objects in the old generation from then on. A request's objects are
 * short-lived, but for a while they can look otherwise (a burst of new
 * sessions, requests in flight across a collection): then the literals of the
 * request path are allocated old, each holds the rest of its request, and
 * every request's graph is copied to the old generation and kept until a full
 * collection. Measured on the counter page with the memory store (16
 * connections, 20,000 requests), runs in that state promoted 105-183 MB
 * against 7 MB, at 150-240 µs of CPU per request against 105-130 µs. The state comes and goes
 * with timing (a run, or a machine, under load); without pretenuring it was
 * never seen. The same state, measured in the process that makes the
 * requests too (a fetch runtime's: 500 sessions, one request at a time,
 * 110,000 requests), came in most runs: 560-900 MB promoted against 27-117
 * MB, and about 1.5-2 times the CPU per request; Express with 16
 * connections promoted 564 MB against 354 MB. What is given up: objects
 * that do live long are copied once more before they reach the old
 * generation.
 *
 * Flags set at run time apply to the collections and code that follow, so
 * `pso serve` calls this before it loads the handler module; a server made
 * in code calls it when it is made, after the application's modules, and the
 * figures above for the fetch runtime and Express were measured so.
 *
 * @example
 * ```ts
 * keepRequestsYoung();
 * const mod = await import(handlerModule);
 * ```
 */
export function keepRequestsYoung(options: HeapOptions = {}): void {
  if (done || options.keepRequestsYoung === false) return;
  done = true;
  const chosen = process.execArgv.some((arg) => /allocation[-_]site[-_]pretenuring/.test(arg));
  // Loaded here, not imported: a CGI script (which never serves long) does not pay for node:v8.
  if (!chosen) (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString('--no-allocation-site-pretenuring');
}
