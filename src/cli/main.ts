#!/usr/bin/env node
import { UsageError } from './args.js';

const HELP = `usage: pso <command> [options]

  serve <module> [--port N] [--host H] [-D NAME=VALUE ...]
        serve a handler module with node:http (default port: env PORT, else 8080)
  serve <module> --fastcgi unix:/path|HOST:PORT [--socket-mode 660] [-D NAME=VALUE ...]
        serve it over FastCGI, for Apache mod_proxy_fcgi or nginx fastcgi_pass
  bundle <handler.ts> -o <file.cgi> [--store sqlite,redis,postgres,mysql] [--shebang LINE] [--no-minify] [--no-code-cache]
        write a one-file executable CGI script (with the database stores named)
  gc [--path DIR]
        delete expired session files (default: PSOSessionFileLoader_Path, else the default directory)
  store init|gc|count <store URL>
        create a store's tables, delete its expired sessions, or count them
  help  this text
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve':
      return (await import('./serveCommand.js')).serveCommand(args);
    case 'bundle':
      return (await import('./bundleCommand.js')).bundleCommand(args);
    case 'gc':
      return (await import('./gcCommand.js')).gcCommand(args);
    case 'store':
      return (await import('./storeCommand.js')).storeCommand(args);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`pso: ${e.message}\n\n${HELP}`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`pso: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  }
});
