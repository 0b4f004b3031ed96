import { resolve } from 'node:path';
import type { Message } from 'esbuild';

/** What {@link findModuleFiles} finds. */
export interface ModuleFiles {
  /** The module and every file of the project it imports, directly or not (absolute paths; packages left out). */
  files: string[];
  /** The errors esbuild found reading them (a syntax error, an import of a file that does not exist). */
  errors: Message[];
}

/**
 * Follows a module's imports through the project's own files, JavaScript
 * and TypeScript, without running anything: what `--watch` watches, and
 * where a syntax error that node reports without a place is.
 *
 * @example
 * ```ts
 * const { files } = await findModuleFiles('app.ts');   // ['/srv/app/app.ts', '/srv/app/lib/db.ts']
 * ```
 */
export async function findModuleFiles(entry: string): Promise<ModuleFiles> {
  const esbuild = await import('esbuild');
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const files = Object.keys(result.metafile.inputs).filter((f) => !f.includes(':')).map((f) => resolve(f));
    return { files, errors: [] };
  } catch (e) {
    return { files: [resolve(entry)], errors: (e as { errors?: Message[] }).errors ?? [] };
  }
}
