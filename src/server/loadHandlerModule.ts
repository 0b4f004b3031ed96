import { isAbsolute, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Handler, HandlerOptions, SessionImplClass } from '../service/ServiceCore.js';
import { buildFailure } from './buildTypeScript.js';
import { findModuleFiles } from './findModuleFiles.js';
import { ModuleLoadError } from './ModuleLoadError.js';

/** What a handler module gives `pso serve`. */
export interface HandlerModule {
  /** Its `handler` export, else its default export. */
  handler: Handler<any>;
  /** Its `sessionImpl` export: the session policy. */
  sessionImpl?: SessionImplClass;
  /** Its `directives` export: defaults the environment and `-D` override. */
  directives?: Record<string, string>;
  /** Its `csrf` export: the handler's CSRF checks (`HandlerOptions.csrf`). */
  csrf?: HandlerOptions['csrf'];
  /** Its `readOnlySession` export: read-only sessions (`HandlerOptions.readOnlySession`). */
  readOnlySession?: HandlerOptions['readOnlySession'];
}

/**
 * Imports a handler module and takes its `handler` (else its default export),
 * `sessionImpl`, `directives`, `csrf` and `readOnlySession`. The module's own "run when main" part does
 * not run (as with mod_python). Whatever goes wrong (an import that cannot
 * be found, a syntax error, an exception while the module loads, no handler)
 * is a {@link ModuleLoadError} that names the module as `shownAs` and says
 * what to change.
 *
 * @example
 * ```ts
 * const { handler, directives } = await loadHandlerModule('/srv/app/handler.js');
 * ```
 */
export async function loadHandlerModule(path: string, shownAs = path, source = path): Promise<HandlerModule> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw await explainImportFailure(e, shownAs, source);
  }
  const handler = (mod.handler ?? mod.default) as Handler<any> | undefined;
  if (typeof handler !== 'function') {
    throw new ModuleLoadError(shownAs, `it exports no handler${mod.handler !== undefined ? ' (its "handler" export is not a function)' : ''}`, 'export a function named "handler" (or a default export)');
  }
  const loaded: HandlerModule = { handler };
  if (mod.sessionImpl !== undefined) {
    if (typeof mod.sessionImpl !== 'function') throw new ModuleLoadError(shownAs, 'its "sessionImpl" export is not a class', 'export a SessionImpl subclass as sessionImpl, or nothing');
    loaded.sessionImpl = mod.sessionImpl as SessionImplClass;
  }
  if (mod.directives !== undefined) {
    if (!isStringRecord(mod.directives)) throw new ModuleLoadError(shownAs, 'its "directives" export is not an object of strings', 'export directives as { PSOName: "value", ... }');
    loaded.directives = mod.directives;
  }
  if (mod.csrf !== undefined) {
    if (!['function', 'boolean'].includes(typeof mod.csrf) && !['on', 'origin', 'off'].includes(mod.csrf as string)) {
      throw new ModuleLoadError(shownAs, `its "csrf" export is ${JSON.stringify(mod.csrf)}`, "export csrf as true, false, 'on', 'origin', 'off' or a function of the request");
    }
    loaded.csrf = mod.csrf as HandlerOptions['csrf'];
  }
  if (mod.readOnlySession !== undefined) {
    if (!['function', 'boolean'].includes(typeof mod.readOnlySession)) {
      throw new ModuleLoadError(shownAs, `its "readOnlySession" export is ${JSON.stringify(mod.readOnlySession)}`, 'export readOnlySession as a boolean or a function of the request');
    }
    loaded.readOnlySession = mod.readOnlySession as HandlerOptions['readOnlySession'];
  }
  return loaded;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}

/** One line for why importing the module failed. `source` is the module the user wrote (where a syntax error is looked for). */
async function explainImportFailure(e: unknown, shownAs: string, source: string): Promise<ModuleLoadError> {
  const error = e as NodeJS.ErrnoException;
  const message = String(error?.message ?? e);
  switch (error?.code) {
    case 'ERR_MODULE_NOT_FOUND': {
      const pkg = /^Cannot find package '([^']+)' imported from (.+)$/.exec(message);
      if (pkg) return new ModuleLoadError(shownAs, `${shown(pkg[2]!)} imports the package "${pkg[1]}", which is not installed`, `install it (npm install ${pkg[1]}), or correct the import`);
      const file = /^Cannot find module '([^']+)' imported from (.+)$/.exec(message);
      if (file) return new ModuleLoadError(shownAs, `${shown(file[2]!)} imports ${shown(file[1]!)}, which does not exist`, 'correct the import');
      break;
    }
    case 'ERR_UNKNOWN_FILE_EXTENSION':
      return new ModuleLoadError(shownAs, message, 'serve the TypeScript module itself (pso serve compiles it and what it imports), or import compiled JavaScript');
  }
  if (error instanceof SyntaxError && !/:\d+$/m.test(error.stack?.split('\n')[0] ?? '')) {
    // node says what but not where: esbuild reads the same files and tells.
    const { errors } = await findModuleFiles(source);
    if (errors.length > 0) return buildFailure({ errors }, shownAs);
    return new ModuleLoadError(shownAs, `SyntaxError: ${message}`, 'correct the syntax of the module or of what it imports');
  }
  const at = firstUserFrame(error?.stack);
  const what = error instanceof Error ? `${error.name}: ${message}` : `the value ${JSON.stringify(e)}`;
  return new ModuleLoadError(shownAs, `loading it threw ${what}${at ? ` (at ${at})` : ''}`, `make the module load without throwing${at ? `: see ${at}` : ''}`);
}

/** The first place in a stack trace that is in a file (not in node itself). */
function firstUserFrame(stack: string | undefined): string | undefined {
  for (const line of stack?.split('\n').slice(1) ?? []) {
    const m = /\(?((?:file:\/\/)?\/[^()\s]+):(\d+):(\d+)\)?$/.exec(line.trim());
    if (m) return `${shown(m[1]!)}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** A path or file URL, relative to the current directory when it is inside it. */
function shown(pathOrUrl: string): string {
  const path = pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : pathOrUrl;
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
