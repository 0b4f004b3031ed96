/**
 * The hosts' request classes, for writing a host of your own or driving one
 * directly: each translates its server's native request and response to a
 * `ServiceRequest` and back (`pso-ts/hosts`).
 *
 * @example
 * ```ts
 * import { NodeHttpRequest } from 'pso-ts/hosts';
 * ```
 * @module
 */
export { CgiRequest, type CgiRequestInit } from './cgi/CgiRequest.js';
export type { CgiOutput } from './cgi/CgiOutput.js';
export { ScriptRequest, parseScriptArgs, ScriptUsageError, type ScriptArgs } from './script/ScriptRequest.js';
export { NodeHttpRequest, type NodeHttpRequestInit } from './node-http/NodeHttpRequest.js';
export { FetchRequest, type FetchRequestInit } from './fetch/FetchRequest.js';
export { FastCgiRequest, type FastCgiRequestInit } from './fastcgi/FastCgiRequest.js';
export { createFastCgiServer, type FastCgiServerOptions, type FastCgiServerHandle } from './fastcgi/createFastCgiServer.js';
export { FastCgiConnection, FASTCGI_DEFAULTS, type FastCgiConnectionOptions, type FastCgiLimits } from './fastcgi/FastCgiConnection.js';
export { FastCgiExchange, type ExchangeOwner } from './fastcgi/FastCgiExchange.js';
export { FastCgiProtocolError } from './fastcgi/FastCgiProtocolError.js';
export { FastCgiAbortedError } from './fastcgi/FastCgiAbortedError.js';
export { FastCgiAddressError } from './fastcgi/FastCgiAddressError.js';
export { parseFastCgiAddress, formatFastCgiAddress, type FastCgiAddress } from './fastcgi/fastCgiAddress.js';
export { stdinListens } from './fastcgi/stdinListens.js';
export { watchSending } from './watchSending.js';
export { ServerDirectives } from '../config/ServerDirectives.js';
export { cgiVariable, headerOfVariable, variableOfHeader, type CgiSource } from '../service/cgiVariables.js';
