import 'reflect-metadata/lite';
import { injectable, injectFromBase } from 'inversify';

const CLASS_METADATA = '@inversifyjs/core/classMetadataReflectKey';

/**
 * Makes a subclass of a pso class constructible by the container without
 * decorators, so the How-To's recipes read as they do in Python:
 * `class MyFileImpl extends CookieFileImpl { static override PATH = '/tmp/path1/'; }`.
 * Classes that carry their own inversify decorators are returned unchanged.
 * `ServiceHandler.run(handler, { sessionImpl })` calls it for you.
 *
 * @example
 * ```ts
 * container.rebind(TOKENS.SessionImpl).to(injectableSubclass(MyFileImpl)).inSingletonScope();
 * ```
 */
export function injectableSubclass<T extends abstract new (...args: any[]) => unknown>(cls: T): T {
  if (!Reflect.hasOwnMetadata(CLASS_METADATA, cls)) {
    injectable()(cls);
    injectFromBase({ extendConstructorArguments: true, extendProperties: true })(cls);
  }
  return cls;
}
