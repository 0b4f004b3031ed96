/** What a host knows of the connection, for the CGI variables it derives. */
export interface ConnectionFacts {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: string | undefined;
  readonly serverAddress?: string | undefined;
  readonly serverPort?: string | undefined;
  readonly serverName?: string | undefined;
  readonly protocol?: string | undefined;
}

/** What {@link cgiVariable} reads of a request. */
export interface CgiSource {
  readonly method: string;
  readonly path: string;
  readonly queryString: string;
  header(name: string): string | undefined;
  secure(): boolean;
}

/**
 * The request header a CGI variable carries (RFC 3875 §4.1.18), lower case:
 * `HTTP_USER_AGENT` is `user-agent`.
 *
 * @example
 * ```ts
 * headerOfVariable('HTTP_X_FORWARDED_PROTO'); // 'x-forwarded-proto'
 * ```
 */
export function headerOfVariable(key: string): string {
  return key.slice(5).toLowerCase().replace(/_/g, '-');
}

/**
 * The CGI variable of a request header: `User-Agent` is `HTTP_USER_AGENT`.
 *
 * @example
 * ```ts
 * variableOfHeader('x-test'); // 'HTTP_X_TEST'
 * ```
 */
export function variableOfHeader(name: string): string {
  return `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * A CGI meta-variable (RFC 3875 §4.1) derived from a request, for hosts that
 * are not CGI, so that `getEnviron('HTTP_USER_AGENT')` or
 * `getEnviron('REMOTE_ADDR')` read alike everywhere. `connection` is asked
 * only for the variables that need it.
 */
export function cgiVariable(request: CgiSource, key: string, connection: () => ConnectionFacts): string | undefined {
  if (key.startsWith('HTTP_')) return request.header(headerOfVariable(key));
  switch (key) {
    case 'REQUEST_METHOD': return request.method;
    case 'QUERY_STRING': return request.queryString;
    case 'PATH_INFO': return request.path;
    case 'SCRIPT_NAME': return '';
    case 'REQUEST_URI': return request.queryString ? `${request.path}?${request.queryString}` : request.path;
    case 'CONTENT_TYPE': return request.header('content-type');
    case 'CONTENT_LENGTH': return request.header('content-length');
    case 'REMOTE_ADDR': return connection().remoteAddress;
    case 'REMOTE_PORT': return connection().remotePort;
    case 'SERVER_ADDR': return connection().serverAddress;
    case 'SERVER_PORT': return connection().serverPort;
    case 'SERVER_NAME': return connection().serverName ?? (request.header('host') ?? 'localhost').replace(/:\d+$/, '');
    case 'SERVER_PROTOCOL': return connection().protocol;
    case 'HTTPS': return request.secure() ? 'on' : undefined;
  }
  return undefined;
}
