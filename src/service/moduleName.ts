import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Whether the module at `url` is the program's entry point: the How-To's
 * `if __name__ == '__main__'`. `pso serve` loads a handler module without
 * running that part, as mod_python did.
 *
 * @example
 * ```ts
 * export function handler(request: ServiceRequest) { ... }
 * if (isMain(import.meta.url)) new ServiceHandler().run(handler);
 * ```
 */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  if (!entry || !url.startsWith('file:')) return false;
  const self = fileURLToPath(url);
  // The same path is the same file (a bundle's usual case: no file system call); else through links.
  if (resolve(entry) === self) return true;
  try {
    return realpathSync(entry) === realpathSync(self);
  } catch {
    return resolve(entry) === self;
  }
}

/**
 * The name of a module file without directory and extension, the default
 * service id: `/srv/cgi/quick.cgi` gives `quick`, and so does `quick.fcgi`
 * (the same script under mod_fcgid keeps its sessions).
 *
 * @example
 * ```ts
 * moduleNameOf('/srv/cgi/quick.fcgi'); // 'quick'
 * ```
 */
export function moduleNameOf(file: string | undefined): string {
  if (!file) return 'pso';
  return basename(file).replace(/(\.(c|m)?[jt]sx?|\.f?cgi|\.py)+$/i, '') || 'pso';
}
