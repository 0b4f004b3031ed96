/**
 * Every dependency-injection token pso uses, in one place.
 *
 * Replace a default with `container.rebind(TOKENS.X).to(MyClass)` (or
 * `.toConstantValue(...)`) on a container made by {@link createContainer}.
 *
 * @example
 * ```ts
 * const container = createContainer();
 * container.rebind(TOKENS.Logger).toConstantValue(myLogger);
 * new ServiceHandler(container).run(handler);
 * ```
 */
export const TOKENS = {
  /** The {@link Logger} that `request.log()` and pso's own messages go to. */
  Logger: Symbol.for('pso.Logger'),
  /** The {@link SessionIdGenerator} that makes new session ids. */
  SessionIdGenerator: Symbol.for('pso.SessionIdGenerator'),
  /** The {@link SessionImpl} (session policy and storage); a singleton per container. */
  SessionImpl: Symbol.for('pso.SessionImpl'),
  /** A {@link SessionStore} for {@link CookieStoreImpl} (and for the default policy, instead of files); not bound by default. */
  SessionStore: Symbol.for('pso.SessionStore'),
  /** The {@link KeyedMutex} that serialises requests for one session inside a process. */
  SessionMutex: Symbol.for('pso.SessionMutex'),
} as const;
