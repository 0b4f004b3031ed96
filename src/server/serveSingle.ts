import { HandlerSource } from './HandlerSource.js';
import type { ServeConfig } from './ServeConfig.js';
import { servingText } from './listeners.js';
import { startServing, stopServing } from './startServing.js';

/**
 * `pso serve` in one process: no primary, no workers. SIGTERM and SIGINT
 * drain it (requests in progress finish, for up to the grace period) and it
 * exits 0; a second signal ends it at once.
 *
 * @example
 * ```ts
 * await serveSingle({ module: 'handler.ts', address, listener: 'http', directives: {}, workers: 1, graceMs: 10_000, watch: false, timeouts: {} });
 * ```
 */
export async function serveSingle(config: ServeConfig): Promise<void> {
  const source = new HandlerSource(config.module);
  let server;
  try {
    const importPath = await source.prepare();
    server = await startServing({ ...config, importPath, source: source.file, moduleName: source.moduleName });
  } finally {
    // Node has read the compiled module (and its source map): the file is not needed any more.
    source.dispose();
  }
  process.stdout.write(`pso: serving ${config.module} ${servingText(config.listener, server.url)}\n`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`pso: ${signal} again: stopping now\n`);
      process.exit(1);
    }
    stopping = true;
    stopServing(server, config.graceMs).then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`pso: stopping: ${(e as Error)?.message ?? e}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => process.stderr.write('pso: SIGHUP ignored: a reload needs --workers 2 or more (or --watch), so that new workers can take over\n'));
}
