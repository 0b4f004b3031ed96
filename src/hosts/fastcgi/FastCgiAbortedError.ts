/**
 * A FastCGI request ended before its body was read: the web server aborted
 * it (FCGI_ABORT_REQUEST) or closed its connection. Reading the body throws
 * it; the request's response is dropped.
 *
 * @example
 * ```ts
 * try { for await (const c of exchange.body()) use(c); } catch (e) { if (e instanceof FastCgiAbortedError) return; throw e; }
 * ```
 */
export class FastCgiAbortedError extends Error {
  override name = 'FastCgiAbortedError';
}
