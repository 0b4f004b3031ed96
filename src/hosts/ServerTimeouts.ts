/**
 * How long a persistent server waits on a client, in milliseconds: what
 * bounds a slow or stalled one (slowloris headers, a body that trickles, a
 * client that stops reading its answer), so that it holds a connection for
 * a while at most and a session never.
 *
 * @example
 * ```ts
 * const timeouts: ServerTimeouts = { ...TIMEOUT_DEFAULTS, sendMs: 30_000 };
 * ```
 */
export interface ServerTimeouts {
  /** From a connection's first byte of a request to the end of its head (node:http `headersTimeout`). */
  readonly headersMs: number;
  /** From the first byte of a request to the end of its body (node:http `requestTimeout`). */
  readonly requestMs: number;
  /** While a response waits to be sent and the client takes none of it: then the connection is closed. */
  readonly sendMs: number;
  /** How long a kept-alive connection may wait, idle, for its next request (node:http `keepAliveTimeout`). */
  readonly keepAliveMs: number;
}

/**
 * The defaults: a head within 30 s (real clients send it at once), a request
 * with its body within 5 minutes (uploads on slow links), 60 s without the
 * client taking any of its answer (nginx's `send_timeout`), 5 s idle between
 * requests (node:http's own).
 */
export const TIMEOUT_DEFAULTS: ServerTimeouts = {
  headersMs: 30_000,
  requestMs: 300_000,
  sendMs: 60_000,
  keepAliveMs: 5_000,
};

/**
 * The timeouts given over the defaults, checked.
 *
 * @throws RangeError for a value that is not above 0, or a head allowed longer than its request.
 * @example
 * ```ts
 * resolveTimeouts({ sendMs: 10_000 }).headersMs; // 30000
 * ```
 */
export function resolveTimeouts(given: Partial<ServerTimeouts> | undefined): ServerTimeouts {
  const out: Record<keyof ServerTimeouts, number> = { ...TIMEOUT_DEFAULTS };
  for (const key of Object.keys(TIMEOUT_DEFAULTS) as (keyof ServerTimeouts)[]) {
    const value = given?.[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`timeouts.${key} must be a number of milliseconds above 0; got ${value}`);
    out[key] = value;
  }
  if (out.headersMs > out.requestMs) throw new RangeError(`timeouts.headersMs (${out.headersMs}) must not be longer than timeouts.requestMs (${out.requestMs}): the head is part of the request`);
  return out;
}
