// The program of a `pso serve` worker process, forked by its Supervisor.
// The worker says it is ready (a message that came before its listener was
// set would be lost), the primary says what to serve, and later when to stop;
// the worker also drains on SIGTERM and SIGINT itself, which a service
// manager or a terminal sends to every process of the server at once.
import type { ListeningServer } from './Listen.js';
import { toSent, type FromWorker, type ToWorker } from './messages.js';
import { startServing, stopServing } from './startServing.js';

let server: ListeningServer | undefined;
let graceMs = 10_000;
let stopping = false;

function tell(message: FromWorker, then?: () => void): void {
  if (process.connected) process.send!(message, undefined, {}, () => then?.());
  else then?.();
}

let primaryDone: (() => void) | undefined;

/**
 * Drains, then exits once the primary can no longer hand this worker a
 * connection. node:cluster's primary hands each accepted connection to a
 * worker and waits for its answer; a connection handed over just as the
 * worker closed its listener is answered "not accepted" and goes to another
 * worker, but only if the worker is still there to answer: one that exits at
 * once loses it, and its client waits for ever. The primary's `exit-ok` comes
 * after its handling of the listener's close, and after every connection it
 * handed over before (messages keep their order), so past it nothing is lost.
 */
async function stop(grace: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Closes the listener at once (synchronously), then drains.
  const drained = stopServing(server, grace);
  const released = server && process.connected
    ? new Promise<void>((resolve) => {
      primaryDone = resolve;
      tell({ pso: 'closed' });
      // A primary that does not answer (it is gone) does not keep the worker.
      setTimeout(resolve, grace + 5000).unref();
      process.once('disconnect', resolve);
    })
    : Promise.resolve();
  await Promise.all([drained, released]);
  // The last message written means the answers before it are written too.
  tell({ pso: 'exiting' }, () => process.exit(0));
}

async function start(message: Extract<ToWorker, { pso: 'start' }>): Promise<void> {
  process.umask(message.umask);
  graceMs = message.config.graceMs;
  try {
    server = await startServing(message.config);
  } catch (e) {
    const error = toSent(e);
    if (!error) throw e;
    tell({ pso: 'failed', error }, () => process.exit(2));
    return;
  }
  if (stopping) await server.close(0);
  else tell({ pso: 'listening', url: server.url });
}

process.on('message', (message: ToWorker) => {
  if (message?.pso === 'start') void start(message);
  else if (message?.pso === 'stop') void stop(message.graceMs);
  else if (message?.pso === 'exit-ok') primaryDone?.();
});
process.on('SIGTERM', () => void stop(graceMs));
process.on('SIGINT', () => void stop(graceMs));
// A reload is the primary's: it starts new workers, then stops this one.
process.on('SIGHUP', () => undefined);
tell({ pso: 'ready' });
