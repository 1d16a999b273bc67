/**
 * Headless Chromium for tests, driven by playwright-core (which downloads no browser): the
 * system's `chromium` (Debian package chromium), found on PATH. Missing, the test fails with the
 * command that installs it; it never skips. The browser may reach 127.0.0.1 only.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { INSTALL_TEST_TOOLS } from './clock.js';

/** Without the background-networking flags Chromium reaches for hosts of its own. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Every name but 127.0.0.1 resolves to nothing.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/** The chromium binary on PATH; throws, naming the install command, when there is none. */
export function chromiumPath(path = process.env.PATH ?? ''): string {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  throw new Error(`chromium not found on PATH (the status page is tested in a real browser): install the test tools with ${INSTALL_TEST_TOOLS}`);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: ARGS, timeout: 20_000 });
}

/** A fresh context whose requests to anything but 127.0.0.1 are aborted. */
export async function loopbackContext(browser: Browser, opts: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
  const context = await browser.newContext(opts);
  await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  return context;
}
