// Debian's Chromium for the browser suites (spec/e2e), through playwright-core:
// no browser is ever downloaded. `npm test` sets PSO_BROWSER_SKIP (with the
// reason) where Chromium cannot be had.
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
];

/** Skips the suite (saying why) when the run has no browser. Call in `before`. */
export function skipWithoutBrowser(context: Mocha.Context): void {
  const reason = process.env.PSO_BROWSER_SKIP;
  if (reason) {
    console.log(`    skipping the browser suite: ${reason}`);
    context.skip();
  }
}

/** A headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
}
