// samples/account.ts in headless Chromium, served by `pso serve`: the same
// user logged in from two browser contexts (a laptop and a phone), a note
// posted through the page's own form (its hidden csrf field), a form whose
// token was tampered with refused, and "log out everywhere" from one context
// ending the session of both.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium, skipWithoutBrowser } from '../support/chromium.js';
import { sample, startServer, type ServerProcess } from '../support/http.js';


describe('samples/account.ts in headless Chromium', function () {
  this.timeout(30_000);
  let browser: Browser | undefined;
  let sessions: string | undefined;
  let server: ServerProcess | undefined;
  const contexts: BrowserContext[] = [];

  before(async function () {
    this.timeout(40_000);
    skipWithoutBrowser(this);
    sessions = mkdtempSync(join(tmpdir(), 'pso-e2e-account-'));
    server = await startServer(sample('account'), ['-D', `PSOSessionFileLoader_Path=${sessions}`]);
    browser = await launchChromium();
  });

  after(async function () {
    this.timeout(20_000);
    await browser?.close();
    await server?.stop();
    if (sessions) rmSync(sessions, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  /** A new browser context (its own cookies) with a page in it. */
  async function browserPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext();
    contexts.push(context);
    context.setDefaultTimeout(5_000);
    await context.route('**/favicon.ico', (route) => route.abort());
    return { context, page: await context.newPage() };
  }

  const url = (path: string) => new URL(path, server!.url).href;
  const userOf = (page: Page) => page.locator('#user').innerText();
  const flashesOf = (page: Page) => page.locator('p.flash').allInnerTexts();

  /** Logs in through the address bar: the 303 leads to the page, which shows the welcome. */
  async function logIn(page: Page, user: string): Promise<void> {
    const res = await page.goto(url(`/login?user=${encodeURIComponent(user)}`));
    assert.equal(res?.url(), url('/'), 'the login redirects to the page');
    assert.equal(await userOf(page), `user: ${user}`);
    assert.deepEqual(await flashesOf(page), [`flash: welcome ${user}`]);
  }

  it('logs the same user in from two contexts, posts a note through the form, and logs out everywhere from one: both are logged out', async () => {
    const laptop = await browserPage();
    const phone = await browserPage();
    await logIn(laptop.page, 'ada');
    await logIn(phone.page, 'ada');
    const laptopId = (await laptop.context.cookies(url('/')))[0]?.value;
    const phoneId = (await phone.context.cookies(url('/')))[0]?.value;
    assert.ok(laptopId && phoneId && laptopId !== phoneId, 'two sessions of one user');

    // The welcome was shown once.
    await laptop.page.reload();
    assert.equal(await userOf(laptop.page), 'user: ada');
    assert.deepEqual(await flashesOf(laptop.page), []);

    // The note goes through the page's form, which posts its hidden csrf field.
    await laptop.page.fill('input[name=text]', 'milk & <honey>');
    const field = await laptop.page.locator('input[name=csrf]').getAttribute('value');
    const [request, response] = await Promise.all([
      laptop.page.waitForRequest((r) => r.method() === 'POST'),
      laptop.page.waitForResponse((r) => r.request().method() === 'POST'),
      laptop.page.click('#note'),
    ]);
    const posted = new URLSearchParams(request.postData() ?? '');
    assert.match(field ?? '', /^[A-Za-z0-9_-]{64}$/);
    assert.equal(posted.get('csrf'), field, 'the form sent its hidden csrf field');
    assert.equal(response.status(), 200);
    await laptop.page.waitForLoadState('load');
    assert.equal(await laptop.page.locator('#noted').innerText(), 'noted: milk & <honey>');
    await laptop.page.click('text=back');
    await laptop.page.waitForLoadState('load');
    assert.equal(await userOf(laptop.page), 'user: ada');

    // The phone logs out everywhere.
    const [out] = await Promise.all([
      phone.page.waitForResponse((r) => r.url() === url('/logout-everywhere')),
      phone.page.click('#logout-everywhere'),
    ]);
    assert.equal(out.status(), 303);
    await phone.page.waitForLoadState('load');
    assert.equal(phone.page.url(), url('/'));
    assert.equal(await userOf(phone.page), 'user: -');

    // Both reload: logged out, each with a session that is not the one it had.
    for (const { context, page } of [laptop, phone]) {
      await page.reload();
      assert.equal(await userOf(page), 'user: -');
      assert.deepEqual(await flashesOf(page), []);
      const id = (await context.cookies(url('/')))[0]?.value;
      assert.ok(id !== laptopId && id !== phoneId, 'the old ids are refused');
    }
  });

  it('refuses the form when its csrf field was tampered with, and takes it again with the page\'s own token', async () => {
    const { page } = await browserPage();
    await logIn(page, 'grace');
    await page.fill('input[name=text]', 'forged');
    await page.locator('input[name=csrf]').evaluate((input) => { (input as { value: string }).value = 'A'.repeat(64); });
    const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#note')]);
    assert.equal(refused.status(), 403);
    await page.waitForLoadState('load');
    assert.match(await page.locator('body').innerText(), /CSRF check failed \(token\)/);

    await page.goto(url('/'));
    await page.fill('input[name=text]', 'mine');
    const [accepted] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#note')]);
    assert.equal(accepted.status(), 200);
    await page.waitForLoadState('load');
    assert.equal(await page.locator('#noted').innerText(), 'noted: mine');
  });
});
