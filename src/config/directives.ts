import { ConfigurationError } from './ConfigurationError.js';
import { parseExpiry, parseSeconds, type Expiry } from './expiry.js';

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
  PSOSessionLazy: 'on: a new session is stored (and its cookie sent) only once it holds data. Default off.',
  PSOSessionFileLoader_Path: 'Directory of the session files. Default: CookieFileImpl.PATH.',
  PSOSessionFileLoader_Fsync: 'on: fsync every session write so it survives a power cut. Default off.',
  PSOSessionLock:
    'Per-session lock: "file" (across processes), "process" (inside one server process), "auto" (file for CGI and scripts, process for servers). Default auto.',
  PSOSessionLockTimeout: 'Seconds to wait for a busy session before answering 503. Default 10.',
  PSOSessionGCProbability: 'Chance (0..1) that a request also collects expired session files. Default 0.01.',
  PSODebug: 'on: error responses include the error and its stack. Default off.',
} as const;

/** A directive name from {@link DIRECTIVES}. */
export type DirectiveName = keyof typeof DIRECTIVES;

/** Anything directives can be read from: a request's environment. */
export interface DirectiveSource {
  getEnviron(key: string): string | undefined;
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
  if (raw === undefined) return { kind: 'browser' };
  const key = `${name}\0${raw}`;
  let expiry = expiryCache.get(key);
  if (!expiry) {
    expiry = parseExpiry(raw, name);
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
