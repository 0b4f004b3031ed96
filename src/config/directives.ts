import { ConfigurationError } from './ConfigurationError.js';
import { MAX_LIFETIME_SECONDS, parseExpiry, parseSeconds, type Expiry } from './expiry.js';
import { parseHttpDate } from './httpDate.js';
import { directiveKey } from './DirectiveIndex.js';

/**
 * Every directive pso reads, with what it means. Under CGI they come from the
 * environment (Apache `SetEnv` in `.htaccess` or `httpd.conf`); under a
 * persistent server from `options.directives`, then from `process.env` for
 * names starting with `PSO`.
 */
export const DIRECTIVES = {
  PSOServiceId: 'Cookie name and session namespace. Default: the handler module\'s name.',
  PSOSessionExpire:
    'Session lifetime: seconds, an integer expression ("15*60") or an HTTP date. Default: when the browser closes.',
  PSOSessionExpires: 'Same as PSOSessionExpire (the name the original code read).',
  PSOSessionIdleTimeout:
    'Seconds a session is kept on the server after its last request. Default: 86400 (one day) for browser-lifetime sessions, none for the others.',
  PSOSessionAbsoluteTimeout: 'Seconds a session lasts at most from its creation, however active. Default: none.',
  PSOSessionLazy:
    'on (default): a new session is stored, and its cookie sent, only once it holds data (or save(), regenerate() or expire() asks for it); off: every visitor gets a stored session and a cookie.',
  PSOSessionFileLoader_Path: 'Directory of the session files. Default: CookieFileImpl.PATH.',
  PSOSessionMaxSize:
    'Largest session data kept, in bytes (or with k, m): a bigger session is not saved (a 500 that says so), and a bigger stored one is not read (a new session, a log line). Default 1m.',
  PSOSessionStore:
    'Where sessions are kept, as a URL: file:///dir, memory:, sqlite:///path.db, redis://host:6379/0, postgres://..., mysql://... Default: files.',
  PSOSessionStoreTimeout: 'Seconds one store operation may take before the request gets 503 (stores in the process, memory: and files with direct calls, keep no deadline). Default 5.',
  PSOSessionFileLoader_Fsync: 'on: fsync every session write so it survives a power cut. Default off.',
  PSOSessionLock:
    'Per-session lock of the file store: "auto" (default: across processes, with a lock beside each session file, so servers, workers, FastCGI processes and CGI scripts can share a directory; a server keeps a session\'s lock and open file between its requests, and gives them up when another process asks, so a session used again by the same process costs one write), "file" (the same lock, taken and given back by every request: for a directory shared with processes of an earlier pso, which do not ask for a kept lock), "process" (inside one process only: for a directory no other process uses).',
  PSOSessionFileIO:
    'How a server makes the file store\'s calls: "sync" (default: each load and save is a few direct system calls, the cheapest on a local disk) or "async" (through the thread pool, for a session directory on a network file system whose calls may stall). CGI processes always call directly.',
  PSOSessionFileFormat:
    'How the file store writes a session: "slots" (default: two versions in one file, the older rewritten in place, a torn write detected by its checksum) or "json" (one JSON document per file, replaced by a rename: what earlier versions of pso write, for a directory shared with them while they are upgraded). Both are always read.',
  PSOSessionLockTimeout: 'Seconds to wait for a busy session before answering 503. Default 10.',
  PSOSessionReadOnly:
    'on: sessions are opened read-only: no lock is taken and nothing is saved, so a long request never holds up the same visitor\'s others (a change is an error that says so). The handler option readOnlySession wins. Default off.',
  PSOSessionHeader:
    'A request header that carries the session id for API clients: X-Session-Id, or Authorization for "Bearer <id>"; optionally followed by the response header new ids go back in (default: the same, X-Session-Id for Authorization). Default off: cookies only.',
  PSOSessionCacheControl:
    'The Cache-Control a response gets when it sets the session or shows a stored one, unless the handler set its own (as PHP\'s session.cache_limiter); off: none. Default "private, no-store".',
  PSOCsrf:
    'CSRF checks of unsafe requests (POST, PUT, PATCH, DELETE, ...): "origin" (default: one a browser says came from another site or origin, with the session cookie, is refused), "on" (also a token from request.csrfToken() in the form field or header), "off". The handler option csrf wins.',
  PSOCsrfField: 'The form field the CSRF token comes in. Default csrf.',
  PSOCsrfHeader: 'The request header the CSRF token comes in. Default X-CSRF-Token.',
  PSOCsrfTrustedOrigins: 'Origins (scheme://host[:port], separated by spaces) whose requests pass the CSRF origin check. Default: none.',
  PSOSessionGCProbability: 'Chance (0..1) that a request also collects expired session files. Default 0.01.',
  PSOSessionGCInterval: 'Seconds a persistent server waits at least between two collections of expired sessions, however busy it is. Default 60.',
  PSOLog: 'Absolute path of a file that request.log() lines and pso\'s own messages are appended to, instead of the container\'s logger (standard error by default).',
  PSODebug: 'on: error responses include the error and its stack. Default off.',
  PSOTrustProxy: 'on: believe X-Forwarded-Proto from the proxy in front of this server. Default off.',
  PSOMaxBodySize: 'Largest request body pso reads whole (urlencoded forms, body()), in bytes (or with k, m, g). Default 1m.',
  PSOMaxUploadSize: 'Largest multipart/form-data body, files included. Default 64m.',
  PSOMaxFileSize: 'Largest uploaded file. Default 32m.',
  PSOMaxFiles: 'Most files in one request. Default 20.',
  PSOMaxFields: 'Most form fields in one request, query string included. Default 1000.',
  PSOMaxFieldSize: 'Largest form field value. Default 1m.',
  PSOUploadDir: 'Absolute path of the directory uploads are written to while the request lasts. Default: pso-uploads-<uid> in the system temporary directory (0700). A directory another user owns or can write is refused.',
  PSOFormParse: 'off: a form body is read only when the handler awaits request.form(). Default on (read before the handler runs).',
  PSOSessionUrl:
    'Sessions without cookies: "off" (default), "on" (cookie and URL: ids in mkurl() links when no cookie came back), "only" (URL only).',
  PSOSessionSecret: 'Secret(s) that sign session ids (HMAC-SHA256), separated by spaces: the first signs, all verify. Default: unsigned.',
  PSOSessionRotateGrace:
    'Seconds an id that regenerate() (or PSOSessionRotate) replaced still leads to the new session, so that parallel requests and a lost response do not log the user out; 0: the old id ends at once. login() and destroy() never leave one. Default 5, at most 300.',
  PSOSessionRotate: 'Seconds after which a session\'s id is replaced on its next request (the old one leads to the new for PSOSessionRotateGrace). Default: never.',
  PSOSessionCookieKeys:
    'Keys of the cookie store (PSOSessionStore cookie:), at least 32 characters each, separated by spaces: the first seals (AES-256-GCM), all open, so keys can be rotated; removing one ends every session sealed with it.',
  'PSOCookieSession_Path': 'Cookie Path. Default /.',
  'PSOCookieSession_Domain': 'Cookie Domain. Default: none (the host only).',
  'PSOCookieSession_Secure': 'Cookie Secure: on, off or auto (on over HTTPS). Default auto.',
  'PSOCookieSession_HttpOnly': 'Cookie HttpOnly: on or off. Default on.',
  'PSOCookieSession_SameSite': 'Cookie SameSite: Strict, Lax or None (None needs Secure). Default Lax.',
  'PSOCookieSession_Partitioned': 'Cookie Partitioned (CHIPS): on or off (on needs Secure). Default off.',
  'PSOCookieSession_Priority': 'Cookie Priority: Low, Medium or High. Default: none.',
  'PSOCookieSession_Max-Age': 'Session lifetime in seconds, as PSOSessionExpire (which wins when both are set).',
  'PSOCookieSession_expires': 'Session end as an HTTP date, as PSOSessionExpire (which wins when both are set).',
  'PSOCookieSession_Comment': 'Cookie Comment (RFC 2109; ignored by current browsers).',
  'PSOCookieSession_Version': 'Cookie Version (RFC 2109; ignored by current browsers).',
} as const;

/** A directive name from {@link DIRECTIVES}. */
export type DirectiveName = keyof typeof DIRECTIVES;

/** Anything directives can be read from: a request's environment. */
export interface DirectiveSource {
  getEnviron(key: string): string | undefined;
  /** Case-insensitive lookup, where the source has it. */
  getDirective?(key: string): string | undefined;
}

const expiryCache = new Map<string, Expiry>();
const secondsCache = new Map<string, number>();

/**
 * Typed, validated reads of the directives of one request. Parsing results are
 * cached per value, so a server parses each configured value once.
 *
 * @example
 * ```ts
 * const expiry = readExpiry(request); // { kind: 'after', seconds: 900 } for "15*60"
 * ```
 */
export function readExpiry(source: DirectiveSource): Expiry {
  let name: DirectiveName = 'PSOSessionExpire';
  let raw = source.getEnviron(name);
  if (raw === undefined) {
    name = 'PSOSessionExpires';
    raw = source.getEnviron(name);
  }
  // The cookie's own lifetime directives set the session's, so the two never drift apart.
  if (raw === undefined) {
    name = 'PSOCookieSession_Max-Age';
    raw = source.getDirective?.(name) ?? source.getEnviron(name);
    // Max-Age is a number of seconds, never a date.
    if (raw !== undefined && raw.trim() !== '') return { kind: 'after', seconds: readSeconds({ getEnviron: () => raw }, name, 0) };
  }
  if (raw === undefined) {
    name = 'PSOCookieSession_expires';
    raw = source.getDirective?.(name) ?? source.getEnviron(name);
    if (raw !== undefined && raw.trim() !== '' && parseHttpDate(raw) === undefined) {
      throw new ConfigurationError(name, raw, 'expected an HTTP date such as "Mon, 12 Nov 2002 13:04:56 GMT"');
    }
  }
  if (raw === undefined) return { kind: 'browser' };
  const key = `${name}\0${raw}`;
  let expiry = expiryCache.get(key);
  if (!expiry) {
    expiry = parseExpiry(raw, name);
    if (expiry.kind === 'at' && expiry.time > Date.now() + MAX_LIFETIME_SECONDS * 1000) {
      throw new ConfigurationError(name, raw, 'a date more than ten years ahead');
    }
    if (expiryCache.size > 256) expiryCache.clear();
    expiryCache.set(key, expiry);
  }
  return expiry;
}

/** Reads a duration directive in seconds, or `fallback` when it is not set. */
export function readSeconds(source: DirectiveSource, name: DirectiveName, fallback: number): number {
  return readOptionalSeconds(source, name) ?? fallback;
}

/** Reads a duration directive in seconds, or `undefined` when it is not set. */
export function readOptionalSeconds(source: DirectiveSource, name: DirectiveName): number | undefined {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return undefined;
  const key = `${name}\0${raw}`;
  let seconds = secondsCache.get(key);
  if (seconds === undefined) {
    seconds = parseSeconds(raw, name);
    if (secondsCache.size > 256) secondsCache.clear();
    secondsCache.set(key, seconds);
  }
  return seconds;
}

/** Reads an on/off directive (on, off, true, false, yes, no, 1, 0). */
export function readFlag(source: DirectiveSource, name: DirectiveName, fallback = false): boolean {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  return parseFlag(name, raw);
}

/**
 * Parses an on/off value (on, off, true, false, yes, no, 1, 0).
 *
 * @throws ConfigurationError naming the directive and the value.
 */
export function parseFlag(name: string, raw: string): boolean {
  switch (raw.trim().toLowerCase()) {
    case 'on': case 'true': case 'yes': case '1':
      return true;
    case 'off': case 'false': case 'no': case '0':
      return false;
    default:
      throw new ConfigurationError(name, raw, 'expected on or off');
  }
}

/** Reads a directive that must be one of `choices`. */
export function readChoice<T extends string>(source: DirectiveSource, name: DirectiveName, choices: readonly T[], fallback: T): T {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = raw.trim().toLowerCase() as T;
  if (!choices.includes(v)) throw new ConfigurationError(name, raw, `expected one of ${choices.join(', ')}`);
  return v;
}

/** Reads a size in bytes (digits, optionally followed by k, m or g for KiB, MiB, GiB). */
export function readBytes(source: DirectiveSource, name: DirectiveName, fallback: number): number {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(raw.trim());
  if (!m) throw new ConfigurationError(name, raw, 'expected a size in bytes, such as 1048576 or 1m');
  const n = Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
  if (!Number.isSafeInteger(n)) throw new ConfigurationError(name, raw, 'too large');
  return n;
}

/** Reads a probability in 0..1. */
export function readProbability(source: DirectiveSource, name: DirectiveName, fallback: number): number {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isFinite(n) || n < 0 || n > 1 || raw.trim() === '') {
    throw new ConfigurationError(name, raw, 'expected a number from 0 to 1');
  }
  return n;
}

/**
 * `given` directives (the environment, `-D`) over `defaults`. A
 * `PSOCookieSession_*` given in another case, or with `_` for `-`, still
 * replaces its default, as those names are read that way.
 *
 * @example
 * ```ts
 * withDefaults({ PSOCookieSession_SameSite: 'Strict' }, { psocookiesession_samesite: 'Lax' }); // only the Lax one
 * ```
 */
export function withDefaults<T extends string | undefined>(
  defaults: Readonly<Record<string, string>>,
  given: Readonly<Record<string, T>>,
): Record<string, string | T> {
  const shadowed = new Set(Object.keys(given).filter((n) => /^psocookiesession_/i.test(n)).map(directiveKey));
  const kept = Object.entries(defaults).filter(([n]) => !shadowed.has(directiveKey(n)));
  return { ...Object.fromEntries(kept), ...given };
}
