/**
 * pso: portable service objects. Write one request handler; run it as a CGI
 * script, from the command line, in a node:http server, as a FastCGI
 * responder, as Express/Connect middleware or behind a fetch handler, with a
 * session on every request.
 *
 * This entry point is what handlers, session policies and stores use. Hosts'
 * request classes are in `pso-ts/hosts`, directive parsers in `pso-ts/config`,
 * the database stores in `pso-ts/stores/<name>`.
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

// The bootstrap and the request bridge.
export { ServiceHandler, type RunOptions } from './ServiceHandler.js';
export { ServiceCore, type Handler, type HandlerOptions, type SessionImplClass } from './service/ServiceCore.js';
export { ServiceRequest, type ServiceRequestInit, type RedirectStatus, type SessionBinding, type ConnectionFacts } from './service/ServiceRequest.js';
export type { UrlParams } from './service/buildUrl.js';
export { isMain, moduleNameOf } from './service/moduleName.js';
export { HttpError, InvalidHeaderError, HeadersSentError, ServiceReturn } from './service/errors.js';
export { CsrfError, type CsrfCheck } from './service/csrf/CsrfError.js';
export type { CsrfMode, CsrfOption } from './service/csrf/csrfSettings.js';
export type { ReadOnlyOption } from './service/sessionMode.js';
export { OK, HTTP_NOT_FOUND, HTTP_FORBIDDEN, HTTP_INTERNAL_SERVER_ERROR, reasonPhrase } from './service/status.js';
export type { FormInput } from './service/forms/FormInput.js';
export type { UploadedFile } from './service/forms/UploadedFile.js';

// Hosts: how a handler is served.
export { createRequestListener, type ServeOptions, type PsoServer } from './hosts/node-http/serve.js';
export { serve } from './hosts/node-http/listenHttp.js';
export { TIMEOUT_DEFAULTS, type ServerTimeouts } from './hosts/ServerTimeouts.js';
export { serveFastCgi, type ServeFastCgiOptions, type FastCgiServer } from './hosts/fastcgi/serveFastCgi.js';
export { createFetchHandler, type FetchHandlerOptions } from './hosts/fetch/createFetchHandler.js';
export { psoMiddleware, type MiddlewareOptions } from './hosts/express/psoMiddleware.js';
export { psoSession, type PsoSessionRequest } from './hosts/express/psoSession.js';

// The session and its policies (the How-To's classes).
export { Session, type SessionHost, type SessionTimeouts, type LoginDetails } from './session/Session.js';
export type { UserBinding } from './session/users/userBinding.js';
export type { UserSessionInfo } from './session/users/liveSessions.js';
export type { RevokeOptions } from './session/users/UserSessions.js';
export { type JsonValue, type SessionData, SessionDataError } from './session/json.js';
export { SessionImpl, type SaveHints, type OpenOptions } from './session/SessionImpl.js';
export type { PolicyHooks } from './session/policyHooks.js';
export { SessionReadOnlyError, type ReadOnlyReason } from './session/SessionReadOnlyError.js';
export type { FlashMessage } from './session/flash.js';
export { CookieSession, type UrlSessionMode } from './session/CookieSession.js';
export { CookieStoreImpl } from './session/CookieStoreImpl.js';
export { CookieFileImpl } from './session/CookieFileImpl.js';
export { UrlFileImpl } from './session/UrlFileImpl.js';
export type { SessionRequest } from './session/SessionRequest.js';
export type { OpenSession, HeldLock } from './session/OpenSession.js';
export { type SessionIdGenerator, RandomSessionIdGenerator } from './session/SessionIdGenerator.js';
export { SessionError, type SessionErrorKind } from './session/SessionError.js';
export { SessionStoreError } from './session/SessionStoreError.js';
export { SessionBusyError } from './session/locks/SessionBusyError.js';
export { KeyedMutex, type Release } from './session/locks/KeyedMutex.js';

// Stores.
export { type SessionStore, type LockedRecord } from './session/stores/SessionStore.js';
export type { UserIndex, IndexedSession } from './session/stores/UserIndex.js';
export { StoreUnavailableError } from './session/stores/StoreUnavailableError.js';
export { type SessionRecord, CorruptSessionError, serializeRecord, parseRecord } from './session/SessionRecord.js';
export { FileStore, collectSessionFiles, type FileStoreOptions, type CollectOptions } from './session/stores/FileStore.js';
export type { FsOps } from './util/fs.js';
export { MemoryStore, type MemoryStoreOptions } from './session/stores/MemoryStore.js';
export { CookieStore, type CookieStoreOptions, type OpenedCookie, MAX_COOKIE_BYTES } from './session/stores/CookieStore.js';
export type { CookieKey } from './session/identity/cookieSeal.js';
export { ConnectStore, type ConnectStoreOptions, type ConnectSessionStore, type ConnectSession, type ConnectCallback } from './session/stores/ConnectStore.js';
export { registerStore, openStore, closeStores, type StoreFactory } from './session/stores/registry.js';

// Configuration and wiring.
export { ConfigurationError } from './config/ConfigurationError.js';
export { DIRECTIVES, type DirectiveName, type DirectiveSource } from './config/directives.js';
export { TOKENS } from './container/tokens.js';
export { createContainer } from './container/createContainer.js';
export { bindDefaults } from './container/defaultBindings.js';
export { injectableSubclass } from './container/injectableSubclass.js';
export type { Logger, LogLevel } from './logging/Logger.js';
export { StderrLogger } from './logging/StderrLogger.js';
export { FileLogger } from './logging/FileLogger.js';
