// samples/notes.ts in headless Chromium: the flash after a Post/Redirect/Get,
// and a form on another origin of the same site (another port of 127.0.0.1,
// which the session cookie is sent to) refused by the browser's own
// Sec-Fetch-Site, with a token or without one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium, skipWithoutBrowser } from '../support/chromium.js';
import { sample, startServer, type ServerProcess } from '../support/http.js';


describe('samples/notes.ts in headless Chromium', function () {
  this.timeout(15_000);
  let browser: Browser | undefined;
  let sessions: string | undefined;
  let strict: ServerProcess | undefined;
  let originOnly: ServerProcess | undefined;
  let attacker: Server | undefined;
  let attackerUrl = '';
  /** The page the attacker serves next: a form that posts itself to `action`. */
  let forged = { action: '', fields: {} as Record<string, string> };
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    this.timeout(40_000);
    skipWithoutBrowser(this);
    sessions = mkdtempSync(join(tmpdir(), 'pso-e2e-notes-'));
    [strict, originOnly] = await Promise.all([
      startServer(sample('notes'), ['-D', `PSOSessionFileLoader_Path=${sessions}`]),
      // The default mode: no token needed, the origin still checked.
      startServer(sample('notes'), ['-D', `PSOSessionFileLoader_Path=${sessions}`, '-D', 'PSOCsrf=origin', '-D', 'PSOServiceId=notes_origin']),
    ]);
    attacker = createServer((_req, res) => {
      const inputs = Object.entries(forged.fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
      res.setHeader('Content-Type', 'text/html');
      res.end(`<form id="f" method="post" action="${forged.action}">${inputs}</form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => attacker!.listen(0, '127.0.0.1', r));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
    browser = await launchChromium();
  });

  after(async function () {
    this.timeout(20_000);
    await browser?.close();
    attacker?.close();
    await Promise.all([strict?.stop(), originOnly?.stop()]);
    if (sessions) rmSync(sessions, { recursive: true, force: true });
  });

  beforeEach(async () => {
    context = await browser!.newContext();
    context.setDefaultTimeout(5_000);
    await context.route('**/favicon.ico', (route) => route.abort());
    page = await context.newPage();
  });
  afterEach(async () => {
    await context?.close();
  });

  async function addNote(base: string, text: string): Promise<void> {
    await page.goto(base);
    await page.fill('input[name=text]', text);
    const [post] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#add')]);
    assert.equal(post.status(), 303);
    await page.waitForLoadState('load');
  }

  /** Lets the attacker's page post `fields` to `action` in the victim's browser; the answer to that post. */
  async function forge(action: string, fields: Record<string, string>): Promise<{ status: number; text: string }> {
    forged = { action, fields };
    const [post] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === action),
      page.goto(attackerUrl),
    ]);
    await page.waitForLoadState('load');
    return { status: post.status(), text: await page.locator('body').innerText() };
  }

  it('shows a note\'s flash once, on the page the redirect leads to', async () => {
    await addNote(strict!.url, 'first note');
    assert.equal(await page.locator('p.info').innerText(), 'Noted: first note');
    assert.equal(await page.locator('#notes li').innerText(), 'first note');
    await page.reload();
    assert.equal(await page.locator('p.info').count(), 0);
  });

  it('refuses a form another port of the site posts with the visitor\'s session, even with a leaked token: the origin check', async () => {
    await addNote(strict!.url, 'mine');
    const token = (await page.locator('input[name=csrf]').getAttribute('value'))!;
    const answer = await forge(new URL('note', strict!.url).href, { csrf: token, text: 'forged' });
    assert.equal(answer.status, 403);
    assert.match(answer.text, /CSRF check failed \(origin\): the browser says the request came from another origin of this site .*Sec-Fetch-Site: same-site, Origin: http:\/\/127\.0\.0\.1:\d+/);
    await page.goto(strict!.url);
    assert.deepEqual(await page.locator('#notes li').allInnerTexts(), ['mine']);
  });

  it('with PSOCsrf origin (the default), takes the site\'s own form and refuses the other port\'s, which has no token', async () => {
    await addNote(originOnly!.url, 'own form');
    const answer = await forge(new URL('note', originOnly!.url).href, { text: 'forged' });
    assert.equal(answer.status, 403);
    assert.match(answer.text, /CSRF check failed \(origin\)/);
    await page.goto(originOnly!.url);
    assert.deepEqual(await page.locator('#notes li').allInnerTexts(), ['own form']);
  });
});
