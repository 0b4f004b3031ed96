/** Query parameters that carry a secret in a store URL, by lower-case name. */
const SECRET_PARAMETERS = /^(password|passwd|pass|pwd|sslpassword|secret|token|auth|authtoken|access_?key|api_?key|private_?key)$/i;

/**
 * A store URL for messages and logs: its password, and every query parameter
 * that carries a secret (`password`, `pass`, `pwd`, `sslpassword`, ...), masked.
 *
 * @example
 * ```ts
 * redact(new URL('postgres://app:s3cret@db/app?sslpassword=x')); // 'postgres://app:***@db/app?sslpassword=***'
 * ```
 */
export function redact(url: URL): string {
  const params = [...url.searchParams];
  const secret = params.some(([k]) => SECRET_PARAMETERS.test(k));
  if (!url.password && !secret) return url.href;
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  if (secret) {
    // In place, in order; URLSearchParams would write `***` as `%2A%2A%2A`.
    copy.search = params.map(([k, v]) => `${encodeURIComponent(k)}=${SECRET_PARAMETERS.test(k) ? '***' : encodeURIComponent(v)}`).join('&');
  }
  return copy.href;
}

/**
 * A store setting as it may be shown: the URL redacted when it parses, and
 * otherwise never the text itself (it may hold a password that made it
 * unparsable), only its scheme when one can be seen and its length.
 *
 * @example
 * ```ts
 * redactText('redis://:p@ss word@host'); // 'redis://… (a URL that cannot be parsed, 23 characters)'
 * ```
 */
export function redactText(text: string): string {
  try {
    return redact(new URL(text));
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]{0,20}:/i.exec(text.trim())?.[0];
    return `${scheme ? `${scheme}//…` : '…'} (a URL that cannot be parsed, ${text.length} characters)`;
  }
}
