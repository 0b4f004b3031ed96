/**
 * A view of session data that reads like the data and refuses every change,
 * nested objects and arrays included (`view.cart.push(x)` is refused too):
 * `refuse` is called with what was tried and must throw.
 *
 * @example
 * ```ts
 * const view = readOnlyView(data, (what) => { throw new SessionReadOnlyError('released', what); });
 * view.cart[0]; // reads
 * view.cart.push(1); // throws: cannot change "cart" ...
 * ```
 */
export function readOnlyView<T extends object>(data: T, refuse: (what: string) => never): T {
  const views = new WeakMap<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    let view = views.get(value);
    if (!view) {
      const changing = (key: string | symbol) => {
        const name = path || String(key);
        return refuse(name ? `change ${JSON.stringify(name)}` : 'change the session data');
      };
      view = new Proxy(value, {
        get: (target, key, receiver) => wrap(Reflect.get(target, key, receiver), path || String(key)),
        set: (_target, key) => changing(key),
        defineProperty: (_target, key) => changing(key),
        deleteProperty: (_target, key) => changing(key),
        setPrototypeOf: () => changing(''),
        preventExtensions: () => changing(''),
      });
      views.set(value, view);
    }
    return view;
  };
  return wrap(data, '') as T;
}
