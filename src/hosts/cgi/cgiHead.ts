/**
 * A CGI response head (RFC 3875 §6.2): an optional status line
 * (`Status: 201 Created`), the header lines, a blank line; as latin1 bytes,
 * one per character (pso's header values hold nothing above U+00FF).
 *
 * @example
 * ```ts
 * cgiHead('Status: 200 OK', [['Content-Type', 'text/plain']], '\r\n'); // Status, header, blank line
 * ```
 */
export function cgiHead(statusLine: string | undefined, headers: readonly [string, string][], newline: string): Buffer {
  let head = statusLine === undefined ? '' : statusLine + newline;
  for (const [name, value] of headers) head += `${name}: ${value}${newline}`;
  return Buffer.from(head + newline, 'latin1');
}
