/** A command line pso cannot read. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Adds `NAME=VALUE` to `directives`. */
export function takeDirective(directives: Record<string, string>, arg: string | undefined): void {
  const eq = arg?.indexOf('=') ?? -1;
  if (!arg || eq < 1) throw new UsageError(`-D expects NAME=VALUE, got ${JSON.stringify(arg ?? '')}`);
  directives[arg.slice(0, eq)] = arg.slice(eq + 1);
}
