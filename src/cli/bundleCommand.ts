import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from './args.js';

/** Options of {@link bundleHandler}. */
export interface BundleOptions {
  /** The handler module (TypeScript or JavaScript). */
  entry: string;
  /** The executable to write. */
  outfile: string;
  /** The interpreter line (default `#!/usr/bin/env node`). */
  shebang?: string;
  /** Minify (default true). */
  minify?: boolean;
}

/**
 * Bundles a handler module and everything it imports into one executable
 * file (shebang, mode 0755), so that a CGI request loads a single file
 * instead of resolving hundreds of modules.
 *
 * @example
 * ```ts
 * await bundleHandler({ entry: 'samples/quick.ts', outfile: '/srv/cgi/quick.cgi' });
 * ```
 */
export async function bundleHandler(options: BundleOptions): Promise<{ bytes: number }> {
  const esbuild = await import('esbuild');
  const outfile = resolve(options.outfile);
  const result = await esbuild.build({
    entryPoints: [resolve(options.entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    // CommonJS: Node runs a file with an unknown extension (.cgi) as CommonJS.
    format: 'cjs',
    minify: options.minify ?? true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
    // `isMain(import.meta.url)` must see the bundle's own path.
    define: { 'import.meta.url': '__pso_import_meta_url' },
    banner: {
      js: `${options.shebang ?? '#!/usr/bin/env node'}\nvar __pso_import_meta_url=require("url").pathToFileURL(__filename).href;`,
    },
  });
  const code = result.outputFiles[0]!.contents;
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, code);
  await chmod(outfile, 0o755);
  return { bytes: code.byteLength };
}

/** `pso bundle <handler.ts> -o <file.cgi>` */
export async function bundleCommand(args: string[]): Promise<void> {
  let entry: string | undefined;
  let outfile: string | undefined;
  let shebang: string | undefined;
  let minify = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-o' || a === '--outfile') outfile = args[++i];
    else if (a === '--shebang') shebang = args[++i];
    else if (a === '--no-minify') minify = false;
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (entry === undefined) entry = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (!entry || !outfile) throw new UsageError('usage: pso bundle <handler.ts> -o <file.cgi>');
  const { bytes } = await bundleHandler({ entry, outfile, minify, ...(shebang ? { shebang } : {}) });
  process.stdout.write(`pso: wrote ${outfile} (${bytes} bytes)\n`);
}
