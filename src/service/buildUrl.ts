/** Query parameters as `mkurl()` takes them. */
export type UrlParams = Record<string, string | number | boolean | readonly (string | number)[]> | URLSearchParams;

/**
 * `path` with `params` added to its query string (repeated values for an
 * array), then `decorate` given the query to add to (the session id, when it
 * travels in URLs); a `#fragment` stays last.
 *
 * @example
 * ```ts
 * buildUrl('/cart?x=1#top', { add: 42 }); // '/cart?x=1&add=42#top'
 * ```
 */
export function buildUrl(path: string, params: UrlParams = {}, decorate?: (query: URLSearchParams) => void): string {
  const hashAt = path.indexOf('#');
  const hash = hashAt < 0 ? '' : path.slice(hashAt);
  const beforeHash = hashAt < 0 ? path : path.slice(0, hashAt);
  const queryAt = beforeHash.indexOf('?');
  const query = new URLSearchParams(queryAt < 0 ? '' : beforeHash.slice(queryAt + 1));
  for (const [k, v] of params instanceof URLSearchParams ? [...params] : Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) query.append(k, String(one));
  }
  decorate?.(query);
  const q = query.toString();
  return `${queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt)}${q ? `?${q}` : ''}${hash}`;
}
