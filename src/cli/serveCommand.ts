import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '../hosts/node-http/serve.js';
import { moduleNameOf } from '../service/moduleName.js';
import type { Handler, SessionImplClass } from '../service/ServiceHandler.js';
import { withDefaults } from '../config/directives.js';
import { UsageError, takeDirective } from './args.js';

/**
 * Loads a handler module: its `handler` export, else its default export. The
 * module's own "run when main" part does not run (as with mod_python).
 */
export async function loadHandlerModule(
  file: string,
): Promise<{ handler: Handler<any>; sessionImpl?: SessionImplClass; directives?: Record<string, string> }> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const handler = (mod.handler ?? mod.default) as Handler<any> | undefined;
  if (typeof handler !== 'function') {
    throw new UsageError(`${file} exports no handler: export a function named "handler" (or a default export)`);
  }
  const loaded: { handler: Handler<any>; sessionImpl?: SessionImplClass; directives?: Record<string, string> } = { handler };
  if (mod.sessionImpl !== undefined) loaded.sessionImpl = mod.sessionImpl as SessionImplClass;
  if (mod.directives !== undefined) loaded.directives = mod.directives as Record<string, string>;
  return loaded;
}

/** `pso serve <module> [--port N] [--host H] [-D NAME=VALUE ...]` */
export async function serveCommand(args: string[]): Promise<void> {
  let file: string | undefined;
  let port: number | undefined;
  let host: string | undefined;
  const directives: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--port' || a === '-p') port = Number(args[++i]);
    else if (a.startsWith('--port=')) port = Number(a.slice(7));
    else if (a === '--host') host = args[++i];
    else if (a === '-D' || a === '--directive') takeDirective(directives, args[++i]);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (file === undefined) file = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (!file) throw new UsageError('pso serve needs a handler module, e.g. pso serve dist/samples/quick.js');
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError('--port needs a number from 0 to 65535');
  const { handler, sessionImpl, directives: moduleDirectives } = await loadHandlerModule(file);
  const options = { moduleName: moduleNameOf(file), directives: withDefaults(moduleDirectives ?? {}, { ...psoEnvironment(), ...directives }), ...(port !== undefined ? { port } : {}), ...(host ? { host } : {}), ...(sessionImpl ? { sessionImpl } : {}) };
  const server = await serve(handler, options);
  process.stdout.write(`pso: serving ${file} on ${server.url}\n`);
  const stop = () => {
    server.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The PSO* variables of this process's environment: like SetEnv, they override a module's defaults. */
function psoEnvironment(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('PSO') && v !== undefined) out[k] = v;
  return out;
}
