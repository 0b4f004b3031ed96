/**
 * pso: portable service objects. Write one request handler; run it as a CGI
 * script, from the command line, in a node:http server, or as a FastCGI
 * responder, with a session on every request.
 *
 * @example
 * ```ts
 * import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';
 *
 * export function handler(request: ServiceRequest) {
 *   request.pso().sendHttpHeaders();
 *   const reloads = request.pso().session.increment('reloads');
 *   request.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
 * }
 *
 * if (isMain(import.meta.url)) new ServiceHandler().run(handler);
 * ```
 * @packageDocumentation
 */
import 'reflect-metadata/lite';

export { TOKENS } from './container/tokens.js';
export { createContainer } from './container/createContainer.js';
export { bindDefaults } from './container/defaultBindings.js';
export { injectableSubclass } from './container/injectableSubclass.js';

export { ConfigurationError } from './config/ConfigurationError.js';
export { DIRECTIVES, type DirectiveName, type DirectiveSource } from './config/directives.js';
export { parseExpiry, parseSeconds, MAX_LIFETIME_SECONDS, type Expiry } from './config/expiry.js';
export { evaluateArithmetic } from './config/arithmetic.js';
export { parseDateWithFormat, DateFormatError } from './config/strptime.js';
export { parseHttpDate, formatHttpDate } from './config/httpDate.js';

export type { Logger, LogLevel } from './logging/Logger.js';
export { StderrLogger } from './logging/StderrLogger.js';
export { FileLogger } from './logging/FileLogger.js';
export { formatLine } from './logging/formatLine.js';

export { ServiceHandler, type Handler, type HandlerOptions, type RunOptions, type SessionImplClass } from './service/ServiceHandler.js';
export { ServiceRequest, type ServiceRequestInit, type RedirectStatus, type ConnectionFacts } from './service/ServiceRequest.js';
export { FormInput } from './service/forms/FormInput.js';
export { UploadedFile, type UploadedFileInit } from './service/forms/UploadedFile.js';
export { FORM_DEFAULTS, readFormLimits, type FormLimits } from './service/forms/limits.js';
export { HttpError, InvalidHeaderError, HeadersSentError, ServiceReturn } from './service/errors.js';
export { OK, HTTP_NOT_FOUND, HTTP_FORBIDDEN, HTTP_INTERNAL_SERVER_ERROR, reasonPhrase } from './service/status.js';
export { isMain, moduleNameOf } from './service/moduleName.js';

export { CgiRequest, type CgiRequestInit } from './hosts/cgi/CgiRequest.js';
export type { CgiOutput } from './hosts/cgi/CgiOutput.js';
export { ScriptRequest, parseScriptArgs, ScriptUsageError, type ScriptArgs } from './hosts/script/ScriptRequest.js';
export { NodeHttpRequest, type NodeHttpRequestInit } from './hosts/node-http/NodeHttpRequest.js';
export { serve, createRequestListener, type ServeOptions, type PsoServer } from './hosts/node-http/serve.js';
export { FastCgiRequest, type FastCgiRequestInit } from './hosts/fastcgi/FastCgiRequest.js';
export { serveFastCgi, type ServeFastCgiOptions, type FastCgiServer } from './hosts/fastcgi/serveFastCgi.js';
export { createFastCgiServer, type FastCgiServerOptions, type FastCgiServerHandle } from './hosts/fastcgi/createFastCgiServer.js';
export { FastCgiConnection, FASTCGI_DEFAULTS, type FastCgiConnectionOptions, type FastCgiLimits } from './hosts/fastcgi/FastCgiConnection.js';
export { FastCgiExchange, type ExchangeOwner } from './hosts/fastcgi/FastCgiExchange.js';
export { FastCgiProtocolError } from './hosts/fastcgi/FastCgiProtocolError.js';
export { FastCgiAbortedError } from './hosts/fastcgi/FastCgiAbortedError.js';
export { FastCgiAddressError } from './hosts/fastcgi/FastCgiAddressError.js';
export { parseFastCgiAddress, formatFastCgiAddress, type FastCgiAddress } from './hosts/fastcgi/fastCgiAddress.js';
export { stdinListens } from './hosts/fastcgi/stdinListens.js';
export { FetchRequest, type FetchRequestInit } from './hosts/fetch/FetchRequest.js';
export { createFetchHandler, type FetchHandlerOptions } from './hosts/fetch/createFetchHandler.js';
export { psoMiddleware, type MiddlewareOptions } from './hosts/express/psoMiddleware.js';
export { psoSession, type PsoSessionRequest } from './hosts/express/psoSession.js';
export { ServerDirectives, directiveKey } from './config/ServerDirectives.js';

export { Session, type SessionHost, type SessionTimeouts } from './session/Session.js';
export { SessionImpl, SessionStoreError, type SaveHints, cookieNameFrom, DEFAULT_IDLE_SECONDS, DEFAULT_LOCK_TIMEOUT_SECONDS } from './session/SessionImpl.js';
export { CookieSession, type UrlSessionMode } from './session/CookieSession.js';
export { UrlFileImpl } from './session/UrlFileImpl.js';
export { CookieFileImpl, collectSessionFiles, type CollectOptions } from './session/CookieFileImpl.js';
export { asyncFs, syncFs, type FsOps } from './util/fs.js';
export { CookieStoreImpl } from './session/CookieStoreImpl.js';
export { type SessionStore, type LockedRecord, StoreUnavailableError } from './session/stores/SessionStore.js';
export { MemoryStore, type MemoryStoreOptions } from './session/stores/MemoryStore.js';
export { ConnectStore, type ConnectStoreOptions, type ConnectSessionStore, type ConnectSession, type ConnectCallback } from './session/stores/ConnectStore.js';
export { registerStore, openStore, closeStores, type StoreFactory } from './session/stores/registry.js';
export { type SessionRecord, CorruptSessionError, serializeRecord, parseRecord } from './session/SessionRecord.js';
export { type SessionIdGenerator, RandomSessionIdGenerator } from './session/SessionIdGenerator.js';
export { type JsonValue, type SessionData, SessionDataError } from './session/json.js';
export { KeyedMutex, type Release } from './session/locks/KeyedMutex.js';
export { acquireFileLock, LockLostError, type FileLock } from './session/locks/FileLock.js';
export { SessionBusyError } from './session/locks/SessionBusyError.js';
