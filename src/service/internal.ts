/**
 * Symbols for the few members hosts and the core share but handlers should not
 * call. @internal
 */
export const kAttachSession = Symbol('pso.attachSession');
export const kFinish = Symbol('pso.finish');
export const kSendError = Symbol('pso.sendError');
export const kHeadCommitted = Symbol('pso.headCommitted');
export const kBeforeHead = Symbol('pso.beforeHead');
export const kPrepare = Symbol('pso.prepare');
export const kCleanup = Symbol('pso.cleanup');
export const kStoreLock = Symbol('pso.storeLock');
