import { CookieFileImpl, collectSessionFiles } from '../session/CookieFileImpl.js';
import { UsageError } from './args.js';

/** `pso gc [--path DIR]`: deletes expired session files. */
export async function gcCommand(args: string[]): Promise<void> {
  let dir = process.env.PSOSessionFileLoader_Path || CookieFileImpl.PATH;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--path') dir = args[++i] ?? '';
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (!dir) throw new UsageError('--path needs a directory');
  const removed = await collectSessionFiles(dir);
  process.stdout.write(`pso: removed ${removed} expired file(s) from ${dir}\n`);
}
