import type { Container } from 'inversify';
import { StderrLogger } from '../logging/StderrLogger.js';
import { CookieFileImpl } from '../session/CookieFileImpl.js';
import { KeyedMutex } from '../session/locks/KeyedMutex.js';
import { RandomSessionIdGenerator } from '../session/SessionIdGenerator.js';
import { TOKENS } from './tokens.js';

/**
 * Binds pso's defaults: every one can be replaced with
 * `container.rebind(TOKENS.X)`.
 *
 * | token | default |
 * |---|---|
 * | `TOKENS.Logger` | {@link StderrLogger} |
 * | `TOKENS.SessionIdGenerator` | {@link RandomSessionIdGenerator} |
 * | `TOKENS.SessionMutex` | {@link KeyedMutex} |
 * | `TOKENS.SessionImpl` | {@link CookieFileImpl} |
 */
export function bindDefaults(container: Container): void {
  container.bind(TOKENS.Logger).to(StderrLogger).inSingletonScope();
  container.bind(TOKENS.SessionIdGenerator).to(RandomSessionIdGenerator).inSingletonScope();
  container.bind(TOKENS.SessionMutex).to(KeyedMutex).inSingletonScope();
  container.bind(TOKENS.SessionImpl).to(CookieFileImpl).inSingletonScope();
}
