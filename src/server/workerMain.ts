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

async function stop(grace: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await stopServing(server, grace);
  process.exit(0);
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
});
process.on('SIGTERM', () => void stop(graceMs));
process.on('SIGINT', () => void stop(graceMs));
// A reload is the primary's: it starts new workers, then stops this one.
process.on('SIGHUP', () => undefined);
tell({ pso: 'ready' });
