// Fuzz targets of src/session/identity and of what names a session: the
// Cookie header, signed ids, and the file names a store builds from keys.
import { parse as parseCookie } from 'cookie';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createContainer } from '../../../src/container/createContainer.js';
import { ServiceCore } from '../../../src/service/ServiceCore.js';
import { signId, verifyId } from '../../../src/session/identity/idSignature.js';
import { FileStore } from '../../../src/session/stores/FileStore.js';
import { FakeRequest } from '../../support/fakeRequest.js';
import { fuzzAsyncProperty, fuzzProperty, onlyThrows, type FuzzTarget } from '../../support/fuzz/FuzzTarget.js';
import { anyText, textOf } from '../../support/fuzz/arbitraries.js';

const core = new ServiceCore(createContainer());
/** A well-formed id (27 base64url characters) that pso never issued. */
const unissued = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 27, maxLength: 27 });
const secret = fc.string({ unit: 'grapheme-ascii', minLength: 16, maxLength: 40 }).filter((s) => !/\s/.test(s));

/** A Cookie header: pairs of any shape, the session's among them or not, with the glue browsers and attackers use. */
const cookieHeader = (name: string, id: fc.Arbitrary<string>) =>
  fc
    .array(
      fc.oneof(
        id.map((v) => `${name}=${v}`),
        fc.tuple(textOf([name, 'a', '$Version', '__proto__', 'constructor', ' ', '"']), fc.oneof(textOf(['%', '%zz', '%E9', '"', '=', ',', '\\', 'x']), anyText(20))).map(([k, v]) => `${k}=${v}`),
        anyText(20),
      ),
      { maxLength: 6 },
    )
    .chain((pairs) => fc.constantFrom('; ', ';', ', ', ' ; ', '\t;').map((glue) => pairs.join(glue)));

/** One request through the whole lifecycle, sessions in memory; the handler counts its visits. */
async function visit(env: Record<string, string>, cookie: string | undefined): Promise<FakeRequest> {
  const req = new FakeRequest({ env: { PSOSessionStore: 'memory:', PSOSessionGCProbability: '0', ...env }, headers: cookie === undefined ? { host: '127.0.0.1' } : { host: '127.0.0.1', cookie } });
  await core.handle(req, (r) => {
    const n = r.session.increment('visits');
    r.write(String(n));
  });
  const unexpected = req.logLines.filter((l) => l.level === 'error' || l.message.startsWith('handler failed'));
  if (req.head?.status !== 200 || unexpected.length > 0) {
    throw new Error(`cookie ${JSON.stringify(cookie)} was answered ${req.head?.status}:\n${req.logLines.map((l) => `${l.level} ${l.message}`).join('\n')}`);
  }
  return req;
}

/** The session cookie a response set: its value, as a browser sends it back. */
function sentCookie(req: FakeRequest, name: string): string {
  const header = req.setCookies().find((c) => c.startsWith(`${name}=`));
  if (!header) throw new Error(`no ${name} cookie was set: ${JSON.stringify(req.setCookies())}`);
  return header.split(';')[0]!;
}

const cookieHeaders: FuzzTarget = {
  name: 'Cookie headers: any header gets an answer and a new session; the cookie set is sent back and finds it',
  runs: 600,
  property: () =>
    fuzzAsyncProperty(
      fc.constantFrom('', 'a-secret-of-16-chars other-secret-16ch'),
      fc.constantFrom('spec', 'My.PSO_Test', '__Host-shop'),
      cookieHeader('spec', fc.oneof(unissued, anyText(40), unissued.map((id) => `${id}.${'A'.repeat(43)}`))),
      async (secrets, serviceId, header) => {
        const env = { PSOServiceId: serviceId, ...(secrets ? { PSOSessionSecret: secrets } : {}) };
        const first = await visit(env, header.replaceAll('spec=', `${serviceId}=`));
        // No id pso did not issue is ever adopted.
        if (first.sentBody !== '1') throw new Error(`an unknown id was adopted: the count is ${first.sentBody}`);
        const back = sentCookie(first, serviceId);
        // What the cookie package reads of it is what was set (the value needs no decoding).
        if (parseCookie(back)[serviceId] !== back.slice(serviceId.length + 1)) throw new Error(`${back} does not read back`);
        // Of several cookies of one name, the first counts (as the cookie package reads them); a browser sends
        // the one of the longest Path first, and pso's is the only one there is.
        const second = await visit(env, `${back}; ${header}`);
        return second.sentBody === '2';
      },
    ),
};

const signedIds: FuzzTarget = {
  name: 'signed ids: signId then verifyId gives the id back; a changed character or another secret gives nothing',
  runs: 3000,
  property: () =>
    fuzzProperty(
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }),
      // Ids are never empty (they are checked before they are signed).
      fc.oneof(unissued, anyText(40).filter((id) => id !== '')),
      fc.array(secret, { minLength: 1, maxLength: 3 }),
      secret,
      fc.nat(),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      (serviceId, id, secrets, stranger, at, replacement) => {
        const signed = signId(serviceId, id, secrets);
        const back = verifyId(serviceId, signed, secrets);
        if (back?.id !== id || back.resign) return false;
        // An older secret still verifies, and asks for a new signature.
        const rotated = verifyId(serviceId, signId(serviceId, id, [secrets.at(-1)!]), [stranger, ...secrets]);
        if (rotated?.id !== id || rotated.resign !== true) return false;
        if (secrets.includes(stranger)) return true;
        if (verifyId(serviceId, signed, [stranger]) !== undefined) return false;
        // One character of the signature changed.
        const i = id.length + 1 + (at % 43);
        const tampered = signed.slice(0, i) + replacement + signed.slice(i + 1);
        return tampered === signed || verifyId(serviceId, tampered, secrets) === undefined;
      },
    ),
};

const verifyNoise: FuzzTarget = {
  name: 'signed ids: any value a client sends is an id or nothing, never an exception',
  runs: 3000,
  property: () =>
    fuzzProperty(fc.oneof(anyText(80), unissued.map((id) => `${id}.`), fc.tuple(unissued, anyText(43)).map(([a, b]) => `${a}.${b}`)), fc.array(secret, { maxLength: 2 }), (value, secrets) => {
      const got = verifyId('spec', value, secrets);
      return got === undefined || typeof got.id === 'string';
    }),
};

const storeDir = mkdtempSync(join(tmpdir(), 'pso-fuzz-names-'));
const sessions = join(storeDir, 'sessions');
const store = new FileStore(sessions, { sync: true });
process.once('exit', () => rmSync(storeDir, { recursive: true, force: true }));

const fileNames: FuzzTarget = {
  name: 'file store: any key names a file inside the store directory, or is refused',
  runs: 3000,
  property: () =>
    fuzzProperty(
      fc.oneof(
        fc.tuple(textOf(['spec', '..', '/', '.', '%2f', '\\', ':', '~', 'a']), textOf(['..', '/', '~', 'a', '_', '-', '\u0000', '.json'])).map(([s, i]) => `${s}:${i}`),
        anyText(200),
      ),
      (key) => {
        const got = onlyThrows(() => store.fileOf(key), Error);
        if ('error' in got) return /refusing a session key/.test(got.error.message);
        const file = got.value;
        return dirname(file) === sessions && !file.slice(sessions.length + 1).includes('/') && /^pso_.+\.json$/.test(file.slice(sessions.length + 1));
      },
    ),
};

const fileSessions: FuzzTarget = {
  name: 'file store: service ids and cookies of any shape leave files only inside the store directory',
  runs: 300,
  property: () =>
    fuzzAsyncProperty(
      fc.oneof(fc.constantFrom('spec', 'a.b', '..', '.'), textOf(['..', '.', '%2F', 'x', '~', '-'])),
      cookieHeader('C', fc.oneof(unissued, textOf(['..', '/', '%2F', '.json', 'x']))),
      async (serviceId, header) => {
        const req = new FakeRequest({ env: { PSOServiceId: serviceId, PSOSessionFileLoader_Path: sessions, PSOSessionGCProbability: '0' }, headers: { cookie: header.replaceAll('C=', `${serviceId}=`) } });
        await core.handle(req, (r) => void r.session.increment('n'));
        const outside = readdirSync(storeDir).filter((n) => n !== 'sessions');
        if (outside.length > 0) throw new Error(`files outside the store directory: ${JSON.stringify(outside)}`);
        // A bad service id is refused with a 500 that names it; anything else is answered.
        return req.head?.status === 200 || req.logLines.some((l) => l.message.includes('PSOServiceId'));
      },
    ),
};

export const targets: FuzzTarget[] = [cookieHeaders, signedIds, verifyNoise, fileNames, fileSessions];
