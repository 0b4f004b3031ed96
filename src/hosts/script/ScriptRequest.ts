import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CgiRequest, type CgiRequestInit } from '../cgi/CgiRequest.js';
import { variableOfHeader } from '../../service/cgiVariables.js';
import type { SessionData } from '../../session/json.js';

/** The request a command line describes. */
export interface ScriptArgs {
  method: string;
  path: string;
  query: string[];
  cookie: string | undefined;
  headers: [string, string][];
  /** `-d` bodies, joined with `&` into an urlencoded body. */
  data: string[];
  /** `-F` fields (`name=value`, or `name=@path` for a file), sent as multipart/form-data. */
  form: string[];
  /** Whether `-X` was given (a body otherwise makes the method POST). */
  methodGiven: boolean;
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
  const args: ScriptArgs = { method: 'GET', path: '/', query: [], cookie: undefined, headers: [], data: [], form: [], methodGiven: false, help: false };
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
      case '-X': case '--method': args.method = value().toUpperCase(); args.methodGiven = true; break;
      case '-d': case '--data': args.data.push(value()); break;
      case '-F': case '--form': {
        const f = value();
        if (f.indexOf('=') < 1) throw new ScriptUsageError(`--form expects name=value or name=@file, got ${JSON.stringify(f)}`);
        args.form.push(f);
        break;
      }
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
  /** The body `-d` or `-F` made, which standard input does not carry. */
  readonly #body: Buffer | undefined;

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
    const body = requestBody(args);
    if (body) {
      if (!args.methodGiven) env.REQUEST_METHOD = 'POST';
      env.CONTENT_TYPE = body.type;
      env.CONTENT_LENGTH = String(body.bytes.byteLength);
    }
    for (const [name, value] of args.headers) {
      const key = name.toLowerCase();
      if (key === 'content-type') env.CONTENT_TYPE = value;
      else if (key === 'content-length') env.CONTENT_LENGTH = value;
      else env[variableOfHeader(name)] = value;
    }
    super({ ...init, env });
    this.#body = body?.bytes;
  }

  protected override bodyChunks(): AsyncIterable<Uint8Array> {
    if (this.#body === undefined) return super.bodyChunks();
    const body = this.#body;
    return (async function* () {
      if (body.byteLength > 0) yield body;
    })();
  }

  protected override async drainInput(): Promise<void> {
    if (this.#body === undefined) await super.drainInput();
  }

  protected override get newline(): string {
    return '\n';
  }

  /** A terminal or a pipeline keeps its standard output until the script ends. */
  protected override get endsOutputBeforeExit(): boolean {
    return false;
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
  -d, --data A=1&B=2    an urlencoded form body (repeatable; makes it a POST)
  -F, --form NAME=VALUE a multipart form field; NAME=@PATH uploads a file
                        (repeatable; makes it a POST)
  -h, --help            this text
`;
  }
}

/** Where a boundary line goes, in the parts of a `-F` body before the boundary is chosen. */
const BOUNDARY = Buffer.alloc(0);

/** The body `-d` or `-F` describe, if any; a `-H Content-Type` given too wins for `-d`. */
function requestBody(args: ScriptArgs): { bytes: Buffer; type: string } | undefined {
  if (args.form.length > 0) {
    const parts: Buffer[] = [];
    for (const field of args.form) {
      const eq = field.indexOf('=');
      const name = field.slice(0, eq).replace(/["\r\n]/g, '_');
      const value = field.slice(eq + 1);
      if (value.startsWith('@')) {
        const path = value.slice(1);
        let content: Buffer;
        try {
          content = readFileSync(path);
        } catch (e) {
          throw new ScriptUsageError(`--form ${name}=@${path}: ${(e as Error).message}`);
        }
        const filename = basename(path).replace(/["\r\n]/g, '_');
        parts.push(BOUNDARY, Buffer.from(`\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`), content, Buffer.from('\r\n'));
      } else {
        parts.push(BOUNDARY, Buffer.from(`\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
      }
    }
    // Made after the content, so it can be checked not to occur in it (no crypto module needed).
    let boundary: string;
    do boundary = `----pso-script-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
    while (parts.some((p) => p.includes(boundary)));
    const bytes = Buffer.concat(parts.map((p) => (p === BOUNDARY ? Buffer.from(`--${boundary}`) : p)));
    return { bytes: Buffer.concat([bytes, Buffer.from(`--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
  }
  if (args.data.length > 0) {
    const given = args.headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1];
    return { bytes: Buffer.from(args.data.join('&')), type: given ?? 'application/x-www-form-urlencoded' };
  }
  return undefined;
}
