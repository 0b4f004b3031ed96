import { CgiRequest, type CgiRequestInit } from '../cgi/CgiRequest.js';
import type { SessionData } from '../../session/json.js';

/** The request a command line describes. */
export interface ScriptArgs {
  method: string;
  path: string;
  query: string[];
  cookie: string | undefined;
  headers: [string, string][];
  help: boolean;
}

/** Raised for a command line the script host cannot read. */
export class ScriptUsageError extends Error {
  override name = 'ScriptUsageError';
}

/**
 * Reads a script host's command line: `name=value` words become the query
 * string; `--method`, `--path`, `--query`, `--cookie`, `--header` describe the rest.
 *
 * @example
 * ```ts
 * parseScriptArgs(['--cookie', 'quick=abc', 'page=2']);
 * ```
 */
export function parseScriptArgs(argv: readonly string[]): ScriptArgs {
  const args: ScriptArgs = { method: 'GET', path: '/', query: [], cookie: undefined, headers: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new ScriptUsageError(`${flag} needs a value (see --help)`);
      return next;
    };
    switch (flag) {
      case '-h': case '--help': args.help = true; break;
      case '-X': case '--method': args.method = value().toUpperCase(); break;
      case '--path': args.path = value(); break;
      case '-q': case '--query': args.query.push(value().replace(/^\?/, '')); break;
      case '-b': case '--cookie': args.cookie = args.cookie ? `${args.cookie}; ${value()}` : value(); break;
      case '-H': case '--header': {
        const h = value();
        const colon = h.indexOf(':');
        if (colon < 1) throw new ScriptUsageError(`--header expects "Name: value", got ${JSON.stringify(h)}`);
        args.headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
        break;
      }
      default:
        if (arg.startsWith('-')) throw new ScriptUsageError(`unknown option ${arg} (see --help)`);
        args.query.push(arg);
    }
  }
  if (!/^[A-Z]+$/.test(args.method)) throw new ScriptUsageError(`invalid method ${JSON.stringify(args.method)}`);
  return args;
}

/**
 * The script host: a handler run from a terminal, as the How-To's
 * `./test.cgi`. It builds a CGI environment from the command line and prints
 * the headers (with the session cookie), a blank line and the body.
 * Directives come from the environment, as under CGI.
 */
export class ScriptRequest<D extends object = SessionData> extends CgiRequest<D> {
  constructor(init: Omit<CgiRequestInit, 'env'> & { env: NodeJS.ProcessEnv; args: ScriptArgs }) {
    const { args } = init;
    const env: NodeJS.ProcessEnv = {
      ...init.env,
      REQUEST_METHOD: args.method,
      QUERY_STRING: args.query.join('&') || init.env.QUERY_STRING || '',
      SCRIPT_NAME: '',
      PATH_INFO: args.path,
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: 'localhost',
      REMOTE_ADDR: '127.0.0.1',
    };
    if (args.cookie !== undefined) env.HTTP_COOKIE = args.cookie;
    for (const [name, value] of args.headers) {
      const key = name.toLowerCase();
      if (key === 'content-type') env.CONTENT_TYPE = value;
      else if (key === 'content-length') env.CONTENT_LENGTH = value;
      else env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = value;
    }
    super({ ...init, env });
  }

  protected override get newline(): string {
    return '\n';
  }

  /** Like the How-To's example output: no status line unless it is not 200. */
  protected override statusLine(status: number, reason: string): string | undefined {
    return status === 200 ? undefined : `Status: ${status} ${reason}`;
  }

  /** The `--help` text. */
  static usage(name: string): string {
    return `usage: ${name} [options] [name=value ...]

Runs the handler once, as a CGI script would, and prints the response.
name=value words become the query string. Directives (PSOServiceId,
PSOSessionExpire, PSOSessionFileLoader_Path, ...) are read from the environment.

  -X, --method METHOD   request method (default GET)
      --path PATH       request path (default /)
  -q, --query QUERY     query string to add (a=1&b=2)
  -b, --cookie COOKIES  Cookie header (name=value; name2=value2)
  -H, --header 'N: V'   a request header (repeatable)
  -h, --help            this text
`;
  }
}
