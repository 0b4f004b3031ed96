// One case per entry of the directive table (src/config/directives.ts): the
// parser pso reads that directive with, given any value, must accept it or
// refuse it with a ConfigurationError naming the directive; and a whole
// request with that value is answered (200, or a 500 whose log line names the
// directive), never a crash. spec/fuzz/config.spec.ts checks that every entry
// of the table has its case here.
import fc from 'fast-check';
import { ConfigurationError } from '../../../src/config/ConfigurationError.js';
import { DIRECTIVES, readBytes, readChoice, readExpiry, readFlag, readProbability, readSeconds, type DirectiveName } from '../../../src/config/directives.js';
import { createContainer } from '../../../src/container/createContainer.js';
import { FileLogger } from '../../../src/logging/FileLogger.js';
import { readFormLimits } from '../../../src/service/forms/limits.js';
import { ServiceCore } from '../../../src/service/ServiceCore.js';
import type { CookieFileImpl } from '../../../src/session/CookieFileImpl.js';
import { csrfModeOf, csrfNamesOf } from '../../../src/service/csrf/csrfSettings.js';
import { sessionCacheControl } from '../../../src/service/sessionCaching.js';
import { readOnlyOf } from '../../../src/service/sessionMode.js';
import { readSecrets } from '../../../src/session/identity/idSignature.js';
import { sessionHeaderOf } from '../../../src/session/identity/sessionHeader.js';
import { graceMs, rotateAfterMs } from '../../../src/session/rotation/rotation.js';
import { CookieStore } from '../../../src/session/stores/CookieStore.js';
import { closeStores, openStore } from '../../../src/session/stores/registry.js';
import { FakeRequest } from '../../support/fakeRequest.js';
import { onlyRejects, onlyThrows } from '../../support/fuzz/FuzzTarget.js';
import { textOf } from '../../support/fuzz/arbitraries.js';

/** How one directive is fuzzed. */
export interface DirectiveCase {
  name: DirectiveName;
  /** Values near the ones it takes. */
  values: fc.Arbitrary<string>;
  /** Reads `value` as pso does: true when it was accepted or refused as promised. */
  check(value: string): Promise<boolean>;
}

const core = new ServiceCore(createContainer());
const impl = core.sessionImplFor() as CookieFileImpl;

const request = (name: string, value: string, more: Record<string, string> = {}) =>
  new FakeRequest({ env: { [name]: value, ...more }, headers: { host: '127.0.0.1' } });

/** Names compared as directive names are: case-insensitive, `-` as `_` (and here without either). */
const plain = (text: string) => text.toLowerCase().replace(/[-_]/g, '');

/** A refusal that names the directive. */
function names(error: Error, name: string): boolean {
  return error instanceof ConfigurationError && plain(error.message).includes(plain(name));
}

/** The parser alone: a value, or a ConfigurationError naming the directive. */
function parsed(name: string, read: () => unknown): boolean {
  const got = onlyThrows(read, ConfigurationError);
  if ('value' in got || names(got.error, name)) return true;
  throw new Error(`refused with an error that does not name ${name}: ${got.error.message}`);
}

/**
 * A whole request with the directive set (sessions in memory, a small form
 * posted): answered 200, or 500 with a log line that names the directive;
 * never a failure pso did not expect (logged with a stack).
 */
async function wholeRequest(name: string, value: string): Promise<boolean> {
  const req = new FakeRequest({
    env: { PSOSessionStore: 'memory:', [name]: value },
    headers: { host: '127.0.0.1', 'content-type': 'application/x-www-form-urlencoded' },
    method: 'POST',
    requestBody: 'a=1&b=%C3%A9',
  });
  await core.handle(req, (r) => {
    r.session.increment('n');
    r.write(`${r.getInput('a')}\n`);
  });
  const status = req.head?.status;
  const lines = req.logLines.map((l) => l.message);
  if (lines.some((l) => l.startsWith('handler failed'))) throw new Error(`an unexpected failure for ${name}=${JSON.stringify(value)}:\n${lines.join('\n')}`);
  if (status === 200) return true;
  // A refusal (a 500 for a bad value, a 413 for a limit of 0) says which directive.
  if (status !== undefined && status >= 400 && lines.some((l) => plain(l).includes(plain(name)))) return true;
  throw new Error(`${name}=${JSON.stringify(value)} was answered ${status}:\n${lines.join('\n')}`);
}

const flag = textOf(['on', 'off', 'true', 'false', 'yes', 'no', '1', '0', 'ON', 'auto', ' ']);
const bytes = textOf(['1', '0', '64', '1024', 'k', 'm', 'g', 'K', 'M', 'i', 'b', 'B', 'kib', ' ', '9007199254740991', '99999999999']);
const durations = textOf(['15', '*', '60', '(', ')', '-', ' ', '0', '86400', '315360000', '315360001']);
const date = textOf(['Mon, ', 'Sunday, ', '15 Apr 2030 ', '06-Nov-94 ', 'Sun Nov  6 08:49:37 1994', '19:00:00', ' GMT', '2099', '2030']);
const path = textOf(['/', 'var', 'lib', 'pso', '..', '.', 'tmp', ' ', '\u0000', '%2e', 'C:\\', '~']);

function simple(name: DirectiveName, values: fc.Arbitrary<string>, read: (req: FakeRequest) => unknown, whole = true): DirectiveCase {
  return {
    name,
    values,
    check: async (value) => parsed(name, () => read(request(name, value))) && (!whole || (await wholeRequest(name, value))),
  };
}

const cases: Record<DirectiveName, DirectiveCase> = {
  PSOServiceId: simple('PSOServiceId', textOf(['shop', 'My', '__Host-', '__Secure-', 'HTTP_COOKIE', 'PATH', '-', '.', '"', "'", ';', '=', ' ', 'é']), (r) => impl.getServiceId(r)),
  PSOSessionExpire: simple('PSOSessionExpire', fc.oneof(durations, date), (r) => readExpiry(r)),
  PSOSessionExpires: simple('PSOSessionExpires', fc.oneof(durations, date), (r) => readExpiry(r)),
  PSOSessionIdleTimeout: simple('PSOSessionIdleTimeout', durations, (r) => readSeconds(r, 'PSOSessionIdleTimeout', 0)),
  PSOSessionAbsoluteTimeout: simple('PSOSessionAbsoluteTimeout', durations, (r) => readSeconds(r, 'PSOSessionAbsoluteTimeout', 0)),
  PSOSessionLazy: simple('PSOSessionLazy', flag, (r) => readFlag(r, 'PSOSessionLazy', true)),
  // Not a whole request: it would make directories wherever the value points.
  PSOSessionFileLoader_Path: simple('PSOSessionFileLoader_Path', path, (r) => impl.sessionDirectory(r), false),
  PSOSessionMaxSize: simple('PSOSessionMaxSize', bytes, (r) => readBytes(r, 'PSOSessionMaxSize', 0)),
  PSOSessionStore: {
    name: 'PSOSessionStore',
    values: textOf(['memory:', 'file://', 'file:///', 'sqlite:///', 'redis://', 'rediss://', 'postgres://', 'mysql://', 'mariadb://', 'etcd://', 'u:p@', '127.0.0.1', ':6379', ':99999', '/0', '/db', '?cluster=1', '?pool=0', '&table=x;drop', '?prefix=', '%', '%zz', '#', ' ', '[::1]', ':memory:']),
    // Made (never connected: stores connect on first use) and closed; no whole request (it would reach a database).
    check: async (value) => {
      if (!parsed('PSOSessionStore', () => impl.sessionDirectory(request('PSOSessionStore', value)))) return false;
      const got = await onlyRejects(() => openStore(value), ConfigurationError);
      await closeStores();
      return 'value' in got || names(got.error, 'PSOSessionStore');
    },
  },
  PSOSessionStoreTimeout: simple('PSOSessionStoreTimeout', durations, (r) => readSeconds(r, 'PSOSessionStoreTimeout', 0)),
  PSOSessionFileLoader_Fsync: simple('PSOSessionFileLoader_Fsync', flag, (r) => readFlag(r, 'PSOSessionFileLoader_Fsync')),
  PSOSessionFileIO: simple('PSOSessionFileIO', textOf(['sync', 'async', 'SYNC', ' ', 'thread']), (r) => readChoice(r, 'PSOSessionFileIO', ['sync', 'async'], 'sync')),
  PSOSessionFileFormat: simple('PSOSessionFileFormat', textOf(['slots', 'json', 'JSON', ' ', 'xml']), (r) => readChoice(r, 'PSOSessionFileFormat', ['slots', 'json'], 'slots')),
  PSOSessionLock: simple('PSOSessionLock', textOf(['auto', 'file', 'process', 'AUTO', ' ', 'none']), (r) => readChoice(r, 'PSOSessionLock', ['auto', 'file', 'process'], 'auto')),
  PSOSessionLockTimeout: simple('PSOSessionLockTimeout', durations, (r) => readSeconds(r, 'PSOSessionLockTimeout', 0)),
  PSOSessionGCProbability: simple('PSOSessionGCProbability', textOf(['0', '1', '.', '0.01', '-', 'e', '5', 'Infinity', 'NaN', ' ', '0x1']), (r) => readProbability(r, 'PSOSessionGCProbability', 0)),
  // Not a whole request: it would write log files wherever the value points.
  PSOLog: simple('PSOLog', path, (r) => {
    const file = r.getDirective('PSOLog')?.trim();
    return file ? new FileLogger(file) : undefined;
  }, false),
  PSODebug: simple('PSODebug', flag, (r) => readFlag(r, 'PSODebug')),
  PSOTrustProxy: simple('PSOTrustProxy', flag, (r) => readFlag(r, 'PSOTrustProxy')),
  PSOMaxBodySize: simple('PSOMaxBodySize', bytes, (r) => readBytes(r, 'PSOMaxBodySize', 0)),
  PSOMaxUploadSize: simple('PSOMaxUploadSize', bytes, (r) => readFormLimits(r)),
  PSOMaxFileSize: simple('PSOMaxFileSize', bytes, (r) => readFormLimits(r)),
  PSOMaxFiles: simple('PSOMaxFiles', bytes, (r) => readFormLimits(r)),
  PSOMaxFields: simple('PSOMaxFields', bytes, (r) => readFormLimits(r)),
  PSOMaxFieldSize: simple('PSOMaxFieldSize', bytes, (r) => readFormLimits(r)),
  // The whole request does not upload: the directory would be made wherever the value points.
  PSOUploadDir: simple('PSOUploadDir', path, (r) => readFormLimits(r), false),
  PSOFormParse: simple('PSOFormParse', flag, (r) => readFlag(r, 'PSOFormParse', true)),
  PSOSessionUrl: simple('PSOSessionUrl', textOf(['on', 'off', 'only', 'mixed', 'yes', '0', ' ', 'ONLY']), (r) => impl.urlSessionMode(r)),
  PSOSessionSecret: simple('PSOSessionSecret', textOf(['a-secret-of-16-chars', 'short', ' ', '\t', 'x'.repeat(16), '\u00e9'.repeat(8)]), (r) => readSecrets(r)),
  'PSOCookieSession_Path': cookie('PSOCookieSession_Path', textOf(['/', 'app', ';', ' ', '\u0000', '..', '%', 'é'])),
  'PSOCookieSession_Domain': cookie('PSOCookieSession_Domain', textOf(['.', 'example', 'org', '-', 'a', 'localhost', '127.0.0.1', ' ', ';'])),
  'PSOCookieSession_Secure': cookie('PSOCookieSession_Secure', flag),
  'PSOCookieSession_HttpOnly': cookie('PSOCookieSession_HttpOnly', flag),
  'PSOCookieSession_SameSite': cookie('PSOCookieSession_SameSite', textOf(['Strict', 'Lax', 'None', 'lax', ' ', 'x'])),
  'PSOCookieSession_Partitioned': cookie('PSOCookieSession_Partitioned', flag),
  'PSOCookieSession_Priority': cookie('PSOCookieSession_Priority', textOf(['Low', 'Medium', 'High', 'high', ' '])),
  'PSOCookieSession_Max-Age': simple('PSOCookieSession_Max-Age', durations, (r) => readExpiry(r)),
  'PSOCookieSession_expires': simple('PSOCookieSession_expires', date, (r) => readExpiry(r)),
  'PSOCookieSession_Comment': cookie('PSOCookieSession_Comment', textOf(['a comment', '"', ';', ' ', '\u0000', '\u007f', 'é', 'x'.repeat(100)])),
  'PSOCookieSession_Version': cookie('PSOCookieSession_Version', textOf(['1', '0', '999', '1000', '-', ' '])),
  PSOSessionGCInterval: simple('PSOSessionGCInterval', durations, (r) => readSeconds(r, 'PSOSessionGCInterval', 60)),
  PSOSessionReadOnly: simple('PSOSessionReadOnly', flag, (r) => readOnlyOf(r, undefined)),
  PSOSessionHeader: simple('PSOSessionHeader', textOf(['X-Session-Id', 'Authorization', 'Bearer', ' ', ',', ':', 'x', '-', '\u0000', 'é', 'off', 'Cookie']), (r) => sessionHeaderOf(r)),
  PSOSessionCacheControl: simple('PSOSessionCacheControl', textOf(['private', 'no-store', ', ', 'off', 'max-age=0', ' ', '\u0000', 'é', '\n', '"']), (r) => sessionCacheControl(r)),
  PSOCsrf: simple('PSOCsrf', textOf(['on', 'off', 'origin', 'ON', ' ', 'yes', 'x']), (r) => csrfModeOf(r, undefined)),
  PSOCsrfField: simple('PSOCsrfField', textOf(['csrf', '_token', ' ', '&', '=', '\u0000', 'é', 'x'.repeat(130)]), (r) => csrfNamesOf(r)),
  PSOCsrfHeader: simple('PSOCsrfHeader', textOf(['X-CSRF-Token', ' ', ':', '\u0000', 'é', '(', 'x']), (r) => csrfNamesOf(r)),
  PSOCsrfTrustedOrigins: simple('PSOCsrfTrustedOrigins', textOf(['https://', 'http://', 'example.org', ':8080', ' ', '/', '*', 'null', '\u0000', 'é']), (r) => csrfNamesOf(r)),
  PSOSessionRotateGrace: simple('PSOSessionRotateGrace', durations, (r) => graceMs(r)),
  PSOSessionRotate: simple('PSOSessionRotate', durations, (r) => rotateAfterMs(r)),
  PSOSessionCookieKeys: simple('PSOSessionCookieKeys', textOf(['a-key-of-32-characters-or-more!!', 'short', ' ', '\t', 'x'.repeat(32), 'é'.repeat(16)]), (r) => new CookieStore().keys(r)),
};

/** A cookie directive: the session policy's own check, then a whole request that sends the cookie. */
function cookie(name: DirectiveName, values: fc.Arbitrary<string>): DirectiveCase {
  return simple(name, values, (r) => impl.checkConfiguration(r));
}

/** Every entry of the directive table, with its case. */
export const directiveCases: DirectiveCase[] = (Object.keys(DIRECTIVES) as DirectiveName[]).map((name) => cases[name]);
