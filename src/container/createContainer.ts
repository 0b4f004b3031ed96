import 'reflect-metadata/lite';
import { Container } from 'inversify';
import { bindDefaults } from './defaultBindings.js';

/**
 * A container with pso's default bindings, ready to be changed and given to
 * {@link ServiceHandler}.
 *
 * @example
 * ```ts
 * const container = createContainer();
 * container.rebind(TOKENS.SessionImpl).to(injectableSubclass(MyFileImpl)).inSingletonScope();
 * new ServiceHandler(container).run(handler);
 * ```
 */
export function createContainer(): Container {
  const container = new Container();
  bindDefaults(container);
  return container;
}
