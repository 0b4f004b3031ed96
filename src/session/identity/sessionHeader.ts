import { ConfigurationError } from '../../config/ConfigurationError.js';
import type { SessionRequest } from '../SessionRequest.js';

/** RFC 9110 §5.1: a header name is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6750 §2.1: `Bearer 1*SP b64token`; the token is checked as an id afterwards. */
const BEARER = /^Bearer +(\S+) *$/i;
/** Response headers that carry something else, or that pso writes itself. */
const RESERVED = new Set(['set-cookie', 'cookie', 'authorization', 'content-type', 'content-length', 'location', 'status', 'transfer-encoding', 'connection', 'cache-control']);

/** Where the session id travels in headers (`PSOSessionHeader`). */
export interface SessionHeader {
  /** The request header that carries the id, lower case. */
  readonly request: string;
  /** `Authorization`: the id is the token of the `Bearer` scheme. */
  readonly bearer: boolean;
  /** The response header a new id goes back in. */
  readonly response: string;
}

const parsed = new Map<string, SessionHeader | undefined>();

/**
 * The `PSOSessionHeader` directive: a request header that carries the
 * session id (`X-Session-Id`, or `Authorization` for `Bearer <id>`), and,
 * after it, the response header new ids go back in (default: the same name;
 * `X-Session-Id` for `Authorization`). `off` or unset: cookies only.
 *
 * @throws ConfigurationError for a value that names no header, or a response header pso cannot use.
 * @example
 * ```ts
 * sessionHeaderOf(request); // { request: 'authorization', bearer: true, response: 'X-Session-Id' } for "Authorization"
 * ```
 */
export function sessionHeaderOf(request: SessionRequest): SessionHeader | undefined {
  const raw = request.getEnviron('PSOSessionHeader');
  if (raw === undefined) return undefined;
  if (parsed.has(raw)) return parsed.get(raw);
  const header = parse(raw);
  if (parsed.size > 64) parsed.clear();
  parsed.set(raw, header);
  return header;
}

function parse(raw: string): SessionHeader | undefined {
  const words = raw.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0 || (words.length === 1 && /^(off|no|false|0)$/i.test(words[0]!))) return undefined;
  const problem = (reason: string) => new ConfigurationError('PSOSessionHeader', raw, reason);
  if (words.length > 2 || !words.every((w) => TOKEN.test(w))) {
    throw problem('expected a request header name (X-Session-Id, or Authorization for "Bearer <id>"), optionally followed by the response header new ids go back in');
  }
  const name = words[0]!;
  const bearer = name.toLowerCase() === 'authorization';
  const response = words[1] ?? (bearer ? 'X-Session-Id' : name);
  if (RESERVED.has(response.toLowerCase())) throw problem(`${response} cannot carry the id in a response; name another header after ${name}`);
  if (name.toLowerCase() === 'cookie') throw problem('the Cookie header is how the session cookie travels already; name another header');
  return { request: name.toLowerCase(), bearer, response };
}

/**
 * The session id as the request's header carries it, or `undefined` when the
 * header is missing, empty, or (for `Authorization`) of another scheme.
 *
 * @example
 * ```ts
 * idInHeader(request, { request: 'authorization', bearer: true, response: 'X-Session-Id' }); // the token of "Bearer <token>"
 * ```
 */
export function idInHeader(request: SessionRequest, header: SessionHeader): string | undefined {
  const value = request.getRequestHeader(header.request)?.trim();
  if (!value) return undefined;
  if (!header.bearer) return value;
  return BEARER.exec(value)?.[1];
}
