// Reading responses alike in the CGI and contract suites.
import assert from 'node:assert/strict';

/** The count the quick sample prints ("You reloaded: N times"). */
export function reloadCount(body: string): number {
  const m = /You reloaded: (\d+) times/.exec(body);
  assert.ok(m, `unexpected body: ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/** The one Set-Cookie of cookie `name`: its value and its attributes, names in lower case. */
export function setCookieOf(headers: { getSetCookie(): string[] }, name: string): { value: string; attrs: Map<string, string> } {
  const all = headers.getSetCookie().filter((c) => c.startsWith(`${name}=`));
  assert.equal(all.length, 1, `expected one ${name} cookie, got ${JSON.stringify(headers.getSetCookie())}`);
  const [pair, ...rest] = all[0]!.split(';').map((s) => s.trim());
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const eq = a.indexOf('=');
    attrs.set((eq < 0 ? a : a.slice(0, eq)).toLowerCase(), eq < 0 ? '' : a.slice(eq + 1));
  }
  return { value: pair!.slice(name.length + 1), attrs };
}
