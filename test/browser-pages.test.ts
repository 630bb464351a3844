// Every page flow a person walks, in real headless Chromium: sign in, a wrong password, consent
// allowed and denied, a device code typed by hand (with the dash, without, lower case, a wrong
// one), revoking an app and signing out on the account page. Each test types and clicks as a
// person would; no form is posted by hand. The app's side (its callback, its logo, the device's
// token request) is played by the test.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { RecordAdapter } from '../src/store/oidc-adapter.js';
import { artifactsDir, chromiumMissing, launchChromium, newPage } from './support/chromium.js';
import { PASSWORD, discover, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

if (chromiumMissing) process.stdout.write(`skipped: the browser page suite needs ${chromiumMissing}\n`);
const suite = chromiumMissing ? describe.skip : describe;

/** The notes app: a third-party client with a logo, a site, a policy and terms. */
const NOTES = {
  site: 'https://notes.example.test/',
  callback: 'https://notes.example.test/callback',
  logo: 'https://cdn.example.test/notes-logo.png',
};

/** A 1×1 PNG, for the client's logo. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

/** Screenshots of the pages, for a person to look at (gitignored). */
const screenshots = join(artifactsDir(), 'pages');
mkdirSync(screenshots, { recursive: true });

let server: TestServer;
let fixtures: Fixtures;
let notes: { client_id: string; client_secret: string };
let browser: Browser;
const contexts: BrowserContext[] = [];

suite('pages in a real browser', () => {
  beforeAll(async () => {
    [server, browser] = await Promise.all([startLatchkey(), launchChromium()]);
    fixtures = await seed(server);
    notes = (await server.latchkey.services.clients.add({
      name: 'Notes',
      redirectUris: [NOTES.callback],
      grantTypes: ['authorization_code', 'refresh_token'],
      clientUri: NOTES.site,
      logoUri: NOTES.logo,
      policyUri: 'https://notes.example.test/privacy',
      tosUri: 'https://notes.example.test/terms',
    })) as typeof notes;
  });

  afterAll(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await browser?.close();
    await server?.close();
  });

  /** A fresh browser profile whose requests to the notes app are answered by the test. */
  async function person(): Promise<Page> {
    const { context, page } = await newPage(browser, { baseURL: server.url });
    contexts.push(context);
    await context.route('https://notes.example.test/**', (route) =>
      route.fulfill({ contentType: 'text/html', body: '<h1>Back at Notes</h1>' }),
    );
    await context.route(NOTES.logo, (route) => route.fulfill({ contentType: 'image/png', body: PNG }));
    return page;
  }

  async function authorizationUrl(scope = 'openid email offline_access') {
    const config = await discover(server, notes.client_id, notes.client_secret);
    const verifier = oauth.randomPKCECodeVerifier();
    const state = oauth.randomState();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: NOTES.callback,
      scope,
      state,
      prompt: 'consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { config, url, verifier, state };
  }

  async function typeCredentials(page: Page, password = PASSWORD) {
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  test('sign in, then allow: the app gets a code it exchanges for tokens', async () => {
    const page = await person();
    const { config, url, verifier, state } = await authorizationUrl();
    await page.goto(url.href);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
    await typeCredentials(page);

    // The consent page: the app's logo (loaded over https), site, return host, policy and terms.
    await page.getByRole('heading', { name: 'Notes wants to access your account' }).waitFor();
    // Loaded (1 px wide): the Content-Security-Policy lets https images in.
    await expect(page.evaluate('document.querySelector("img.client-logo").naturalWidth')).resolves.toBe(1);
    await expect(page.locator('.client-site a').textContent()).resolves.toBe('notes.example.test');
    await expect(page.locator('.return-host').textContent()).resolves.toBe('notes.example.test');
    await expect(page.getByRole('link', { name: 'privacy policy' }).getAttribute('href')).resolves.toBe(
      'https://notes.example.test/privacy',
    );
    await expect(page.getByRole('link', { name: 'terms of service' }).getAttribute('href')).resolves.toBe(
      'https://notes.example.test/terms',
    );
    await expect(page.locator('.permission-description').allTextContents()).resolves.toContain(
      'See your email address',
    );

    await page.screenshot({ path: join(screenshots, 'consent.png'), fullPage: true });

    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${NOTES.callback}?**`);
    const tokens = await oauth.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.claims()?.sub).toBe(fixtures.user.id);
    expect(tokens.refresh_token).toBeTruthy();
  });

  test('a wrong password is announced, keeps the email, and the right one then signs in', async () => {
    const page = await person();
    const { url } = await authorizationUrl();
    await page.goto(url.href);
    await typeCredentials(page, 'not my password');
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Invalid email or password.');
    await expect(page.getByLabel('Email').inputValue()).resolves.toBe('ada@example.com');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();
  });

  test('deny: the app is told access_denied and gets no code', async () => {
    const page = await person();
    const { url } = await authorizationUrl();
    await page.goto(url.href);
    await typeCredentials(page);
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(`${NOTES.callback}?**`);
    const callback = new URL(page.url());
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  describe('the device page', () => {
    // One person at one browser enters several codes: signed in (and the app allowed) once.
    let page: Page;
    beforeAll(async () => {
      page = await person();
    });

    async function startDevice() {
      const config = await discover(server, fixtures.device.client_id);
      return oauth.initiateDeviceAuthorization(config, { scope: 'openid profile' });
    }

    /** The device's token request (RFC 8628 §3.4), once the person has approved. */
    async function deviceToken(deviceCode: string) {
      const response = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: deviceCode,
          client_id: fixtures.device.client_id,
        }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    /** Types the code on the device page, checks it on the confirmation page, then goes on. */
    async function enterCode(typed: string, shown: string) {
      await page.goto('/device');
      // Key by key, as a person copies the code from the TV.
      await page.getByLabel('Code').pressSequentially(typed);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
      await expect(page.locator('.user-code code').textContent()).resolves.toBe(shown);
      await page.getByRole('button', { name: 'Continue' }).click();
      // Signed out: the sign-in page; not yet allowed: the consent page; then the success page.
      for (let step = 0; step < 3; step++) {
        const heading = await page.getByRole('heading', { level: 1 }).textContent();
        if (heading === 'Device connected') return;
        if (heading === 'Sign in') await typeCredentials(page);
        else if (heading?.endsWith('wants to access your account'))
          await page.getByRole('button', { name: 'Allow' }).click();
        else throw new Error(`unexpected page: ${heading}`);
        await page.waitForLoadState();
      }
      await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    }

    test.each([
      ['with the dash', (code: string) => code],
      ['without the dash', (code: string) => code.replace('-', '')],
      ['in lower case, with stray spaces', (code: string) => ` ${code.toLowerCase().replace('-', ' - ')} `],
    ])('a code typed %s connects the device', async (_how, typing) => {
      const started = await startDevice();
      await enterCode(typing(started.user_code), started.user_code);
      const token = await deviceToken(started.device_code);
      expect(token).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });
    });

    async function expectRefused(typed: string) {
      await page.goto('/device');
      await page.getByLabel('Code').pressSequentially(typed);
      await page.getByRole('button', { name: 'Continue' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toContain(
        'That code is not valid or has expired',
      );
      await expect(page.getByLabel('Code').inputValue()).resolves.toBe(typed);
      await expect(page.getByLabel('Code').getAttribute('aria-invalid')).resolves.toBe('true');
      await page.screenshot({ path: join(screenshots, 'device-code-refused.png'), fullPage: true });
    }

    test('a wrong code says so and keeps what was typed', async () => {
      // A is not in the base-20 alphabet: no device can show this code.
      await expectRefused('AAAA-AAAA');
    });

    test('an expired code says so too, and keeps what was typed', async () => {
      const started = await startDevice();
      // Ten minutes on: the code's own expiry has passed (the record itself is still there).
      const records = new RecordAdapter('DeviceCode', server.latchkey.store, server.latchkey.keyring);
      const payload = (await records.find(started.device_code))!;
      await records.upsert(started.device_code, { ...payload, exp: Math.floor(Date.now() / 1000) - 1 }, 60);
      await expectRefused(started.user_code.toLowerCase());
    });

    test('cancelling on the confirmation page says the device was not connected', async () => {
      const started = await startDevice();
      await page.goto('/device');
      await page.getByLabel('Code').fill(started.user_code);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('button', { name: 'Cancel' }).click();
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Access not allowed');
      await expect(page.locator('.lead').textContent()).resolves.toBe(
        'The device was not connected, and nothing was shared with it.',
      );
      await expect(
        page.getByRole('link', { name: 'Enter another code' }).getAttribute('href'),
      ).resolves.toMatch(/\/device$/);
      await expect(deviceToken(started.device_code)).resolves.toMatchObject({
        status: 400,
        body: { error: 'access_denied' },
      });
    });
  });

  test('the account page: sign in, revoke an app, sign out', async () => {
    // Ada has allowed the notes app (in a browser of her own, elsewhere).
    const elsewhere = await person();
    const { url } = await authorizationUrl('openid email');
    await elsewhere.goto(url.href);
    await typeCredentials(elsewhere);
    await elsewhere.getByRole('button', { name: 'Allow' }).click();
    await elsewhere.waitForURL(`${NOTES.callback}?**`);

    const page = await person();
    await page.goto('/account');
    await typeCredentials(page);
    await page.getByRole('heading', { name: 'Connected apps' }).waitFor();
    const notesApp = page.locator('li.app', { has: page.getByRole('heading', { name: 'Notes' }) });
    await notesApp.getByRole('button', { name: 'Revoke access from Notes' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('Access revoked.');
    await page.screenshot({ path: join(screenshots, 'account.png'), fullPage: true });
    await expect(page.getByRole('heading', { name: 'Notes', exact: true }).count()).resolves.toBe(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('You are signed out.');
    await page.goto('/account');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
  });

  test('signing out on the account page also ends the sign-in the apps use', async () => {
    const page = await person();
    const { url } = await authorizationUrl('openid');
    await page.goto(url.href);
    await typeCredentials(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${NOTES.callback}?**`);

    // Signed in through the app: the account page knows her without asking.
    await page.goto('/account');
    await page.getByRole('heading', { name: 'Connected apps' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('status').waitFor();
    await page.goto('/account');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
    // And the next app sign-in asks for the password again.
    await page.goto((await authorizationUrl('openid')).url.href);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
  });
});
