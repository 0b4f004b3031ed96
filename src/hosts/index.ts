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
export { ServerDirectives } from '../config/ServerDirectives.js';
export { cgiVariable, headerOfVariable, variableOfHeader, type CgiSource } from '../service/cgiVariables.js';
