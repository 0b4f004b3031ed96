import { withDefaults } from '../config/directives.js';
import type { ServeOptions } from '../hosts/node-http/serve.js';
import { closeStores } from '../session/stores/registry.js';
import type { ListeningServer } from './Listen.js';
import { LISTENERS } from './listeners.js';
import { loadHandlerModule } from './loadHandlerModule.js';
import type { ProcessConfig } from './ServeConfig.js';
import { keepRequestsYoung } from '../util/servingHeap.js';

/** How long the session stores' connections get to close after the last request. */
const STORE_CLOSE_MS = 2000;

/**
 * Loads the handler module and serves it in this process (alone, or as one
 * worker of several), with the server `config.listener` names.
 *
 * @example
 * ```ts
 * const server = await startServing(config);
 * console.log(`serving on ${server.url}`);
 * ```
 */
export async function startServing(config: ProcessConfig): Promise<ListeningServer> {
  keepRequestsYoung();
  // Stack traces of a compiled TypeScript module point into its sources (a JavaScript one is left as node runs it).
  if (config.importPath !== config.source) process.setSourceMapsEnabled(true);
  const mod = await loadHandlerModule(config.importPath, config.module, config.source);
  const options: ServeOptions = {
    moduleName: config.moduleName,
    directives: withDefaults(mod.directives ?? {}, { ...psoEnvironment(), ...config.directives }),
    ...(mod.sessionImpl ? { sessionImpl: mod.sessionImpl } : {}),
    ...(mod.csrf !== undefined ? { csrf: mod.csrf } : {}),
    ...(mod.readOnlySession !== undefined ? { readOnlySession: mod.readOnlySession } : {}),
    timeouts: config.timeouts,
  };
  const listen = await LISTENERS[config.listener]();
  return listen(mod.handler, options, config.address);
}

/**
 * Stops serving: no new connections, requests in progress finish (for up to
 * `graceMs`), then the session stores' connections are closed.
 *
 * @example
 * ```ts
 * process.once('SIGTERM', async () => { await stopServing(server, 10_000); process.exit(0); });
 * ```
 */
export async function stopServing(server: ListeningServer | undefined, graceMs: number): Promise<void> {
  await server?.close(graceMs);
  await Promise.race([closeStores().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, STORE_CLOSE_MS).unref())]);
}

/** The PSO* variables of this process's environment: like SetEnv, they override a module's defaults. */
function psoEnvironment(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('PSO') && v !== undefined) out[k] = v;
  return out;
}
