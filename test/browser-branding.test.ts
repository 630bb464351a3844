// Branding in real headless Chromium: with the BRAND_* settings, the sign-in page shows the
// operator's name, logo, accent colour and support link, and nothing says Latchkey; without them,
// Latchkey's own look. Screenshots at 375 px and 1280 px wide go to test-artifacts/branding/
// (gitignored) for a person to look at.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium, newPage } from './support/chromium.js';
import { CALLBACK, discover, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

if (chromiumMissing) process.stdout.write(`skipped: the browser branding suite needs ${chromiumMissing}\n`);
const suite = chromiumMissing ? describe.skip : describe;

/** The operator's logo: a teal plate with "ACME" on it. */
const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40">
<rect width="120" height="40" rx="8" fill="#0f766e"/>
<text x="60" y="27" font-family="sans-serif" font-size="20" font-weight="700" fill="#fff" text-anchor="middle">ACME</text>
</svg>`;

const WIDTHS = [375, 1280] as const;

let browser: Browser;
let branded: TestServer;
let unbranded: TestServer;
const logoDir = mkdtempSync(join(tmpdir(), 'latchkey-brand-'));
const screenshots = join(artifactsDir(), 'branding');

const clients = new Map<TestServer, Fixtures['web']>();

/** The sign-in page an app sends a person to. */
async function signInPage(server: TestServer, width: number): Promise<Page> {
  const client = clients.get(server)!;
  const config = await discover(server, client.client_id, client.client_secret);
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { page } = await newPage(browser, { width });
  await page.goto(url.href);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  return page;
}

/** Writes a full-page screenshot and returns its width and height (from the PNG header). */
async function screenshot(page: Page, name: string): Promise<{ width: number; height: number }> {
  const file = join(screenshots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const png = readFileSync(file);
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

interface Look {
  title: string;
  name: string | undefined;
  logo: { loaded: boolean; height: number } | null;
  mark: boolean;
  footer: string | undefined;
  support: string | undefined;
  accent: string | null;
  text: string;
  overflows: boolean;
}

/**
 * What the page shows, read in the page. A string, as the test's TypeScript has no DOM types:
 * playwright evaluates it in the browser.
 */
const LOOK = `(() => {
  const logo = document.querySelector('header img.brand-logo');
  const button = document.querySelector('.button-primary');
  return {
    title: document.title,
    name: document.querySelector('header .brand-name')?.textContent,
    logo: logo && { loaded: logo.complete && logo.naturalWidth > 0, height: logo.getBoundingClientRect().height },
    mark: Boolean(document.querySelector('header svg.brand-mark')),
    footer: document.querySelector('footer')?.textContent?.trim(),
    support: document.querySelector('footer a')?.href,
    accent: button && getComputedStyle(button).backgroundColor,
    text: document.body.innerText,
    overflows: document.documentElement.scrollWidth > window.innerWidth,
  };
})()`;

function look(page: Page): Promise<Look> {
  return page.evaluate(LOOK) as Promise<Look>;
}

suite('branding in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    const logo = join(logoDir, 'acme.svg');
    writeFileSync(logo, LOGO_SVG);
    [browser, branded, unbranded] = await Promise.all([
      launchChromium(),
      startLatchkey({
        env: {
          BRAND_NAME: 'Acme ID',
          BRAND_LOGO: logo,
          BRAND_ACCENT_COLOR: '#0f766e',
          BRAND_SUPPORT_URL: 'https://help.acme.test/',
        },
      }),
      startLatchkey(),
    ]);
    for (const server of [branded, unbranded]) clients.set(server, (await seed(server)).web);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([branded?.close(), unbranded?.close()]);
    rmSync(logoDir, { recursive: true, force: true });
  });

  test.each(WIDTHS)("with BRAND_* set, the sign-in page at %i px is the operator's", async (width) => {
    const page = await signInPage(branded, width);
    const seen = await look(page);
    expect(seen).toMatchObject({
      title: 'Sign in · Acme ID',
      name: 'Acme ID',
      logo: { loaded: true, height: 32 },
      mark: false,
      footer: 'Help and support',
      support: 'https://help.acme.test/',
      accent: 'rgb(15, 118, 110)',
      overflows: false,
    });
    expect(seen.text).not.toMatch(/Latchkey/i);
    await expect(screenshot(page, `branded-sign-in-${width}`)).resolves.toMatchObject({ width });
    await page.context().close();
  });

  test.each(WIDTHS)("without BRAND_*, the sign-in page at %i px is Latchkey's", async (width) => {
    const page = await signInPage(unbranded, width);
    const seen = await look(page);
    expect(seen).toMatchObject({
      title: 'Sign in · Latchkey',
      name: 'Latchkey',
      logo: null,
      mark: true,
      footer: 'Secured by Latchkey',
      accent: 'rgb(29, 78, 216)',
      overflows: false,
    });
    await expect(screenshot(page, `unbranded-sign-in-${width}`)).resolves.toMatchObject({ width });
    await page.context().close();
  });

  test("the operator's name reaches the other pages too: the account page and an error page", async () => {
    const { page } = await newPage(browser, { width: 1280 });
    await page.goto(`${branded.url}/account`);
    await expect(page.title()).resolves.toBe('Sign in · Acme ID');
    await expect(page.locator('.lead').textContent()).resolves.toBe('to manage your Acme ID account');
    await page.goto(`${branded.url}/auth?client_id=nobody&response_type=code&scope=openid`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'This app is not recognised',
    );
    await expect(page.locator('.lead').textContent()).resolves.toContain('not registered with Acme ID');
    await expect(screenshot(page, 'branded-error-1280')).resolves.toMatchObject({ width: 1280 });
    await page.context().close();
  });
});
