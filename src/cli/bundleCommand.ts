import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './args.js';
import { moduleNameOf } from '../service/moduleName.js';
import { cookieNameFrom } from '../session/serviceIds.js';
import { asyncFs, makeDirectories } from '../util/fs.js';
import { sha256 } from '../util/sha256.js';
import { serializeRecord } from '../session/SessionRecord.js';

/** Options of {@link bundleHandler}. */
export interface BundleOptions {
  /** The handler module (TypeScript or JavaScript). */
  entry: string;
  /** The executable to write. */
  outfile: string;
  /**
   * The node to run, as an interpreter line (default `#!/usr/bin/env node`:
   * `node` on PATH); the script itself starts `#!/bin/sh` and `exec`s it.
   */
  shebang?: string;
  /** Minify (default true). */
  minify?: boolean;
  /**
   * pso's database stores to include (`sqlite`, `redis`, `postgres`, `mysql`),
   * so that `PSOSessionStore` can name them; default none (files and memory
   * need nothing), which keeps the script small.
   */
  stores?: readonly string[];
  /**
   * Embed a V8 code cache (default true), so that node does not compile the
   * bundle on every request. Making it runs the module once as a CGI request
   * with sessions in a temporary directory; the handler itself is not called.
   * Node ignores a cache made by another node version.
   */
  codeCache?: boolean;
  /**
   * A `node_modules` directory the bundle also looks in for native drivers
   * (`better-sqlite3`, `pg-native`) at run time, after the usual places (the
   * `node_modules` beside and above the bundle, `NODE_PATH`). Nothing is looked
   * up anywhere else unless you name it: a path of the build machine, writable
   * by another user on the server, would let them plant a driver.
   */
  nodeModules?: string;
}

/**
 * Native drivers: required at run time from the project's node_modules, never
 * bundled. The JavaScript ones (redis, pg, mysql2) of the stores asked for are
 * bundled, and compiled into the code cache with the rest.
 */
const DRIVERS = ['better-sqlite3', 'pg-native'];

/** pso's store modules, by the name `--store` takes. */
const STORE_MODULES: Readonly<Record<string, string>> = {
  sqlite: 'SqliteStore', redis: 'RedisStore', postgres: 'PostgresStore', mysql: 'MysqlStore',
};

/** Leaves the store modules not asked for out of the bundle; asking for one the registry then explains. */
function leaveOutStores(wanted: readonly string[]): import('esbuild').Plugin {
  for (const w of wanted) {
    if (!Object.hasOwn(STORE_MODULES, w)) throw new UsageError(`unknown store ${JSON.stringify(w)} (known: ${Object.keys(STORE_MODULES).join(', ')})`);
  }
  const keep = new Set(wanted.map((w) => STORE_MODULES[w]));
  return {
    name: 'pso-stores',
    setup(build) {
      build.onResolve({ filter: /^\.\/(Sqlite|Redis|Postgres|Mysql)Store\.js$/ }, (args) =>
        keep.has(args.path.slice(2, -3)) ? undefined : { path: args.path, namespace: 'pso-left-out' });
      // A left-out store fails to load as a missing module would, and the registry says how to include it.
      build.onLoad({ filter: /.*/, namespace: 'pso-left-out' }, (args) => ({
        contents: `const e = new Error(${JSON.stringify(`Cannot find module '${args.path}' (left out of this bundle)`)}); e.code = 'MODULE_NOT_FOUND'; throw e;`,
        loader: 'js',
      }));
    },
  };
}

/** The bundle runs as the body of this function, as CommonJS modules do. */
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) {';
const WRAP_TAIL = '\n})';

/**
 * Bundles a handler module and everything it imports into one executable
 * file (shebang, mode 0755), so that a CGI request loads a single file
 * instead of resolving hundreds of modules, and, with the code cache, does not
 * compile it either.
 *
 * @example
 * ```ts
 * await bundleHandler({ entry: 'samples/quick.ts', outfile: '/srv/cgi/quick.cgi' });
 * ```
 */
export async function bundleHandler(options: BundleOptions): Promise<{ bytes: number; cacheBytes: number }> {
  const esbuild = await import('esbuild');
  const outfile = resolve(options.outfile);
  const nodeModules = options.nodeModules === undefined ? undefined : resolve(options.nodeModules);
  if (nodeModules !== undefined && !existsSync(nodeModules)) throw new UsageError(`--node-modules ${nodeModules}: no such directory`);
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
    // `isMain(import.meta.url)` must see the executable's own path.
    define: { 'import.meta.url': '__pso_import_meta_url' },
    // Native drivers stay outside; they are found in the project's node_modules.
    external: DRIVERS,
    plugins: [leaveOutStores(options.stores ?? [])],
    banner: {
      js:
        'var __pso_import_meta_url=require("url").pathToFileURL(__filename).href;' +
        (nodeModules ? `module.paths.push(${JSON.stringify(nodeModules)});` : ''),
    },
  });
  const code = WRAP_HEAD + result.outputFiles[0]!.text + WRAP_TAIL;
  const cache = options.codeCache === false ? undefined : await makeCodeCache(code, outfile);
  const file = executable(code, cache ?? Buffer.alloc(0), options.shebang ?? '#!/usr/bin/env node');
  await makeDirectories(asyncFs, dirname(outfile), 0o777);
  await writeFile(outfile, file);
  await chmod(outfile, 0o755);
  return { bytes: file.byteLength, cacheBytes: cache?.byteLength ?? 0 };
}

/**
 * The executable: a shell script and a node program at once, with the bundle
 * and its code cache in a comment at its end.
 *
 * Run as a program (by a web server, mod_fcgid, or a shell), `/bin/sh` reads
 * the first lines only and `exec`s node with a small loader (`node -e`), which
 * reads the file as bytes, compiles the bundle with the cache and runs it.
 * Node itself then never parses the file: given it as a script, it would read
 * the whole of it as text and scan it (about 20 ms for a megabyte on a small
 * server, on every request). `node file.cgi` works too: line 2 is a string
 * and a comment to node, line 3 the same loader, the rest a comment.
 *
 * The comment holds the bundle (UTF-8) and then the cache (V8's bytes, as
 * they are). Where the two hold `*\/`, which would end the comment, the slash
 * is written as a zero byte, and the loader, which lists those places, puts
 * the slashes back in the bytes it read before using them.
 */
function executable(code: string, cache: Buffer, shebang: string): Buffer {
  const bundle = Buffer.from(code, 'utf8');
  const payload = Buffer.concat([bundle, cache]);
  const slashes: number[] = [];
  for (let at = payload.indexOf('*/'); at >= 0; at = payload.indexOf('*/', at + 1)) {
    payload[at + 1] = 0;
    slashes.push(at + 1);
  }
  // Single quotes would end the shell's quoting of the loader: it has none.
  const loader =
    `var P=require("path"),b=require("fs").readFileSync(f),s=b.length-3-${payload.length},e=s+${bundle.length},M=require("module"),m=new M(f,null);` +
    `for(var k of [${slashes.join(',')}])b[s+k]=47;` +
    'm.filename=f;m.paths=M._nodeModulePaths(P.dirname(f));' +
    // The loader is no option of node's for a child the handler forks (child_process.fork).
    'var x=process.execArgv.indexOf("-e");if(x>=0)process.execArgv.splice(x,2);' +
    'var r=function(i){return m.require(i)};r.resolve=function(i,o){return M._resolveFilename(i,m,false,o)};r.main=m;r.cache=M._cache;' +
    `new (require("vm").Script)(b.utf8Slice(s,e),{filename:f,cachedData:${cache.length ? 'b.subarray(e,b.length-3)' : 'undefined'}})` +
    '.runInThisContext().call(m.exports,m.exports,r,m,f,P.dirname(f))';
  const head =
    '#!/bin/sh\n' +
    `':' //; exec ${nodeCommand(shebang)} -e '(function(f){${loader}})(require("path").resolve(process.argv[1]))' "$0" "$@"\n` +
    `;(function(f){${loader}})(__filename);\n/*`;
  return Buffer.concat([Buffer.from(head, 'utf8'), payload, Buffer.from('*/\n')]);
}

/** The command that runs node, from an interpreter line: `#!/usr/bin/env node` gives `node` (found on PATH, as env would). */
function nodeCommand(shebang: string): string {
  const words = shebang.replace(/^#!/, '').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new UsageError(`--shebang ${JSON.stringify(shebang)}: no interpreter`);
  if (words.some((w) => /[^\w\/.,:=+@%-]/.test(w))) throw new UsageError(`--shebang ${JSON.stringify(shebang)}: only a path and plain options are allowed`);
  if (words[0] !== '/usr/bin/env') return words.join(' ');
  // `env node`, or `env -S node --option`: the shell finds node on PATH as env would.
  const command = words[1] === '-S' ? words.slice(2) : words.slice(1);
  if (command.length === 0) throw new UsageError(`--shebang ${JSON.stringify(shebang)}: no interpreter after env`);
  return command.join(' ');
}

/**
 * Runs the bundle once in a fresh node, as a CGI request would (a GET from a
 * returning visitor, sessions in a temporary directory, the user's handler left out),
 * and returns V8's code cache of everything that ran;
 * undefined if that fails.
 */
async function makeCodeCache(code: string, outfile: string): Promise<Buffer | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'pso-bundle-'));
  try {
    const src = join(dir, 'code.js');
    const out = join(dir, 'cache.bin');
    await writeFile(src, code);
    const trainer = `
      const vm = require('vm'), fs = require('fs'), { createRequire } = require('module');
      globalThis[Symbol.for('pso.bundle.warmUp')] = true;
      const script = new vm.Script(fs.readFileSync(${JSON.stringify(src)}, 'utf8'), { filename: ${JSON.stringify(outfile)} });
      // paths: the bundle's banner adds the project's node_modules to it, as for a real module.
      const m = { exports: {}, paths: [] };
      script.runInThisContext().call(m.exports, m.exports, createRequire(${JSON.stringify(outfile)}), m, ${JSON.stringify(outfile)}, ${JSON.stringify(dirname(outfile))});
      process.once('beforeExit', () => fs.writeFileSync(${JSON.stringify(out)}, script.createCachedData()));
    `;
    // A returning visitor, the common case: a stored session and its cookie.
    const sessions = join(dir, 'sessions');
    await mkdir(sessions, { mode: 0o700 });
    const service = cookieNameFrom(moduleNameOf(outfile));
    const id = 'W'.repeat(27);
    const now = Date.now();
    await writeFile(join(sessions, `pso_${service}_~${sha256(id)}.json`), serializeRecord({ data: {}, created: now, expires: now + 3600_000 }), { mode: 0o600 });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HTTP_COOKIE: `${service}=${id}`,
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/warm-up',
      QUERY_STRING: '',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      PSOSessionFileLoader_Path: sessions,
      PSOSessionGCProbability: '0',
    };
    // argv[1] is the executable's path, so the bundle takes itself for the program, as it will under a server.
    const r = spawnSync(process.execPath, ['-e', trainer, outfile], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    if (r.status !== 0) {
      process.stderr.write(`pso bundle: no code cache (running the module failed: ${String(r.stderr).trim().split('\n').slice(-1)[0]})\n`);
      return undefined;
    }
    return await readFile(out);
  } catch (e) {
    process.stderr.write(`pso bundle: no code cache (${(e as Error).message})\n`);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `pso bundle <handler.ts> -o <file.cgi>` */
export async function bundleCommand(args: string[]): Promise<void> {
  let entry: string | undefined;
  let outfile: string | undefined;
  let shebang: string | undefined;
  let minify = true;
  let codeCache = true;
  let nodeModules: string | undefined;
  const stores: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--store') {
      stores.push(...(args[++i] ?? '').split(',').filter(Boolean));
      continue;
    }
    if (a === '-o' || a === '--outfile') outfile = args[++i];
    else if (a === '--shebang') shebang = args[++i];
    else if (a === '--no-minify') minify = false;
    else if (a === '--no-code-cache') codeCache = false;
    else if (a === '--node-modules') {
      nodeModules = args[++i];
      if (!nodeModules) throw new UsageError('--node-modules needs a directory');
    }
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (entry === undefined) entry = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (!entry || !outfile) throw new UsageError('usage: pso bundle <handler.ts> -o <file.cgi>');
  const { bytes, cacheBytes } = await bundleHandler({ entry, outfile, minify, codeCache, stores, ...(shebang ? { shebang } : {}), ...(nodeModules ? { nodeModules } : {}) });
  process.stdout.write(`pso: wrote ${outfile} (${bytes} bytes${cacheBytes ? `, with a ${cacheBytes}-byte code cache` : ''})\n`);
  if (stores.includes('sqlite') && !nodeModules) {
    process.stdout.write(`pso: the sqlite store loads better-sqlite3 at run time from a node_modules beside or above ${outfile}, or NODE_PATH; name another with --node-modules DIR\n`);
  }
}
