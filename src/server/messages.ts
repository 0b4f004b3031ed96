import { ListenError } from './ListenError.js';
import { ModuleLoadError } from './ModuleLoadError.js';
import type { ProcessConfig } from './ServeConfig.js';

/**
 * What the primary of `pso serve` tells a worker: start serving with this
 * config (and this umask, the primary's own being narrowed for a unix
 * socket), or stop, letting requests in progress run for up to `graceMs`.
 */
export type ToWorker =
  | { pso: 'start'; config: ProcessConfig; umask: number }
  | { pso: 'stop'; graceMs: number }
  /** The answer to `closed`: no connection will be handed to the worker any more. */
  | { pso: 'exit-ok' };

/** What a worker tells its primary: it is ready to be told what to serve, it listens, or it cannot (and why, as an error to show). */
export type FromWorker =
  | { pso: 'ready' }
  | { pso: 'listening'; url: string }
  | { pso: 'failed'; error: SentError }
  /** Its listener is closed; it waits for `exit-ok` before it exits. */
  | { pso: 'closed' }
  /** Its last message, written just before it exits. */
  | { pso: 'exiting' };

/** A {@link ModuleLoadError} or {@link ListenError}, as it crosses the IPC channel. */
export type SentError =
  | { kind: 'load'; module: string; reason: string; fix: string }
  | { kind: 'listen'; address: string; reason: string; fix: string };

/**
 * The form of an error a worker sends; undefined for errors that are not a user's to fix.
 *
 * @example
 * ```ts
 * const sent = toSent(new ModuleLoadError('app.ts', 'no such file', 'check the path'));
 * ```
 */
export function toSent(e: unknown): SentError | undefined {
  if (e instanceof ModuleLoadError) return { kind: 'load', module: e.module, reason: e.reason, fix: e.fix };
  if (e instanceof ListenError) return { kind: 'listen', address: e.address, reason: e.reason, fix: e.fix };
  return undefined;
}

/**
 * The error a worker sent, as its class again (so the primary exits as a
 * single process would have).
 *
 * @example
 * ```ts
 * throw fromSent(message.error);
 * ```
 */
export function fromSent(sent: SentError): ModuleLoadError | ListenError {
  return sent.kind === 'load' ? new ModuleLoadError(sent.module, sent.reason, sent.fix) : new ListenError(sent.address, sent.reason, sent.fix);
}
