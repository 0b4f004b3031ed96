import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Message, Plugin } from 'esbuild';
import { ModuleLoadError } from './ModuleLoadError.js';

/** Source files esbuild compiles; everything else is loaded by node itself. */
export const COMPILED = /\.(?:[cm]?tsx?|jsx)$/;

/** A marker on the resolutions this plugin asks esbuild for, so it does not handle them again. */
const OWN = Symbol('pso.resolve');

/**
 * Leaves to node every import that is not TypeScript source (packages, the
 * project's JavaScript, node's modules), by its resolved path: node loads
 * them as it would for a JavaScript handler, once per process, so a class or
 * a module's state is the same for the handler as for pso (a copy of pso
 * bundled in would make `instanceof HttpError` false). TypeScript sources,
 * which node cannot load, are compiled into the one output module, each
 * keeping its own `import.meta.url`.
 */
function compileTypeScriptOnly(): Plugin {
  return {
    name: 'pso-typescript-only',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === OWN || args.kind === 'entry-point') return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const found = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: OWN, with: args.with });
        if (found.errors.length > 0) return { errors: found.errors };
        if (!found.external && (COMPILED.test(found.path) || found.path.endsWith('.json'))) return { path: found.path, namespace: found.namespace, sideEffects: found.sideEffects };
        return { path: found.path, external: true };
      });
      // The output module lives elsewhere: each source's import.meta is its own file's.
      build.onLoad({ filter: COMPILED }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        const values: Record<string, string> = { url: pathToFileURL(args.path).href, filename: args.path, dirname: dirname(args.path) };
        const contents = source.replace(/\bimport\.meta\.(url|filename|dirname)\b/g, (_, key: string) => JSON.stringify(values[key]));
        const ext = /\.[cm]?(tsx?|jsx)$/.exec(args.path)![1] as 'ts' | 'tsx' | 'jsx';
        return { contents, loader: ext };
      });
    },
  };
}

/**
 * Compiles a TypeScript handler module (and the TypeScript it imports) into
 * one ES module at `outfile`, which node can import from anywhere: the
 * imports left to node are written as absolute paths. A source error is a
 * {@link ModuleLoadError} naming the file, line and column.
 *
 * @example
 * ```ts
 * await buildTypeScript('handler.ts', '/tmp/pso-serve-x/handler.1.mjs', 'handler.ts');
 * const mod = await import(pathToFileURL('/tmp/pso-serve-x/handler.1.mjs').href);
 * ```
 */
export async function buildTypeScript(entry: string, outfile: string, shownAs: string): Promise<void> {
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // node's own resolution: no bundler-only "module" condition or field.
      conditions: [],
      mainFields: ['main'],
      // Stack traces point into the TypeScript (node maps them with source maps enabled).
      sourcemap: 'inline',
      sourcesContent: false,
      write: false,
      logLevel: 'silent',
      plugins: [compileTypeScriptOnly()],
    });
  } catch (e) {
    throw buildFailure(e as { errors?: Message[] }, shownAs);
  }
  await writeFile(outfile, result.outputFiles[0]!.text, { mode: 0o600 });
}

/** The first error of a failed build, as one line. */
export function buildFailure(e: { errors?: Message[]; message?: string }, shownAs: string): ModuleLoadError {
  const first = e.errors?.[0];
  if (!first) return new ModuleLoadError(shownAs, e.message ?? String(e), 'correct the module');
  const at = first.location ? `${relative(process.cwd(), first.location.file) || first.location.file}:${first.location.line}:${first.location.column + 1}` : undefined;
  const unresolved = /^Could not resolve "([^"]+)"/.exec(first.text);
  const more = e.errors!.length > 1 ? ` (and ${e.errors!.length - 1} more error${e.errors!.length > 2 ? 's' : ''})` : '';
  if (unresolved) {
    const spec = unresolved[1]!;
    const pkg = /^[./]/.test(spec) ? undefined : spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    return new ModuleLoadError(shownAs, `${at ? `${at}: ` : ''}cannot find "${spec}"${more}`, pkg ? `install it (npm install ${pkg}), or correct the import` : `correct the import${at ? ` at ${at}` : ''}`);
  }
  return new ModuleLoadError(shownAs, `${at ? `${at}: ` : ''}${first.text}${more}`, `correct the source${at ? ` at ${at}` : ''}`);
}
