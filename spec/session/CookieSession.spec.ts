import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import {
  ConfigurationError, CookieFileImpl, ServiceHandler, TOKENS, createContainer, parseRecord, serve, type ServiceRequest, type Session, type SessionRecord,
} from '../../src/index.js';
import { FakeRequest, tempDir, type FakeRequestInit } from '../support/fakeRequest.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';
import { storedRecord } from '../support/storedFile.js';

const ID = '[A-Za-z0-9_-]{27}';
const S1 = 'first-secret-0123456789';
const S2 = 'second-secret-0123456789';
/** The signature pso must put after the id: HMAC-SHA256 of "<service>\0<id>", base64url. */
const sig = (id: string, secret: string, service = 'spec') => createHmac('sha256', secret).update(`${service}\0${id}`).digest('base64url');

describe('CookieSession', () => {
  let dir: string;
  let cleanup: () => void;
  let sessions: string;
  let handler: ServiceHandler;
  let impl: CookieFileImpl;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    sessions = join(dir, 'sessions');
    handler = new ServiceHandler(createContainer());
    impl = handler.sessionImplFor() as CookieFileImpl;
  });
  afterEach(() => {
    sinon.restore();
    cleanup();
  });

  function req(init: FakeRequestInit = {}): FakeRequest {
    return new FakeRequest({ ...init, env: { PSOSessionFileLoader_Path: sessions, PSOSessionGCProbability: '0', ...init.env } });
  }
  /** By default a handler that uses its session, so that it is kept and its cookie sent. */
  async function handle(init: FakeRequestInit = {}, fn: (r: FakeRequest) => unknown = (x) => { x.session.set('used', 1); }): Promise<FakeRequest> {
    const r = req(init);
    await handler.handle(r, (request) => fn(request as FakeRequest));
    assert.ok(r.ended);
    return r;
  }
  /** The one session cookie of a response, if any. */
  const cookieOf = (r: FakeRequest): string | undefined => {
    const all = r.setCookies().filter((c) => c.startsWith('spec='));
    assert.ok(all.length <= 1, JSON.stringify(all));
    return all[0];
  };
  const valueOf = (c: string | undefined): string => /^spec=([^;]*)/.exec(c ?? '')![1]!;
  const header = (r: FakeRequest, name: string) => r.head!.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  const fileOf = (id: string) => join(sessions, `${sessionFileName('spec', id)}`);
  const stored = (id: string): SessionRecord => storedRecord(fileOf(id));
  const sessionFiles = () => (existsSync(sessions) ? readdirSync(sessions).filter((n) => n.endsWith('.json')) : []);

  /** A stored session with `data`; returns its id. */
  async function seed(data: Record<string, number | string> = { n: 1 }, env: Record<string, string> = {}): Promise<string> {
    let id = '';
    await handle({ env }, (x) => {
      for (const [k, v] of Object.entries(data)) x.session.set(k, v);
      id = x.session.id;
    });
    return id;
  }
  /** Runs a request and returns what the handler saw of its session. */
  async function sessionOf(init: FakeRequestInit): Promise<{ r: FakeRequest; s: Session }> {
    let s: Session | undefined;
    // The handler uses the session (under its own key), so a new one is kept and sent.
    const r = await handle(init, (x) => { s = x.session; x.session.set('used', 1); });
    return { r, s: s! };
  }

  describe('cookie attributes from PSOCookieSession_* directives', () => {
    const cases: [string, FakeRequestInit, string][] = [
      ['defaults', {}, 'Path=/; HttpOnly; SameSite=Lax'],
      ['Path', { env: { PSOCookieSession_Path: '/app' } }, 'Path=/app; HttpOnly; SameSite=Lax'],
      ['Domain', { env: { PSOCookieSession_Domain: 'example.org' } }, 'Domain=example.org; Path=/; HttpOnly; SameSite=Lax'],
      ['Domain with a dot', { env: { PSOCookieSession_Domain: ' .example.org ' } }, 'Domain=.example.org; Path=/; HttpOnly; SameSite=Lax'],
      ['Secure on over HTTP', { env: { PSOCookieSession_Secure: 'on' } }, 'Path=/; HttpOnly; Secure; SameSite=Lax'],
      ['Secure off over HTTPS', { secure: true, env: { PSOCookieSession_Secure: 'off' } }, 'Path=/; HttpOnly; SameSite=Lax'],
      ['Secure auto over HTTPS', { secure: true, env: { PSOCookieSession_Secure: 'auto' } }, 'Path=/; HttpOnly; Secure; SameSite=Lax'],
      ['Secure auto over HTTP', { env: { PSOCookieSession_Secure: 'AUTO' } }, 'Path=/; HttpOnly; SameSite=Lax'],
      ['HttpOnly off', { env: { PSOCookieSession_HttpOnly: 'off' } }, 'Path=/; SameSite=Lax'],
      ['SameSite Strict', { env: { PSOCookieSession_SameSite: 'Strict' } }, 'Path=/; HttpOnly; SameSite=Strict'],
      ['SameSite None with Secure', { env: { PSOCookieSession_SameSite: 'none', PSOCookieSession_Secure: 'yes' } }, 'Path=/; HttpOnly; Secure; SameSite=None'],
      ['SameSite None over HTTPS', { secure: true, env: { PSOCookieSession_SameSite: 'None' } }, 'Path=/; HttpOnly; Secure; SameSite=None'],
      ['Partitioned over HTTPS', { secure: true, env: { PSOCookieSession_Partitioned: 'on' } }, 'Path=/; HttpOnly; Secure; Partitioned; SameSite=Lax'],
      ['Partitioned off', { env: { PSOCookieSession_Partitioned: 'off' } }, 'Path=/; HttpOnly; SameSite=Lax'],
      ['Priority', { env: { PSOCookieSession_Priority: 'high' } }, 'Path=/; HttpOnly; Priority=High; SameSite=Lax'],
      ['Comment', { env: { PSOCookieSession_Comment: ' for the shop ' } }, 'Path=/; HttpOnly; SameSite=Lax; Comment="for the shop"'],
      ['Version', { env: { PSOCookieSession_Version: '1' } }, 'Path=/; HttpOnly; SameSite=Lax; Version=1'],
      ['blank values', { env: { PSOCookieSession_Path: ' ', PSOCookieSession_SameSite: '' } }, 'Path=/; HttpOnly; SameSite=Lax'],
    ];
    for (const [name, init, attributes] of cases) {
      it(`${name}: Set-Cookie is "<id>; ${attributes}"`, async () => {
        const r = await handle(init);
        assert.match(cookieOf(r)!, new RegExp(`^spec=${ID}; ${attributes.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
      });
    }

    it('every attribute at once, with names in any case', async () => {
      const r = await handle({
        secure: true,
        env: {
          psocookiesession_path: '/shop', PSOCOOKIESESSION_DOMAIN: 'shop.example.org', PsoCookieSession_SameSite: 'strict',
          pSOCookieSession_Priority: 'Low', psocookiesession_partitioned: '1', PSOCookieSession_comment: 'c', PSOCookieSession_VERSION: '1',
          psocookiesession_httponly: 'true', psocookiesession_secure: 'on',
        },
      });
      assert.match(cookieOf(r)!, new RegExp(`^spec=${ID}; Domain=shop\\.example\\.org; Path=/shop; HttpOnly; Secure; Partitioned; Priority=Low; SameSite=Strict; Comment="c"; Version=1$`));
    });

    it('an exact name wins over one in another case', async () => {
      const r = await handle({ env: { psocookiesession_path: '/lower', PSOCookieSession_Path: '/exact' } });
      assert.match(cookieOf(r)!, /; Path=\/exact;/);
    });

    it('the cookie that clears a session carries the same Path, Domain and extras', async () => {
      const env = { PSOCookieSession_Path: '/app', PSOCookieSession_Domain: 'example.org', PSOCookieSession_Comment: 'x', PSOCookieSession_SameSite: 'Strict' };
      const id = await seed({ a: 1 }, env);
      const r = await handle({ env, headers: { cookie: `spec=${id}` } }, (x) => { x.session.expire(0); });
      assert.equal(cookieOf(r), 'spec=; Max-Age=0; Domain=example.org; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict; Comment="x"');
    });

    describe('invalid values', () => {
      const invalid: [string, string, RegExp][] = [
        ['PSOCookieSession_Path', 'app', /starts with "\/"/],
        ['PSOCookieSession_Path', '/a;b', /holds no ";"/],
        ['PSOCookieSession_Path', '/a\u0001', /control characters/],
        // Found by spec/fuzz/config.spec.ts: accepted here, then refused by the cookie package on every response.
        ['PSOCookieSession_Path', '/caf\u00e9', /beyond ASCII/],
        ['PSOCookieSession_Path', '/a<b', /"<"/],
        ['PSOCookieSession_Domain', 'exa mple.org', /expected a domain name/],
        ['PSOCookieSession_Domain', '-bad.org', /expected a domain name/],
        ['PSOCookieSession_Domain', 'a..b', /expected a domain name/],
        ['PSOCookieSession_Domain', 'x;Path=/', /expected a domain name/],
        ['PSOCookieSession_Secure', 'maybe', /^expected on or off$/],
        ['PSOCookieSession_HttpOnly', 'sometimes', /^expected on or off$/],
        ['PSOCookieSession_SameSite', 'loose', /^expected Strict, Lax or None$/],
        ['PSOCookieSession_Partitioned', 'x', /^expected on or off$/],
        ['PSOCookieSession_Priority', 'urgent', /^expected Low, Medium or High$/],
        ['PSOCookieSession_Comment', 'a;b', /without ";"/],
        ['PSOCookieSession_Comment', 'say "hi"', /without ";" or '"'/],
        ['PSOCookieSession_Comment', 'x'.repeat(257), /up to 256 printable/],
        ['PSOCookieSession_Comment', 'tab\there', /printable/],
        ['PSOCookieSession_Version', 'one', /expected a number/],
        ['PSOCookieSession_Version', '1234', /expected a number/],
      ];
      for (const [directive, value, reason] of invalid) {
        it(`${directive}=${JSON.stringify(value.slice(0, 20))}: ConfigurationError naming the directive and the value`, () => {
          const check = (e: unknown) => e instanceof ConfigurationError && e.directive === directive && e.value === value && reason.test(e.reason) &&
            e.message.startsWith(`${directive}=${JSON.stringify(value)} is invalid: `);
          assert.throws(() => impl.cookieOptions(req({ env: { [directive]: value } }), undefined as never, undefined), check);
          // Given in lower case, the error names the directive as documented.
          assert.throws(() => impl.cookieOptions(req({ env: { [directive.toLowerCase()]: value } }), undefined as never, undefined), check);
        });
      }

      it('SameSite=None without Secure: ConfigurationError naming PSOCookieSession_SameSite', () => {
        for (const init of [{ env: { PSOCookieSession_SameSite: 'None' } }, { secure: true, env: { PSOCookieSession_SameSite: 'None', PSOCookieSession_Secure: 'off' } }]) {
          assert.throws(() => impl.cookieOptions(req(init), undefined as never, undefined), (e: unknown) =>
            e instanceof ConfigurationError && e.directive === 'PSOCookieSession_SameSite' && e.value === 'None' && /needs a Secure cookie/.test(e.reason));
        }
      });

      it('Partitioned without Secure: ConfigurationError naming PSOCookieSession_Partitioned', () => {
        assert.throws(() => impl.cookieOptions(req({ env: { PSOCookieSession_Partitioned: 'on' } }), undefined as never, undefined), (e: unknown) =>
          e instanceof ConfigurationError && e.directive === 'PSOCookieSession_Partitioned' && /must be Secure/.test(e.reason));
      });

      it('a request that would send the cookie answers 500 and logs the directive and value', async () => {
        const r = await handle({ env: { PSOCookieSession_SameSite: 'loose' } }, (x) => x.write('hidden'));
        assert.equal(r.head!.status, 500);
        assert.equal(r.sentBody, '500 Internal Server Error\n');
        assert.deepEqual(r.setCookies(), []);
        assert.ok(r.memoryLogger!.has('error', /^GET \/: 500: PSOCookieSession_SameSite="loose" is invalid: expected Strict, Lax or None$/), JSON.stringify(r.logLines));
      });
    });

    describe('over HTTP', () => {
      let stop: (() => Promise<void>) | undefined;
      afterEach(async () => { await stop?.(); stop = undefined; });

      async function start(directives: Record<string, string>) {
        const sdir = mkdtempSync(join(tmpdir(), 'pso-cookie-'));
        const container = createContainer();
        const logger = new MemoryLogger();
        container.rebind(TOKENS.Logger).toConstantValue(logger);
        const server = await serve((r) => { r.session.set('used', 1); r.write('ok'); }, { port: 0, moduleName: 'web', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: sdir, PSOSessionGCProbability: '0', ...directives } });
        stop = async () => { await server.close(); rmSync(sdir, { recursive: true, force: true }); };
        return { url: server.url, logger };
      }

      it('an invalid directive answers 500 with a log line naming it, and the server keeps answering', async () => {
        const { url, logger } = await start({ PSOCookieSession_Priority: 'urgent' });
        for (let i = 0; i < 2; i++) {
          const res = await fetch(url);
          assert.equal(res.status, 500);
          assert.equal(await res.text(), '500 Internal Server Error\n');
          assert.equal(res.headers.getSetCookie().length, 0);
        }
        assert.equal(logger.lines.filter((l) => l.level === 'error' && l.message === 'GET /: 500: PSOCookieSession_Priority="urgent" is invalid: expected Low, Medium or High').length, 2, logger.text());
      });

      it('SameSite=None over plain HTTP answers 500 naming PSOCookieSession_SameSite', async () => {
        const { url, logger } = await start({ psocookiesession_samesite: 'None' });
        assert.equal((await fetch(url)).status, 500);
        assert.match(logger.text(), /error GET \/: 500: PSOCookieSession_SameSite="None" is invalid: SameSite=None needs a Secure cookie/);
      });

      it('the attributes reach the browser', async () => {
        const { url } = await start({ PSOCookieSession_Path: '/', PSOCookieSession_SameSite: 'Strict', PSOCookieSession_Secure: 'on' });
        const res = await fetch(url);
        assert.match(res.headers.getSetCookie()[0]!, new RegExp(`^web=${ID}; Path=/; HttpOnly; Secure; SameSite=Strict$`));
      });
    });
  });

  describe('session lifetime from PSOCookieSession_Max-Age and PSOCookieSession_expires', () => {
    let T0: number;
    beforeEach(() => {
      T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
      sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    });
    /** Cookie and store say the same end, `seconds` from now; the expiry is not stored as if set in code. */
    function assertLifetime(r: FakeRequest, seconds: number): void {
      const c = cookieOf(r)!;
      const id = valueOf(c);
      assert.equal(stored(id).expires, T0 + seconds * 1000);
      assert.equal(stored(id).expiry, undefined);
      assert.match(c, new RegExp(`^spec=${id}; Max-Age=${seconds}; Path=/; Expires=${new Date(T0 + seconds * 1000).toUTCString()}; HttpOnly; SameSite=Lax$`));
    }

    it('Max-Age sets the lifetime (any case, "_" for "-")', async () => {
      assertLifetime(await handle({ env: { 'PSOCookieSession_Max-Age': '600' } }), 600);
      assertLifetime(await handle({ env: { 'psocookiesession_max-age': '10*60' } }), 600);
      assertLifetime(await handle({ env: { PSOCookieSession_Max_Age: '300' } }), 300);
    });

    it('PSOSessionExpire (or PSOSessionExpires) wins over Max-Age', async () => {
      assertLifetime(await handle({ env: { 'PSOCookieSession_Max-Age': '600', PSOSessionExpire: '60' } }), 60);
      assertLifetime(await handle({ env: { 'PSOCookieSession_Max-Age': '600', PSOSessionExpires: '120' } }), 120);
    });

    it('expires sets a fixed end; Max-Age wins over it', async () => {
      const end = new Date(T0 + 86400_000).toUTCString();
      assertLifetime(await handle({ env: { PSOCookieSession_expires: end } }), 86400);
      assertLifetime(await handle({ env: { PSOCookieSession_Expires: end, 'PSOCookieSession_Max-Age': '60' } }), 60);
    });

    it('an invalid value answers 500 naming the directive and the value', async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [{ 'PSOCookieSession_Max-Age': 'soon' }, /PSOCookieSession_Max-Age="soon" is invalid: expected seconds/],
        [{ 'PSOCookieSession_Max-Age': '-60' }, /PSOCookieSession_Max-Age="-60" is invalid: a lifetime cannot be negative/],
        [{ PSOCookieSession_expires: 'tomorrow' }, /PSOCookieSession_expires="tomorrow" is invalid: expected an HTTP date/],
        [{ PSOCookieSession_expires: '600' }, /PSOCookieSession_expires="600" is invalid: expected an HTTP date/],
      ];
      for (const [env, line] of cases) {
        const r = await handle({ env }, (x) => { x.session.set('a', 1); });
        assert.equal(r.head!.status, 500, JSON.stringify(env));
        assert.ok(r.memoryLogger!.has('error', line), JSON.stringify(r.logLines));
      }
    });
  });

  describe('cookie name prefixes (__Secure-, __Host-)', () => {
    const over = (secure: boolean, env: Record<string, string>, host = 'shop.example') => handle({ secure, env, headers: { host } });
    const sessionCookie = (r: FakeRequest, name: string) => r.setCookies().find((c) => c.startsWith(`${name}=`));

    it('a __Host- session cookie over HTTPS is Secure, Path=/, without Domain, whatever Secure auto says', async () => {
      const r = await over(true, { PSOServiceId: '__Host-sid' });
      assert.equal(r.head!.status, 200, r.sentBody);
      assert.match(sessionCookie(r, '__Host-sid')!, /^__Host-sid=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    });

    it('a __Secure- session cookie is Secure and may keep its Domain and Path', async () => {
      const r = await over(true, { PSOServiceId: '__Secure-sid', PSOCookieSession_Domain: 'example.org', PSOCookieSession_Path: '/shop' });
      assert.match(sessionCookie(r, '__Secure-sid')!, /^__Secure-sid=[^;]+; Domain=example\.org; Path=\/shop; HttpOnly; Secure; SameSite=Lax$/);
    });

    it('is matched without case, as browsers do', async () => {
      const r = await over(true, { PSOServiceId: '__HOST-sid' });
      assert.match(sessionCookie(r, '__HOST-sid')!, /; Path=\/; HttpOnly; Secure; /);
    });

    for (const [what, env, pattern] of [
      ['PSOCookieSession_Secure off', { PSOServiceId: '__Host-sid', PSOCookieSession_Secure: 'off' }, /PSOCookieSession_Secure="off" is invalid: a cookie named __Host-sid must be Secure/],
      ['a Domain for __Host-', { PSOServiceId: '__Host-sid', PSOCookieSession_Domain: 'example.org' }, /PSOCookieSession_Domain="example.org" is invalid: a cookie named __Host-sid may not have a Domain/],
      ['a Path other than / for __Host-', { PSOServiceId: '__Host-sid', PSOCookieSession_Path: '/app' }, /PSOCookieSession_Path="\/app" is invalid: a cookie named __Host-sid must have Path=\//],
      ['__Secure- with Secure off', { PSOServiceId: '__Secure-sid', PSOCookieSession_Secure: 'no' }, /PSOCookieSession_Secure="no" is invalid: a cookie named __Secure-sid must be Secure/],
    ] as const) {
      it(`refuses ${what} with a 500 naming the directive, storing nothing`, async () => {
        const r = await over(true, env);
        assert.equal(r.head!.status, 500);
        assert.ok(r.memoryLogger!.has('error', pattern), JSON.stringify(r.logLines));
        assert.deepEqual(r.setCookies(), []);
        assert.deepEqual(sessionFiles(), []);
      });
    }

    it('refuses a prefixed session cookie over plain HTTP, which browsers would drop, saying why', async () => {
      const r = await over(false, { PSOServiceId: '__Host-sid' });
      assert.equal(r.head!.status, 500);
      assert.ok(r.memoryLogger!.has('error', /PSOServiceId="__Host-sid" is invalid: a cookie named __Host-… needs HTTPS, and this request came over plain HTTP.*PSOTrustProxy on/), JSON.stringify(r.logLines));
      assert.deepEqual(sessionFiles(), []);
    });

    it('takes plain HTTP on a loopback host, where browsers accept Secure cookies', async () => {
      for (const host of ['localhost:8080', '127.0.0.1:3000', '[::1]:80', 'app.localhost']) {
        const r = await over(false, { PSOServiceId: '__Host-sid' }, host);
        assert.equal(r.head!.status, 200, host);
        assert.match(sessionCookie(r, '__Host-sid')!, /; Secure;/);
      }
    });

    it('holds for a cookieOptions() override too', async () => {
      class Loose extends CookieFileImpl {
        override cookieOptions(request: ServiceRequest, session: Session, expires: number | undefined) {
          return { ...super.cookieOptions(request, session, expires), domain: 'example.org' };
        }
      }
      const container = createContainer();
      const sh = new ServiceHandler(container);
      const r = req({ secure: true, env: { PSOServiceId: '__Host-sid' } });
      await sh.handle(r, (x) => { x.session.set('a', 1); }, { sessionImpl: Loose });
      assert.equal(r.head!.status, 500);
      assert.ok(r.memoryLogger!.has('error', /Loose\.cookieOptions\(\)="Domain" is invalid: a cookie named __Host-sid may not have a Domain/), JSON.stringify(r.logLines));
    });

    it('request.setCookie() adds Secure (and Path=/ for __Host-) and refuses what the prefix forbids', async () => {
      const errors: string[] = [];
      const r = await handle({ secure: true }, (x) => {
        x.setCookie('__Host-pref', 'a', { httpOnly: true });
        x.setCookie('__Secure-pref', 'b', { path: '/x' });
        for (const attrs of [{ secure: false }, { domain: 'example.org' }, { path: '/app' }]) {
          try { x.setCookie('__Host-bad', 'c', attrs); } catch (e) { errors.push((e as Error).message); }
        }
      });
      assert.ok(r.setCookies().includes('__Host-pref=a; Path=/; HttpOnly; Secure'), JSON.stringify(r.setCookies()));
      assert.ok(r.setCookies().includes('__Secure-pref=b; Path=/x; Secure'), JSON.stringify(r.setCookies()));
      assert.deepEqual(errors, [
        'setCookie("__Host-bad"): a cookie named __Host-bad must be Secure: browsers drop a __Host- cookie without it',
        'setCookie("__Host-bad"): a cookie named __Host-bad may not have a Domain: browsers drop a __Host- cookie with one',
        'setCookie("__Host-bad"): a cookie named __Host-bad must have Path=/: browsers drop a __Host- cookie with another path',
      ]);
    });
  });

  describe('Secure auto', () => {
    const secureCases: [string, FakeRequestInit, boolean][] = [
      ['over HTTPS', { secure: true }, true],
      ['over HTTP', {}, false],
      ['X-Forwarded-Proto https with PSOTrustProxy on', { headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'on' } }, true],
      ['X-Forwarded-Proto HTTPS, http (first hop) with PSOTrustProxy on', { headers: { 'x-forwarded-proto': 'HTTPS, http' }, env: { PSOTrustProxy: 'on' } }, true],
      ['X-Forwarded-Proto https without PSOTrustProxy', { headers: { 'x-forwarded-proto': 'https' } }, false],
      ['X-Forwarded-Proto https with PSOTrustProxy off', { headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'off' } }, false],
      ['X-Forwarded-Proto http with PSOTrustProxy on', { headers: { 'x-forwarded-proto': 'http' }, env: { PSOTrustProxy: 'on' } }, false],
      ['X-Forwarded-Proto http, https with PSOTrustProxy on', { headers: { 'x-forwarded-proto': 'http, https' }, env: { PSOTrustProxy: 'on' } }, false],
    ];
    for (const [name, init, secure] of secureCases) {
      it(`${name}: ${secure ? 'Secure' : 'not Secure'}`, async () => {
        const c = cookieOf(await handle(init))!;
        assert.equal(c.includes('; Secure'), secure, c);
      });
    }

    it('an invalid PSOTrustProxy answers 500 naming it', async () => {
      const r = await handle({ headers: { 'x-forwarded-proto': 'https' }, env: { PSOTrustProxy: 'perhaps' } });
      assert.equal(r.head!.status, 500);
      assert.ok(r.memoryLogger!.has('error', /PSOTrustProxy="perhaps" is invalid: expected on or off/), JSON.stringify(r.logLines));
    });
  });

  describe('signed ids (PSOSessionSecret)', () => {
    it('the cookie carries "<id>.<43-character HMAC-SHA256>" and the file is named by the bare id', async () => {
      const r = await handle({ env: { PSOSessionSecret: S1 } }, (x) => { x.session.set('a', 1); });
      const value = valueOf(cookieOf(r));
      const m = new RegExp(`^(${ID})\\.([A-Za-z0-9_-]{43})$`).exec(value);
      assert.ok(m, value);
      assert.equal(m[2], sig(m[1]!, S1));
      assert.deepEqual(sessionFiles(), [`${sessionFileName('spec', m[1])}`]);
    });

    it('a correctly signed cookie continues the session without a new cookie', async () => {
      const id = await seed({ n: 1 }, { PSOSessionSecret: S1 });
      const { r, s } = await sessionOf({ env: { PSOSessionSecret: S1 }, headers: { cookie: `spec=${id}.${sig(id, S1)}` } });
      assert.equal(s.id, id);
      assert.equal(s.get('n'), 1);
      assert.equal(cookieOf(r), undefined);
    });

    it('an unsigned or tampered cookie gets a new session; the stored one is left alone', async () => {
      const id = await seed({ n: 1 }, { PSOSessionSecret: S1 });
      const good = sig(id, S1);
      const flipped = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
      const other = await seed({ n: 2 }, { PSOSessionSecret: S1 });
      for (const value of [id, `${id}.${flipped}`, `${id}.${good.slice(1)}`, `${id}.${good}x`, `${id}.${sig(other, S1)}`, `${id}.${sig(id, S1, 'another')}`, `${id}.${sig(id, S2)}`, `.${good}`]) {
        const { r, s } = await sessionOf({ env: { PSOSessionSecret: S1 }, headers: { cookie: `spec=${value}` } });
        assert.notEqual(s.id, id, value);
        assert.equal(s.isNew, true);
        assert.equal(s.has('n'), false);
        const fresh = valueOf(cookieOf(r));
        assert.equal(fresh, `${s.id}.${sig(s.id, S1)}`);
      }
      assert.equal(stored(id).data.n, 1);
    });

    it('rotation: a cookie signed with a later-listed secret is accepted and re-issued signed with the first', async () => {
      const id = await seed({ n: 1 }, { PSOSessionSecret: S1 });
      const env = { PSOSessionSecret: ` ${S2}  ${S1} ` };
      const { r, s } = await sessionOf({ env, headers: { cookie: `spec=${id}.${sig(id, S1)}` } });
      assert.equal(s.id, id);
      assert.equal(s.get('n'), 1);
      assert.equal(cookieOf(r), `spec=${id}.${sig(id, S2)}; Path=/; HttpOnly; SameSite=Lax`);
      // Signed with the first secret, it is not sent again.
      const again = await sessionOf({ env, headers: { cookie: `spec=${id}.${sig(id, S2)}` } });
      assert.equal(again.s.id, id);
      assert.equal(cookieOf(again.r), undefined);
    });

    it('rotation: once the old secret is dropped, cookies signed with it are refused', async () => {
      const id = await seed({ n: 1 }, { PSOSessionSecret: S1 });
      const { s } = await sessionOf({ env: { PSOSessionSecret: S2 }, headers: { cookie: `spec=${id}.${sig(id, S1)}` } });
      assert.notEqual(s.id, id);
    });

    it('a secret shorter than 16 characters is a ConfigurationError that does not show the secret', async () => {
      for (const secret of ['abc123', `${S1} tiny-one`, '123456789012345']) {
        const r = await handle({ env: { PSOSessionSecret: secret } });
        assert.equal(r.head!.status, 500);
        const line = r.logLines.find((l) => l.level === 'error')!.message;
        assert.equal(line, 'GET /: 500: PSOSessionSecret="(hidden)" is invalid: each secret must be at least 16 characters long');
        assert.throws(() => impl.encodeId(req({ env: { PSOSessionSecret: secret } }), 'x'), (e: unknown) =>
          e instanceof ConfigurationError && e.directive === 'PSOSessionSecret' && e.value === '(hidden)' && !e.message.includes(secret.split(' ').pop()!));
      }
    });

    it('encodeId and decodeId round-trip; without secrets the id travels bare', () => {
      const signed = req({ env: { PSOSessionSecret: S1 } });
      assert.equal(impl.encodeId(signed, 'abc'), `abc.${sig('abc', S1)}`);
      assert.equal(impl.decodeId(signed, `abc.${sig('abc', S1)}`), 'abc');
      assert.equal(impl.decodeId(signed, 'abc'), undefined);
      const plain = req();
      assert.equal(impl.encodeId(plain, 'abc'), 'abc');
      assert.equal(impl.decodeId(plain, 'abc.def'), 'abc.def');
    });
  });

  describe('sessions in URLs (PSOSessionUrl)', () => {
    const on = { PSOSessionUrl: 'on' };
    /** A page that uses its session and links on. */
    const link = (x: FakeRequest) => {
      x.session.set('used', 1);
      x.write(x.mkurl('/next', { page: 2 }));
    };

    it('urlSessionMode reads off, on and only in their spellings, and refuses anything else', () => {
      const mode = (v: string | undefined) => impl.urlSessionMode(req({ env: { PSOSessionUrl: v } }));
      for (const v of [undefined, '', ' off ', 'no', 'false', '0', 'OFF']) assert.equal(mode(v), 'off', String(v));
      for (const v of ['on', 'yes', 'true', '1', 'mixed', ' On ']) assert.equal(mode(v), 'on', v);
      assert.equal(mode('only'), 'only');
      assert.equal(mode('ONLY'), 'only');
      assert.throws(() => mode('sometimes'), (e: unknown) => e instanceof ConfigurationError && e.directive === 'PSOSessionUrl' && e.value === 'sometimes' && e.reason === 'expected off, on or only');
    });

    it('on: the first response links carry the id, sends the cookie too, and Referrer-Policy: no-referrer', async () => {
      const r = await handle({ env: on }, link);
      const id = valueOf(cookieOf(r));
      assert.equal(r.sentBody, `/next?page=2&spec=${id}`);
      assert.equal(header(r, 'Referrer-Policy'), 'no-referrer');
    });

    it('on: a request with the id in the query and no cookie continues the session', async () => {
      const id = await seed({ n: 5 }, on);
      const { r, s } = await sessionOf({ env: on, query: `spec=${id}&x=1` });
      assert.equal(s.id, id);
      assert.equal(s.get('n'), 5);
      assert.equal(header(r, 'Referrer-Policy'), 'no-referrer');
      const again = await handle({ env: on, query: `spec=${id}` }, link);
      assert.equal(again.sentBody, `/next?page=2&spec=${id}`);
    });

    it('on: a POST with the id in an urlencoded form field continues the session, and the handler still reads the form', async () => {
      const id = await seed({ n: 5 }, on);
      let seen = '';
      await handle({
        env: on, method: 'POST', query: 'q=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, requestBody: `item=pen&spec=${id}`,
      }, async (x) => { seen = `${x.session.id === id}:${x.session.get('n')}:${[...(await x.form())].join('|')}`; });
      assert.equal(seen, `true:5:q,1|item,pen|spec,${id}`);
    });

    it('on: an id in a body that is not a form, or in a GET body, is not read', async () => {
      const id = await seed({ n: 5 }, on);
      const notForm = await sessionOf({ env: on, method: 'POST', headers: { 'content-type': 'text/plain' }, requestBody: `spec=${id}` });
      assert.notEqual(notForm.s.id, id);
      const get = await sessionOf({ env: on, method: 'GET', headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestBody: `spec=${id}` });
      assert.notEqual(get.s.id, id);
    });

    it('on: a form body over PSOMaxBodySize answers 413 before the handler runs, and the stored session is untouched', async () => {
      const id = await seed({ n: 5 }, on);
      let ran = false;
      const r = await handle({
        env: { ...on, PSOMaxBodySize: '10' }, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestBody: `spec=${id}`,
      }, () => { ran = true; });
      assert.equal(ran, false);
      assert.equal(r.head!.status, 413);
      assert.equal(r.sentBody, '413 Payload Too Large\nrequest body larger than the limit of 10 bytes (PSOMaxBodySize)\n');
      assert.equal(stored(id).data.n, 5);
    });

    it('on, PSOFormParse off: a form body over PSOMaxBodySize carries no id, and the handler\'s form() answers 413', async () => {
      const id = await seed({ n: 5 }, on);
      let isNew: boolean | undefined;
      const r = await handle({
        env: { ...on, PSOMaxBodySize: '10', PSOFormParse: 'off' }, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestBody: `spec=${id}`,
      }, async (x) => { isNew = x.session.isNew; await x.form(); });
      assert.equal(isNew, true);
      assert.equal(r.head!.status, 413);
      assert.equal(r.sentBody, '413 Payload Too Large\nrequest body larger than the limit of 10 bytes (PSOMaxBodySize)\n');
      assert.equal(stored(id).data.n, 5);
    });

    it('on: with a cookie and a different id in the URL, the cookie wins', async () => {
      const a = await seed({ who: 'a' }, on);
      const b = await seed({ who: 'b' }, on);
      const { s } = await sessionOf({ env: on, query: `spec=${b}`, headers: { cookie: `spec=${a}` } });
      assert.equal(s.id, a);
      assert.equal(s.get('who'), 'a');
    });

    it('on: once the cookie comes back, mkurl adds no id and no Referrer-Policy is sent', async () => {
      const id = await seed({ n: 1 }, on);
      const r = await handle({ env: on, headers: { cookie: `spec=${id}` } }, (x) => x.write(x.mkurl('/next?a=1#top')));
      assert.equal(r.sentBody, '/next?a=1#top');
      assert.equal(header(r, 'Referrer-Policy'), undefined);
    });

    it('on: mkurl replaces an id already in the path with the session\'s own', async () => {
      const r = await handle({ env: on }, (x) => { x.session.set('used', 1); x.write(x.mkurl(`/x?spec=${'P'.repeat(27)}&a=1`)); });
      assert.equal(r.sentBody, `/x?spec=${valueOf(cookieOf(r))}&a=1`);
    });

    it('on: the Referrer-Policy header is there even when the head went out before mkurl was called', async () => {
      const r = await handle({ env: on }, async (x) => {
        x.session.set('used', 1);
        x.write('<p>');
        await x.flush();
        x.write(x.mkurl('/next'));
      });
      assert.equal(r.sentBody, `<p>/next?spec=${valueOf(cookieOf(r))}`);
      assert.equal(header(r, 'Referrer-Policy'), 'no-referrer');
    });

    it('only: no Set-Cookie ever, links always carry the id, and a cookie alone is ignored', async () => {
      const only = { PSOSessionUrl: 'only' };
      const first = await handle({ env: only }, (x) => { x.session.set('n', 1); link(x); });
      assert.deepEqual(first.setCookies(), []);
      const id = /spec=([^&]+)$/.exec(first.sentBody)![1]!;
      assert.ok(existsSync(fileOf(id)));
      assert.equal(header(first, 'Referrer-Policy'), 'no-referrer');
      const byUrl = await handle({ env: only, query: `spec=${id}`, headers: { cookie: `spec=${id}` } }, (x) => { x.session.expire(600); link(x); });
      assert.equal(byUrl.sentBody, `/next?page=2&spec=${id}`);
      assert.deepEqual(byUrl.setCookies(), []);
      const { s } = await sessionOf({ env: only, headers: { cookie: `spec=${id}` } });
      assert.notEqual(s.id, id);
      // Ending a URL session sends no clearing cookie either.
      const ended = await handle({ env: only, query: `spec=${id}` }, (x) => { x.session.expire(0); });
      assert.deepEqual(ended.setCookies(), []);
      assert.equal(existsSync(fileOf(id)), false);
    });

    it('an unknown or malformed id in the URL is never adopted', async () => {
      for (const bad of ['U'.repeat(27), '..%2F..%2Fetc', 'x'.repeat(300)]) {
        const r = await handle({ env: on, query: `spec=${bad}` }, link);
        const id = valueOf(cookieOf(r));
        assert.notEqual(id, decodeURIComponent(bad));
        assert.equal(r.sentBody, `/next?page=2&spec=${id}`);
      }
      assert.equal(existsSync(fileOf('U'.repeat(27))), false);
    });

    it('off (the default): an id in the URL is ignored and links carry none', async () => {
      const id = await seed();
      const { s } = await sessionOf({ query: `spec=${id}` });
      assert.notEqual(s.id, id);
      const r = await handle({}, link);
      assert.equal(r.sentBody, '/next?page=2');
      assert.equal(header(r, 'Referrer-Policy'), undefined);
    });

    it('with PSOSessionSecret, links carry the signed id and only a signed id in the URL is accepted', async () => {
      const env = { ...on, PSOSessionSecret: S1 };
      const first = await handle({ env }, (x) => { x.session.set('n', 1); link(x); });
      const value = valueOf(cookieOf(first));
      const id = value.split('.')[0]!;
      assert.equal(first.sentBody, `/next?page=2&spec=${encodeURIComponent(value).replace(/%2E/g, '.')}`);
      assert.equal((await sessionOf({ env, query: `spec=${value}` })).s.id, id);
      assert.notEqual((await sessionOf({ env, query: `spec=${id}` })).s.id, id);
    });

    it('an invalid PSOSessionUrl answers 500 naming it', async () => {
      const r = await handle({ env: { PSOSessionUrl: 'sometimes' } });
      assert.equal(r.head!.status, 500);
      assert.ok(r.memoryLogger!.has('error', /PSOSessionUrl="sometimes" is invalid: expected off, on or only/), JSON.stringify(r.logLines));
    });
  });

  describe('edge cases of the policy', () => {
    it('when a cookie directive is invalid, fails at open, before anything is stored', async () => {
      const r = await handle({ env: { PSOCookieSession_SameSite: 'Sometimes' } }, (x) => x.session.set('n', 1));
      assert.equal(r.head!.status, 500);
      assert.deepEqual(sessionFiles(), []);
      const returning = await handle({ env: { PSOCookieSession_SameSite: 'Sometimes' }, headers: { cookie: `spec=${await seed()}` } });
      assert.equal(returning.head!.status, 500, 'returning visitors fail alike');
    });

    it('when a client already holds the forced id, does not send the cookie again', async () => {
      const forced = 'shared-demo-session';
      const first = await handle({ env: { spec: forced } }, (x) => x.session.set('n', 1));
      assert.equal(valueOf(cookieOf(first)), forced);
      const again = await handle({ env: { spec: forced }, headers: { cookie: `spec=${forced}` } }, (x) => x.session.increment('n'));
      assert.equal(cookieOf(again), undefined);
      assert.equal(stored(forced).data.n, 2);
    });

    it('when the cookie wins over a different id in the URL, still sends Referrer-Policy: no-referrer', async () => {
      const id = await seed({ n: 1 }, { PSOSessionUrl: 'on' });
      const r = await handle({ env: { PSOSessionUrl: 'on' }, query: `spec=${'Q'.repeat(27)}`, headers: { cookie: `spec=${id}` } }, (x) => x.session.increment('n'));
      assert.equal(header(r, 'Referrer-Policy'), 'no-referrer');
      assert.equal(stored(id).data.n, 2, 'the cookie\'s session was used');
    });

    it('when a tampered signed cookie comes with PSOSessionLazy on, clears it', async () => {
      const env = { PSOSessionSecret: S1, PSOSessionLazy: 'on' };
      const r = await handle({ env, headers: { cookie: `spec=${'A'.repeat(27)}.${'x'.repeat(43)}` } }, () => {});
      assert.match(cookieOf(r)!, /^spec=; Max-Age=0;/);
      assert.deepEqual(sessionFiles(), []);
    });
  });
});
