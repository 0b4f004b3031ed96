// The samples in a real browser: headless Chromium (Debian's package) driven by
// playwright-core against `pso serve` child processes on 127.0.0.1.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Cookie, type Page, type Response } from 'playwright-core';
import { launchChromium, skipWithoutBrowser } from '../support/chromium.js';
import { sample, startServer, type ServerProcess } from '../support/http.js';
import { sessionFileName, sessionStem } from '../support/sessionFiles.js';


const SAMPLES = ['quick', 'expire', 'nocookie', 'login'] as const;
type SampleName = (typeof SAMPLES)[number];

const number = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  assert.ok(m, `unexpected page: ${JSON.stringify(text)}`);
  return Number(m[1]);
};
const reloads = async (page: Page) => number(await page.locator('body').innerText(), /You reloaded: (\d+) times/);
const visits = async (page: Page) => number(await page.locator('#count').innerText(), /Visits: (\d+)/);

/** The browser's cookie named `name` for `url`, if any. */
async function cookie(context: BrowserContext, url: string, name: string): Promise<Cookie | undefined> {
  return (await context.cookies(url)).find((c) => c.name === name);
}

/** Clicks `selector` and waits for the page it leads to (the response whose URL matches). */
async function follow(page: Page, selector: string, match: (r: Response) => boolean): Promise<Response> {
  const [res] = await Promise.all([page.waitForResponse(match), page.click(selector)]);
  await page.waitForLoadState('load');
  return res;
}

describe('the samples in headless Chromium', function () {
  this.timeout(10_000);

  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let sessions: string | undefined;
  const servers = new Map<SampleName, ServerProcess>();
  const url = (name: SampleName, path = '/') => new URL(path, servers.get(name)!.url).href;

  before(async function () {
    this.timeout(30_000);
    skipWithoutBrowser(this);
    sessions = mkdtempSync(join(tmpdir(), 'pso-e2e-'));
    const started = await Promise.allSettled(SAMPLES.map(async (name) => {
      servers.set(name, await startServer(sample(name), ['-D', `PSOSessionFileLoader_Path=${sessions}`]));
    }));
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    browser = await launchChromium();
  });

  after(async function () {
    this.timeout(20_000);
    await browser?.close();
    await Promise.all([...servers.values()].map((s) => s.stop()));
    if (sessions) rmSync(sessions, { recursive: true, force: true });
  });

  /** A fresh browser context (its own cookie jar). */
  async function newContext(): Promise<BrowserContext> {
    const c = await browser!.newContext();
    c.setDefaultTimeout(5_000);
    // Chromium asks for /favicon.ico after a page loads, and `pso serve` hands
    // that request to the handler like any other: it would count too.
    await c.route('**/favicon.ico', (route) => route.abort());
    return c;
  }

  beforeEach(async () => {
    context = await newContext();
    page = await context.newPage();
  });

  afterEach(async () => {
    await context?.close();
  });

  describe('quick', () => {
    it('counts reloads 1, 2, 3; a second browser context starts at 1', async () => {
      const res = await page.goto(url('quick'));
      assert.equal(res?.status(), 200);
      assert.equal(await reloads(page), 1);
      await page.reload();
      assert.equal(await reloads(page), 2);
      await page.reload();
      assert.equal(await reloads(page), 3);
      const c = await cookie(context, url('quick'), 'quick');
      assert.ok(c, 'the browser keeps the session cookie');
      assert.equal(c.httpOnly, true);
      assert.equal(c.sameSite, 'Lax');
      assert.equal(c.expires, -1, 'a session cookie (until the browser closes)');

      const other = await newContext();
      try {
        const p2 = await other.newPage();
        await p2.goto(url('quick'));
        assert.equal(await reloads(p2), 1);
        assert.notEqual((await cookie(other, url('quick'), 'quick'))?.value, c.value);
      } finally {
        await other.close();
      }
      // The first context's session goes on.
      await page.reload();
      assert.equal(await reloads(page), 4);
    });
  });

  describe('expire', () => {
    it('the "now" link expires the session: its cookie is gone and the plain page starts again at 1', async () => {
      await page.goto(url('expire'));
      assert.equal(await reloads(page), 1);
      await page.reload();
      assert.equal(await reloads(page), 2);
      const before = await cookie(context, url('expire'), 'expire');
      assert.ok(before, 'a session cookie before "now"');

      const res = await follow(page, '#now', (r) => r.url().includes('how=now'));
      assert.equal(res.status(), 200);
      // The request that expires the session still counts in it.
      assert.equal(await reloads(page), 3);
      assert.equal(await cookie(context, url('expire'), 'expire'), undefined, 'the cookie is cleared by the "now" response');

      await page.goto(url('expire'));
      assert.equal(await reloads(page), 1);
      const after = await cookie(context, url('expire'), 'expire');
      assert.ok(after, 'a new session cookie');
      assert.notEqual(after.value, before.value);
      await page.reload();
      assert.equal(await reloads(page), 2);
    });
  });

  describe('nocookie, in a browser whose cookies never reach the server', () => {
    beforeEach(async () => {
      // Chromium adds the stored cookies even when route.continue() overrides
      // the headers without them, so the cookie jar is emptied before every request.
      await context.route('**/*', async (route) => {
        await context.clearCookies();
        await route.continue();
      });
    });

    it('following mkurl links and posting the form keeps the session; the bare URL starts at 1', async () => {
      const first = await page.goto(url('nocookie'));
      assert.equal(first?.status(), 200);
      assert.equal(await first!.headerValue('referrer-policy'), 'no-referrer');
      assert.equal(await visits(page), 1);
      const href = await page.locator('#next').getAttribute('href');
      const id = new URL(href!, url('nocookie')).searchParams.get('nocookie');
      assert.ok(id, `the link carries the session id: ${href}`);
      // The cookie was offered (and stored until the next request empties the jar).
      assert.equal((await cookie(context, url('nocookie'), 'nocookie'))?.value, id);

      for (const n of [2, 3, 4]) {
        const res = await follow(page, '#next', (r) => r.url().includes('nocookie=') && r.request().method() === 'GET');
        assert.equal(await res.headerValue('referrer-policy'), 'no-referrer');
        assert.equal(await visits(page), n);
        // Still no cookie came back, so the next link carries the same id again.
        const next = new URL((await page.locator('#next').getAttribute('href'))!, url('nocookie'));
        assert.equal(next.searchParams.get('nocookie'), id);
      }

      const posted = await follow(page, '#post', (r) => r.request().method() === 'POST');
      assert.equal(posted.status(), 200);
      assert.equal(await posted.headerValue('referrer-policy'), 'no-referrer');
      assert.equal(await visits(page), 5);
      await follow(page, '#next', (r) => r.request().method() === 'GET');
      assert.equal(await visits(page), 6);

      // Typing the bare URL: no cookie reaches the server and no id is in the URL.
      await page.goto(url('nocookie'));
      assert.equal(await visits(page), 1);
      const fresh = new URL((await page.locator('#next').getAttribute('href'))!, url('nocookie')).searchParams.get('nocookie');
      assert.ok(fresh);
      assert.notEqual(fresh, id);
    });
  });

  describe('login', () => {
    const sessionFile = (id: string) => join(sessions!, `${sessionFileName('login', id)}`);

    it('a wrong password is refused; login regenerates the session id; logout destroys the session and clears the cookie', async () => {
      await page.goto(url('login'));
      await page.fill('input[name=user]', 'ada');
      await page.fill('input[name=password]', 'babbage');
      const refused = await follow(page, '#login', (r) => r.url().endsWith('/login'));
      assert.equal(refused.status(), 401);
      assert.equal(await page.locator('#error').innerText(), 'wrong user or password');
      const anonymous = await cookie(context, url('login'), 'login');
      assert.ok(anonymous, 'a session cookie before login');

      await page.fill('input[name=user]', 'ada');
      await page.fill('input[name=password]', 'lovelace');
      await follow(page, '#login', (r) => r.url() === url('login') && r.request().method() === 'GET');
      assert.equal(await page.locator('#who').innerText(), 'Logged in as ada');
      const loggedIn = await cookie(context, url('login'), 'login');
      assert.ok(loggedIn);
      assert.notEqual(loggedIn.value, anonymous.value, 'login gives the session a new id');
      assert.ok(existsSync(sessionFile(loggedIn.value)));
      assert.ok(!existsSync(sessionFile(anonymous.value)), 'the pre-login id is worth nothing');
      await page.reload();
      assert.equal(await page.locator('#who').innerText(), 'Logged in as ada');

      const [loggedOut] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/logout')),
        page.click('#logout'),
      ]);
      await page.waitForURL(url('login'));
      await page.waitForLoadState('load');
      assert.equal(loggedOut.status(), 302);
      assert.match((await loggedOut.headerValue('set-cookie')) ?? '', /^login=;.*Max-Age=0/i);
      assert.equal(await page.locator('#who').count(), 0);
      assert.equal(await page.locator('#login').count(), 1, 'the login form again');
      assert.notEqual((await cookie(context, url('login'), 'login'))?.value, loggedIn.value, 'the logged-in cookie is gone');
      assert.ok(!existsSync(sessionFile(loggedIn.value)), 'the session is deleted on the server');
    });
  });
});
