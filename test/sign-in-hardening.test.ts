// The sign-in surface as an attacker probes it (issue 16): account-page sessions that end at
// sign-out (a copied cookie is worth nothing after it, and the OIDC session ends with it), sign-out
// only by POST with the form token, sessions ended by a new password and by an admin, Secure
// cookies whenever the issuer is https, consistent framing headers, owner-only data files, the
// production master-key opt-in, branding settings checked at start-up, and error pages in plain
// words.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'openid-client';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { PLAIN_HTTP_WARNING } from '../src/http/secure-cookies.js';
import { loadKeyring, masterKeyFilePath } from '../src/store/index.js';
import { Browser, hiddenInput, type Page } from './support/browser.js';
import { CALLBACK, PASSWORD, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { capturingLogger } from './support/logs.js';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
});

afterAll(async () => {
  await server.close();
});

function page(result: Page | { redirect: string }): Page {
  if ('redirect' in result) throw new Error(`unexpected redirect to ${result.redirect}`);
  return result;
}

/** A browser signed in on the account page itself. */
async function signedInOnAccountPage(): Promise<{ browser: Browser; account: Page }> {
  const browser = new Browser(server.url);
  const login = await browser.page(`${server.url}/account`);
  const account = page(
    await browser.submit('/account/login', {
      email: 'ada@example.com',
      password: PASSWORD,
      _csrf: hiddenInput(login.html, '_csrf'),
    }),
  );
  expect(account.html).toContain('<h1>Connected apps</h1>');
  return { browser, account };
}

/** /account as a browser holding exactly `cookie` sees it. */
async function accountPageWith(cookie: string): Promise<string> {
  const response = await fetch(`${server.url}/account`, { headers: { cookie } });
  return response.text();
}

const SIGN_IN_PAGE = 'action="/account/login"';

describe('account-page sessions', () => {
  test('a copied account-session cookie is refused after sign-out', async () => {
    const { browser, account } = await signedInOnAccountPage();
    const copied = await browser.jar.getCookieString(`${server.url}/account`);
    expect(copied).toContain('latchkey.account=');
    expect(await accountPageWith(copied)).toContain('<h1>Connected apps</h1>');
    expect(await server.latchkey.store.oidc.findByAccountId('AccountSession', fixtures.user.id)).toHaveLength(
      1,
    );

    const signedOut = page(
      await browser.submit('/account/logout', { _csrf: hiddenInput(account.html, '_csrf') }),
    );
    expect(signedOut.html).toContain('You are signed out.');
    expect(signedOut.html).toContain(SIGN_IN_PAGE);
    // The session is gone from the store: the copy signs no one in.
    expect(await server.latchkey.store.oidc.findByAccountId('AccountSession', fixtures.user.id)).toHaveLength(
      0,
    );
    const replayed = await accountPageWith(copied);
    expect(replayed).toContain(SIGN_IN_PAGE);
    expect(replayed).not.toContain('Connected apps');
  });

  test('sign-out without the form token is refused, and GET signs no one out', async () => {
    const { browser } = await signedInOnAccountPage();
    const cookie = await browser.jar.getCookieString(`${server.url}/account`);
    for (const body of ['', '_csrf=forged']) {
      const refused = await fetch(`${server.url}/account/logout`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body,
        redirect: 'manual',
      });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('The form expired or came from another site.');
    }
    const get = await fetch(`${server.url}/account/logout`, { headers: { cookie }, redirect: 'manual' });
    expect(get.status).toBe(302);
    expect(get.headers.get('location')).toBe('/account');
    expect(get.headers.getSetCookie()).toEqual([]);
    // Still signed in.
    expect(await accountPageWith(cookie)).toContain('<h1>Connected apps</h1>');
  });

  test('after sign-out /account asks to sign in again, even with the OIDC session cookie', async () => {
    // Signed in through an app: the browser holds latchkey.session, which /account accepts too.
    const browser = new Browser(server.url);
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    await signInAndAllow(
      server,
      oauth.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }),
      browser,
    );
    const copied = await browser.jar.getCookieString(`${server.url}/account`);
    expect(copied).toContain('latchkey.session=');
    expect(copied).not.toContain('latchkey.account=');
    const account = await browser.page(`${server.url}/account`);
    expect(account.html).toContain('<h1>Connected apps</h1>');

    page(await browser.submit('/account/logout', { _csrf: hiddenInput(account.html, '_csrf') }));
    expect(await accountPageWith(copied)).toContain(SIGN_IN_PAGE);
    expect(await server.latchkey.store.oidc.findByAccountId('Session', fixtures.user.id)).toEqual([]);
    // The browser's own cookies are cleared too.
    expect(await browser.jar.getCookieString(`${server.url}/account`)).not.toMatch(
      /latchkey\.(session|account)=/,
    );
  });

  test('a new password and an admin disabling the user end their sessions', async () => {
    const { accounts } = server.latchkey.services;
    const first = await signedInOnAccountPage();
    const firstCookie = await first.browser.jar.getCookieString(`${server.url}/account`);
    await accounts.setPassword(fixtures.user.id, PASSWORD);
    expect(await accountPageWith(firstCookie)).toContain(SIGN_IN_PAGE);

    const second = await signedInOnAccountPage();
    const secondCookie = await second.browser.jar.getCookieString(`${server.url}/account`);
    await accounts.setDisabled(fixtures.user.id, true);
    await accounts.setDisabled(fixtures.user.id, false);
    // Enabled again, the user signs in again: the old session went with the disabling.
    expect(await accountPageWith(secondCookie)).toContain(SIGN_IN_PAGE);
  });
});

/**
 * A cookie-collecting walk through sign-in: every Set-Cookie header on the way is kept. A minimal
 * jar (name=value only), so that Secure cookies are sent back over the test's plain HTTP.
 */
class CookieWalk {
  readonly setCookies: string[] = [];
  readonly #jar = new Map<string, string>();

  constructor(
    readonly origin: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async go(path: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    let url = new URL(path, this.origin);
    let response: Response | undefined;
    for (let hops = 0; hops < 10; hops++) {
      response = await fetch(new URL(`${url.pathname}${url.search}`, this.origin), {
        method: hops === 0 ? (init.method ?? 'GET') : 'GET',
        redirect: 'manual',
        headers: {
          ...this.headers,
          cookie: [...this.#jar].map(([name, value]) => `${name}=${value}`).join('; '),
          ...(init.form && hops === 0 ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: init.form && hops === 0 ? new URLSearchParams(init.form) : undefined,
      });
      for (const header of response.headers.getSetCookie()) {
        this.setCookies.push(header);
        const [pair] = header.split(';') as [string];
        const at = pair.indexOf('=');
        const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
        if (value) this.#jar.set(name, value);
        else this.#jar.delete(name);
      }
      const location = response.headers.get('location');
      if (!location || response.status < 300 || response.status >= 400) return response;
      url = new URL(location, url);
      // This server, by its address (over https when behind the proxy) or the issuer's host, is
      // followed; anything else (the client's callback) ends the walk.
      if (url.host !== new URL(this.origin).host && url.host !== 'auth.example.test') return response;
    }
    return response!;
  }
}

describe('with an https issuer', () => {
  async function walkSignIn(https: TestServer, headers: Record<string, string> = {}) {
    const seeded = await seed(https);
    const walk = new CookieWalk(https.url, headers);
    const authorize = new URLSearchParams({
      client_id: seeded.web.client_id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const login = await walk.go(`/auth?${authorize}`);
    const loginHtml = await login.text();
    const uid = /action="\/interaction\/([^/]+)\/login"/.exec(loginHtml)![1]!;
    const consent = await walk.go(`/interaction/${uid}/login`, {
      method: 'POST',
      form: { email: 'ada@example.com', password: PASSWORD, _csrf: hiddenInput(loginHtml, '_csrf') },
    });
    const consentHtml = await consent.text();
    const consentUid = /action="\/interaction\/([^/]+)\/confirm"/.exec(consentHtml)![1]!;
    const back = await walk.go(`/interaction/${consentUid}/confirm`, {
      method: 'POST',
      form: { _csrf: hiddenInput(consentHtml, '_csrf') },
    });
    expect(back.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
    const accountLogin = await (await walk.go('/account')).text();
    expect(accountLogin).toContain('Connected apps');
    const signedOut = await walk.go('/account/logout', {
      method: 'POST',
      form: { _csrf: hiddenInput(accountLogin, '_csrf') },
    });
    expect(await signedOut.text()).toContain('You are signed out.');
    const accountSignIn = await walk.go('/account/login', {
      method: 'POST',
      form: { email: 'ada@example.com', password: PASSWORD, _csrf: hiddenInput(accountLogin, '_csrf') },
    });
    expect(await accountSignIn.text()).toContain('Connected apps');
    return walk.setCookies;
  }

  function cookieNames(setCookies: string[]): string[] {
    return [...new Set(setCookies.map((header) => header.slice(0, header.indexOf('='))))].sort();
  }

  test('every cookie is Secure even over plain HTTP without TRUST_PROXY, with one warning', async () => {
    const { logger, lines } = capturingLogger('warn');
    const https = await startLatchkey({
      env: { ISSUER: 'https://auth.example.test' },
      options: { logger },
    });
    try {
      const setCookies = await walkSignIn(https);
      expect(cookieNames(setCookies)).toEqual(
        expect.arrayContaining([
          'latchkey.account',
          'latchkey.csrf',
          'latchkey.interaction',
          'latchkey.resume',
          'latchkey.session',
        ]),
      );
      for (const header of setCookies) expect(header).toMatch(/; secure(;|$)/i);
      const warnings = lines.filter((line) => line.includes(PLAIN_HTTP_WARNING));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, event: 'config.plain_http' });
    } finally {
      await https.close();
    }
  });

  test('behind a trusted TLS proxy (X-Forwarded-Proto: https) cookies are Secure and nothing is said', async () => {
    const { logger, lines } = capturingLogger('warn');
    const https = await startLatchkey({
      env: { ISSUER: 'https://auth.example.test', TRUST_PROXY: 'true' },
      options: { logger },
    });
    try {
      const setCookies = await walkSignIn(https, { 'x-forwarded-proto': 'https' });
      expect(setCookies.length).toBeGreaterThan(5);
      for (const header of setCookies) expect(header).toMatch(/; secure(;|$)/i);
      expect(lines.filter((line) => line.includes(PLAIN_HTTP_WARNING))).toEqual([]);
    } finally {
      await https.close();
    }
  });

  test('an http issuer sets no Secure cookies (a browser would drop them over http)', async () => {
    const response = await fetch(`${server.url}/account`);
    expect(response.headers.getSetCookie()).not.toEqual([]);
    for (const header of response.headers.getSetCookie()) expect(header).not.toMatch(/; secure/i);
  });
});

describe('pages and files', () => {
  test('pages are never framed, and say so consistently', async () => {
    const response = await fetch(`${server.url}/account`);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('content-security-policy')).toContain("img-src 'self' data: https:");
  });

  test('the database, its -wal and -shm files and the key file are owner-only (mode 600)', async () => {
    for (const file of ['latchkey.db', 'latchkey.db-wal', 'latchkey.db-shm', 'master.key']) {
      expect({ file, mode: (statSync(join(server.dir, file)).mode & 0o777).toString(8) }).toEqual({
        file,
        mode: '600',
      });
    }
  });
});

describe('settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sqlite = { DATABASE_URL: `sqlite:${join(dir, 'data', 'latchkey.db')}` };

  test('in production the key file beside the database takes an explicit LATCHKEY_MASTER_KEY_FILE', () => {
    expect(() => loadConfig({ ...sqlite, NODE_ENV: 'production' })).toThrow(
      new ConfigError(
        'invalid setting LATCHKEY_MASTER_KEY: required with NODE_ENV=production (or LATCHKEY_MASTER_KEY_FILE, a key file kept apart from the database)',
      ),
    );
    const keyFile = join(dir, 'secrets', 'latchkey.key');
    const config = loadConfig({ ...sqlite, NODE_ENV: 'production', LATCHKEY_MASTER_KEY_FILE: keyFile });
    expect(masterKeyFilePath(config)).toBe(keyFile);
    const created: string[] = [];
    loadKeyring(config, (path) => created.push(path));
    expect(created).toEqual([keyFile]);
    expect((statSync(keyFile).mode & 0o777).toString(8)).toBe('600');
    expect(() =>
      loadConfig({
        ...sqlite,
        NODE_ENV: 'production',
        LATCHKEY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      }),
    ).not.toThrow();
    // Outside production the default stays: beside the database.
    expect(masterKeyFilePath(loadConfig(sqlite))).toBe(join(dir, 'data', 'master.key'));
  });

  test('branding settings are checked at start-up, each error naming its setting', () => {
    const logo = join(dir, 'logo.svg');
    writeFileSync(logo, '<svg xmlns="http://www.w3.org/2000/svg"/>');
    expect(
      loadConfig({
        BRAND_NAME: ' Acme ID ',
        BRAND_LOGO: logo,
        BRAND_ACCENT_COLOR: '#0F766E',
        BRAND_SUPPORT_URL: 'mailto:help@acme.test',
      }).branding,
    ).toEqual({
      name: 'Acme ID',
      logo: { file: logo, type: 'image/svg+xml' },
      accentColor: '#0f766e',
      supportUrl: 'mailto:help@acme.test',
    });
    expect(loadConfig({ BRAND_LOGO: 'https://cdn.acme.test/logo.png' }).branding.logo).toEqual({
      url: 'https://cdn.acme.test/logo.png',
    });
    expect(loadConfig({}).branding).toEqual({ name: 'Latchkey' });
    for (const [name, value] of [
      ['BRAND_ACCENT_COLOR', 'teal'],
      ['BRAND_ACCENT_COLOR', '#12345'],
      ['BRAND_LOGO', 'http://cdn.acme.test/logo.png'],
      ['BRAND_LOGO', 'javascript:alert(1)'],
      ['BRAND_LOGO', join(dir, 'missing.png')],
      ['BRAND_LOGO', join(dir, 'logo.txt')],
      ['BRAND_SUPPORT_URL', 'javascript:alert(1)'],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid setting ${name}: `));
    }
  });
});

describe('error pages in plain words', () => {
  const ACCEPT_HTML = { accept: 'text/html' };

  async function errorPage(path: string) {
    const response = await fetch(`${server.url}${path}`, { headers: ACCEPT_HTML, redirect: 'manual' });
    const html = await response.text();
    return {
      status: response.status,
      heading: /<h1>([^<]*)<\/h1>/.exec(html)?.[1],
      code: /class="error-code"><code>([^<]*)<\/code>/.exec(html)?.[1],
      reference: /Reference: <code>([^<]*)<\/code>/.exec(html)?.[1],
      requestId: response.headers.get('x-request-id'),
      action: /<a class="button button-primary" href="([^"]*)">([^<]*)<\/a>/.exec(html)?.slice(1),
      html,
    };
  }

  test('an unknown client: not recognised, no link onwards, the code and reference kept small', async () => {
    const shown = await errorPage('/auth?client_id=nobody&response_type=code&scope=openid');
    expect(shown).toMatchObject({
      status: 400,
      heading: 'This app is not recognised',
      code: 'invalid_client',
    });
    expect(shown.reference).toBe(shown.requestId);
    expect(shown.action).toBeUndefined();
    expect(shown.html).toMatch(/<div class="error-support">[\s\S]*invalid_client/);
  });

  test('a redirect URI the client never registered: the way back is the client site', async () => {
    const clients = server.latchkey.services.clients;
    const shop = await clients.add({
      name: 'Shop',
      redirectUris: ['https://shop.example.test/callback'],
      clientUri: 'https://shop.example.test/',
    });
    const shown = await errorPage(
      `/auth?client_id=${shop.client_id}&response_type=code&scope=openid&redirect_uri=https://evil.example.test/`,
    );
    expect(shown).toMatchObject({
      status: 400,
      heading: 'This app cannot take you back',
      code: 'invalid_redirect_uri',
      action: ['https://shop.example.test/', 'Back to Shop'],
    });
  });

  test('an expired or unknown sign-in: start again from the app', async () => {
    for (const path of ['/interaction/no-such-uid', '/auth/no-such-uid']) {
      const shown = await errorPage(path);
      expect({ path, status: shown.status, heading: shown.heading }).toEqual({
        path,
        status: 400,
        heading: 'This sign-in has expired',
      });
      expect(shown.html).toContain('Go back to the app and sign in again.');
    }
  });

  test('an address nothing answers: a page for a browser, the bare 404 for an API client', async () => {
    const shown = await errorPage('/devise');
    expect(shown).toMatchObject({ status: 404, heading: 'Page not found', code: 'not_found' });
    expect(shown.html).toContain('Check that it was typed correctly');
    expect(shown.reference).toBe(shown.requestId);
    const api = await fetch(`${server.url}/devise`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).not.toMatch(/html/);
  });

  test('revoking without being signed in: a way to sign in', async () => {
    const { browser } = await signedInOnAccountPage();
    const cookie = (await browser.jar.getCookieString(`${server.url}/account`))
      .split('; ')
      .filter((pair) => !pair.startsWith('latchkey.account'))
      .join('; ');
    const form = await fetch(`${server.url}/account`, { headers: { cookie } });
    const csrf = hiddenInput(await form.text(), '_csrf');
    const response = await fetch(`${server.url}/account/apps/x/revoke`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${encodeURIComponent(csrf)}`,
    });
    const html = await response.text();
    expect(response.status).toBe(401);
    expect(html).toContain('<h1>You need to sign in</h1>');
    expect(html).toContain('<a class="button button-primary" href="/account">Sign in</a>');
  });
});
