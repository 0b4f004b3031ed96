import { readFlag, type DirectiveSource } from '../../config/directives.js';

/** What the origin check reads of a request. */
export interface OriginSource extends DirectiveSource {
  getRequestHeader(name: string): string | undefined;
}

/**
 * Why a browser's request must be refused as coming from another site or
 * origin, or `undefined` when it may pass. `Sec-Fetch-Site`, which browsers
 * set themselves, decides when it came: `same-origin` and `none` (typed, a
 * bookmark) pass. Without it, an `Origin` must name this host (`Host`, or
 * `X-Forwarded-Host` with `PSOTrustProxy on`). A request with neither header
 * is not from a current browser, and is left to the token. An origin listed
 * in `PSOCsrfTrustedOrigins` passes.
 *
 * @example
 * ```ts
 * originProblem(request, []); // 'the browser says it came from another site (Sec-Fetch-Site: cross-site, Origin: https://evil.example)'
 * ```
 */
export function originProblem(request: OriginSource, trusted: readonly string[]): string | undefined {
  const origin = request.getRequestHeader('origin')?.trim();
  if (origin !== undefined && trusted.length > 0 && trusted.includes(normalized(origin))) return undefined;
  const site = request.getRequestHeader('sec-fetch-site')?.trim().toLowerCase();
  const from = origin === undefined ? '' : `, Origin: ${origin}`;
  if (site !== undefined && site !== '') {
    if (site === 'same-origin' || site === 'none') return undefined;
    const where = site === 'same-site' ? 'another origin of this site (another port or subdomain)' : site === 'cross-site' ? 'another site' : 'somewhere it does not name';
    return `the browser says the request came from ${where} (Sec-Fetch-Site: ${site}${from}); list the origin in PSOCsrfTrustedOrigins if it is yours`;
  }
  if (origin === undefined) return undefined;
  if (origin === 'null') return 'the request came from a page without an origin (Origin: null: a sandboxed frame, a file, or a redirect from another site)';
  const host = hostOf(request);
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `the Origin header ${JSON.stringify(origin)} is not an origin`;
  }
  if (host !== undefined && originHost.toLowerCase() === host.toLowerCase()) return undefined;
  return `Origin ${origin} is not this site (${host === undefined ? 'the request has no Host header' : `Host: ${host}`}); list the origin in PSOCsrfTrustedOrigins if it is yours`;
}

/** The host the client asked for: `Host`, or the first `X-Forwarded-Host` behind a trusted proxy. */
function hostOf(request: OriginSource): string | undefined {
  if (readFlag(request, 'PSOTrustProxy')) {
    const forwarded = request.getRequestHeader('x-forwarded-host')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return request.getRequestHeader('host')?.trim() || undefined;
}

function normalized(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}
