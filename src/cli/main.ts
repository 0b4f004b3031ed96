#!/usr/bin/env node
import { ConfigurationError } from '../config/ConfigurationError.js';
import { UsageError } from './args.js';
import { ListenError } from '../server/ListenError.js';
import { ModuleLoadError } from '../server/ModuleLoadError.js';
import { WorkerFailure } from '../server/WorkerFailure.js';

const HELP = `usage: pso <command> [options]

  serve <module> [--listen HOST:PORT|unix:/path.sock] [--workers N|auto] [--watch] [--*-timeout S] [-D NAME=VALUE ...]
        serve a handler module (.js, or .ts compiled with esbuild) with node:http
          --listen       where: HOST:PORT, PORT, or unix:/path/to.sock (also --port N, --host H;
                         default 127.0.0.1, port env PORT, else 8080)
          --socket-mode  permissions of the unix socket (default 0660)
          --workers      processes sharing the address (default 1; auto = one per CPU); a worker
                         that dies is replaced; SIGHUP reloads the module with new workers
          --grace S      seconds requests in progress get on SIGTERM/SIGINT or a reload (default 10)
          --watch        reload when the module or a file it imports changes
          --fastcgi A    speak FastCGI instead of HTTP, on HOST:PORT or unix:/path (for nginx
                         fastcgi_pass or Apache mod_proxy_fcgi); works with --workers
          --headers-timeout S     a request's head must arrive within S seconds (default 30)
          --request-timeout S     a request with its body within S seconds (default 300)
          --send-timeout S        a client that takes none of its answer for S seconds is
                                  cut off (default 60; with --fastcgi, the web server)
          --keep-alive-timeout S  an idle kept-alive connection is closed after S seconds (default 5)
                                  (the head, request and keep-alive timeouts are HTTP's: with
                                  --fastcgi the web server in front times its clients)
  bundle <handler.ts> -o <file.cgi> [--store sqlite,redis,postgres,mysql] [--node-modules DIR] [--shebang LINE] [--no-minify] [--no-code-cache]
        write a one-file executable CGI script (with the database stores named)
  gc [--path DIR]
        delete expired session files (default: PSOSessionFileLoader_Path, else the default directory)
  store init|gc|count <store URL>
        create a store's tables (and those of its index of users' sessions), delete its
        expired sessions, or count them
  sessions list --user NAME [--service ID] [--store URL | --path DIR] [--json]
        the live sessions of a user: handle, login, last seen, expiry, user agent
  sessions revoke --user NAME [--except HANDLE ...] [--service ID] [--store URL | --path DIR]
        end every session of a user (log out everywhere), or all but the handles named;
        the service is --service, else PSOServiceId; the store --store, --path, else
        PSOSessionStore or PSOSessionFileLoader_Path, as for a handler
  help  this text
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  // `pso serve --help` (or any command's) is the help, not an unknown option.
  if (command !== undefined && (args.includes('--help') || args.includes('-h'))) {
    process.stdout.write(HELP);
    return;
  }
  switch (command) {
    case 'serve':
      return (await import('./serveCommand.js')).serveCommand(args);
    case 'bundle':
      return (await import('./bundleCommand.js')).bundleCommand(args);
    case 'gc':
      return (await import('./gcCommand.js')).gcCommand(args);
    case 'store':
      return (await import('./storeCommand.js')).storeCommand(args);
    case 'sessions':
      return (await import('./sessionsCommand.js')).sessionsCommand(args);
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
  } else if (e instanceof ModuleLoadError) {
    process.stderr.write(`pso: ${e.message}\n`);
    process.exitCode = 2;
  } else if (e instanceof ListenError || e instanceof WorkerFailure || e instanceof ConfigurationError || (e instanceof Error && e.name === 'NotUserSessionError')) {
    process.stderr.write(`pso: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`pso: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  }
});
