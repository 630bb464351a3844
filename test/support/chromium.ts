// Real headless Chromium for the page suites: playwright-core driving Debian's chromium (never a
// downloaded browser). One browser per test file, a fresh context (cookie jar) per test. Where
// Chromium is missing the suites skip, saying why.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser suites cannot run here, or undefined when they can. */
export const chromiumMissing: string | undefined = existsSync(CHROMIUM_PATH)
  ? undefined
  : `no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

/**
 * Launches Chromium headless. playwright gives every launch a fresh, temporary user-data-dir of
 * its own (removed at close), so no profile, cache or cookie carries over between runs.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A fresh browser profile's worth of state (cookies, cache) at a given window width. */
export async function newPage(
  browser: Browser,
  options: { width?: number; baseURL?: string } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 900 },
    baseURL: options.baseURL,
  });
  context.setDefaultTimeout(10_000);
  return { context, page: await context.newPage() };
}

/** Where tests write screenshots: test-artifacts/ at the repository root (gitignored). */
export function artifactsDir(): string {
  const dir = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return join(dir);
}
