import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '../hosts/node-http/serve.js';
import { moduleNameOf } from '../service/moduleName.js';
import type { Handler, SessionImplClass } from '../service/ServiceHandler.js';
import { withDefaults } from '../config/directives.js';
import { UsageError, takeDirective } from './args.js';
import { FastCgiAddressError } from '../hosts/fastcgi/FastCgiAddressError.js';
import type { FastCgiServer, ServeFastCgiOptions } from '../hosts/fastcgi/serveFastCgi.js';

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

/** `pso serve <module> [--port N] [--host H] [--fastcgi unix:/path|HOST:PORT [--socket-mode MODE]] [-D NAME=VALUE ...]` */
export async function serveCommand(args: string[]): Promise<void> {
  let file: string | undefined;
  let port: number | undefined;
  let host: string | undefined;
  const fastcgi: FastCgiArgs = {};
  const directives: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (takeFastCgiArg(fastcgi, a, () => args[++i])) continue;
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
  if (fastcgi.socketMode !== undefined && fastcgi.address === undefined) throw new UsageError('--socket-mode goes with --fastcgi unix:/path');
  const options = { moduleName: moduleNameOf(file), directives: withDefaults(moduleDirectives ?? {}, { ...psoEnvironment(), ...directives }), ...(port !== undefined ? { port } : {}), ...(host ? { host } : {}), ...(sessionImpl ? { sessionImpl } : {}) };
  if (fastcgi.address !== undefined) {
    if (port !== undefined || host !== undefined) throw new UsageError('--port and --host are for HTTP; with --fastcgi, give the address there (HOST:PORT)');
    await listenFastCgi(handler, { ...options, ...(fastcgi.socketMode !== undefined ? { socketMode: fastcgi.socketMode } : {}) }, fastcgi.address, file);
    return;
  }
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

// ---- FastCGI (`--fastcgi`) ---------------------------------------------------------

/** What `--fastcgi` and `--socket-mode` gave. */
export interface FastCgiArgs {
  address?: string;
  socketMode?: number;
}

/**
 * Takes `--fastcgi ADDRESS` or `--socket-mode MODE` (octal) into `into`; false for another argument.
 *
 * @example
 * ```ts
 * if (takeFastCgiArg(fastcgi, args[i], () => args[++i])) continue;
 * ```
 */
export function takeFastCgiArg(into: FastCgiArgs, arg: string, next: () => string | undefined): boolean {
  if (arg === '--fastcgi' || arg.startsWith('--fastcgi=')) {
    const value = arg === '--fastcgi' ? next() : arg.slice(10);
    if (!value) throw new UsageError('--fastcgi needs an address: unix:/absolute/path or HOST:PORT');
    into.address = value;
    return true;
  }
  if (arg === '--socket-mode' || arg.startsWith('--socket-mode=')) {
    const value = arg === '--socket-mode' ? next() : arg.slice(14);
    if (!value || !/^0?[0-7]{3}$/.test(value)) throw new UsageError('--socket-mode needs an octal mode such as 660');
    into.socketMode = Number.parseInt(value, 8);
    return true;
  }
  return false;
}

/**
 * Serves `handler` over FastCGI on `address` in this process (a worker
 * calls it for itself), says where on standard output, and on SIGTERM or
 * SIGINT finishes the requests it has and exits.
 *
 * @example
 * ```ts
 * await listenFastCgi(handler, { moduleName: 'quick', directives: {} }, 'unix:/run/pso/quick.sock', 'dist/samples/quick.js');
 * ```
 */
export async function listenFastCgi(handler: Handler<any>, options: Omit<ServeFastCgiOptions, 'address'>, address: string, file = 'the handler'): Promise<FastCgiServer> {
  const { serveFastCgi } = await import('../hosts/fastcgi/serveFastCgi.js');
  let server: FastCgiServer;
  try {
    server = await serveFastCgi(handler, { ...options, address });
  } catch (e) {
    if (e instanceof FastCgiAddressError) throw new UsageError(e.message);
    throw e;
  }
  process.stdout.write(`pso: serving ${file} over FastCGI on ${server.address}\n`);
  const stop = () => {
    server.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}
