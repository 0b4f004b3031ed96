import { ConfigurationError } from '../config/ConfigurationError.js';

/** RFC 6265 §4.1.1 cookie-name = token (RFC 2616 §2.2). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** CGI meta-variables (RFC 3875 §4.1): a service id must not collide with them. */
const CGI_VARIABLES = new Set([
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'GATEWAY_INTERFACE', 'PATH_INFO', 'PATH_TRANSLATED',
  'QUERY_STRING', 'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_IDENT', 'REMOTE_USER', 'REQUEST_METHOD',
  'SCRIPT_NAME', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SOFTWARE', 'PATH', 'HTTPS',
  'DOCUMENT_ROOT', 'SCRIPT_FILENAME', 'REQUEST_URI', 'REMOTE_PORT', 'SERVER_ADDR',
]);

/** Whether a client could set a variable of this name (`HTTP_*` and the CGI meta-variables). */
export function isClientVariable(name: string): boolean {
  return /^HTTP_/i.test(name) || CGI_VARIABLES.has(name.toUpperCase());
}

/**
 * A `PSOServiceId` value as a service id: trimmed, unquoted, a cookie name of
 * at most 64 characters that no client can set as a CGI variable.
 *
 * @throws ConfigurationError naming the directive and what is wrong.
 * @example
 * ```ts
 * serviceIdFrom("'MyPSOTest'"); // 'MyPSOTest'
 * ```
 */
export function serviceIdFrom(raw: string): string {
  const id = raw.trim().replace(/^(["'])(.*)\1$/, '$2');
  if (!COOKIE_NAME.test(id) || id.length > 64) {
    throw new ConfigurationError('PSOServiceId', raw, 'a service id must be a cookie name: up to 64 letters, digits and !#$%&\'*+-.^_`|~');
  }
  if (isClientVariable(id)) {
    throw new ConfigurationError('PSOServiceId', raw, 'a service id must not be a CGI variable name, which a client could set');
  }
  return id;
}

/**
 * Makes a cookie name out of a module name: characters a cookie name cannot
 * hold become `_`.
 *
 * @example
 * ```ts
 * cookieNameFrom('my page'); // 'my_page'
 * ```
 */
export function cookieNameFrom(name: string): string {
  const cleaned = name.replace(/[^!#$%&'*+\-.^_`|~0-9A-Za-z]/g, '_').slice(0, 64);
  return cleaned === '' ? 'PSO_SESSION' : cleaned;
}

/** A session id forced by a directive: safe in file names and cookies. */
const FORCED_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The service ids of requests: `PSOServiceId`, else the module's name made a
 * cookie name; each value checked once (a server asks on every request).
 */
export class ServiceIds {
  readonly #fromDirective = new Map<string, string>();
  readonly #fromModule = new Map<string, string>();

  /** @throws ConfigurationError when `PSOServiceId` is not a valid cookie name. */
  of(request: { readonly moduleName: string; getEnviron(key: string): string | undefined }): string {
    const raw = request.getEnviron('PSOServiceId');
    if (raw === undefined || raw === '') return remember(this.#fromModule, request.moduleName, cookieNameFrom);
    return remember(this.#fromDirective, raw, serviceIdFrom);
  }
}

/**
 * The session id a directive named by the service id forces (the How-To's
 * `SetEnv MyService 0123abc`), or `undefined`; never one a client could set.
 *
 * @throws ConfigurationError when it is not 1 to 128 letters, digits, `-` or `_`.
 */
export function forcedIdOf(serviceId: string, getEnviron: (key: string) => string | undefined): string | undefined {
  if (isClientVariable(serviceId)) return undefined;
  const raw = getEnviron(serviceId);
  if (raw === undefined || raw === '') return undefined;
  if (!FORCED_ID.test(raw)) throw new ConfigurationError(serviceId, raw, 'a forced session id must be 1 to 128 letters, digits, "-" or "_"');
  return raw;
}

/** A value made once per input and kept (a bounded cache). */
function remember(cache: Map<string, string>, input: string, make: (input: string) => string): string {
  let value = cache.get(input);
  if (value === undefined) {
    value = make(input);
    if (cache.size > 64) cache.clear();
    cache.set(input, value);
  }
  return value;
}
