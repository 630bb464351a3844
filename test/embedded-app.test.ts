// Latchkey embedded in a Node app: the Express example (examples/express-app) mounts it under
// /oauth with its own users table, session and sign-in page. A client runs an openid-client code
// flow with PKCE against issuer $HOST/oauth: the host's signed-in user goes straight to consent,
// anyone else through the host's sign-in page and back, and the tokens carry the host's claims.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import mount from 'koa-mount';
import * as oauth from 'openid-client';
import type { LatchkeyApp } from '../src/http/latchkey-app.js';
import { Browser, formAction, hiddenInput, type Page } from './support/browser.js';
import { CALLBACK, PASSWORD, forgetConsents } from './support/flows.js';

/** The example as its users run it (plain JavaScript; jest maps its `latchkey` import to src/). */
interface ExpressExample {
  createApp(options: { baseUrl: string; env: Record<string, string> }): Promise<{
    app: (request: IncomingMessage, response: ServerResponse) => void;
    latchkey: LatchkeyApp;
  }>;
  users: { id: string; email: string; name: string }[];
}
const EXAMPLE = '../examples/express-app/app.js';
const { createApp, users } = (await import(EXAMPLE)) as ExpressExample;
const USER = users[0]!;

let dir: string;
let server: Server;
let host: string;
let issuer: string;
let latchkey: LatchkeyApp;
let client: { client_id: string; client_secret: string };
let config: oauth.Configuration;

async function listen(
  listener?: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const created = listener ? createServer(listener) : createServer();
  await new Promise<void>((resolve) => created.listen(0, '127.0.0.1', resolve));
  return { server: created, url: `http://127.0.0.1:${(created.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-embedded-'));
  ({ server, url: host } = await listen());
  issuer = `${host}/oauth`;
  const example = await createApp({
    baseUrl: host,
    env: { DATABASE_URL: `sqlite:${join(dir, 'latchkey.db')}`, LOG_LEVEL: 'silent' },
  });
  latchkey = example.latchkey;
  server.on('request', example.app);
  client = (await latchkey.services.clients.add({
    name: 'Photo Printer',
    redirectUris: [CALLBACK],
    grantTypes: ['authorization_code', 'refresh_token'],
  })) as typeof client;
  config = await oauth.discovery(
    new URL(issuer),
    client.client_id,
    { client_secret: client.client_secret },
    oauth.ClientSecretBasic(client.client_secret),
    { execute: [oauth.allowInsecureRequests] },
  );
});

// Each test that expects the consent page starts from none (consent is remembered).
beforeEach(() => forgetConsents(latchkey.store));

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await latchkey?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function authorizationUrl(extra: Record<string, string> = {}) {
  const verifier = oauth.randomPKCECodeVerifier();
  const state = oauth.randomState();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile email',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state };
}

function asPage(result: Page | { redirect: string }): Page {
  if ('redirect' in result) throw new Error(`expected a page, was sent to ${result.redirect}`);
  return result;
}

async function signInAtHost(browser: Browser, page?: Page) {
  const form = page ?? (await browser.page(`${host}/login`));
  expect(form.html).toContain('Sign in to ExampleApp');
  return browser.submit(formAction(form.html, '/login'), {
    email: USER.email,
    password: PASSWORD,
    return_to: hiddenInput(form.html, 'return_to'),
  });
}

/** Allows on Latchkey's consent page; returns the callback the client got. */
async function allow(browser: Browser, consent: Page): Promise<URL> {
  expect(consent.html).toContain('/confirm"');
  const result = await browser.submit(formAction(consent.html, '/confirm'), {
    _csrf: hiddenInput(consent.html, '_csrf'),
  });
  if (!('redirect' in result)) throw new Error(`no redirect to the client: ${result.html.slice(0, 300)}`);
  return new URL(result.redirect);
}

async function expectHostClaims(callback: URL, flow: Awaited<ReturnType<typeof authorizationUrl>>) {
  const tokens = await oauth.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
  });
  const expected = { sub: USER.id, email: USER.email, email_verified: true, name: USER.name };
  expect(tokens.claims()).toMatchObject({ ...expected, iss: issuer });
  expect(await oauth.fetchUserInfo(config, tokens.access_token, USER.id)).toMatchObject(expected);
  const me = await fetch(`${issuer}/v1/users/me`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  expect(me.status).toBe(200);
  expect(await me.json()).toEqual(expected);
}

describe('a Node app with its own users, Latchkey mounted under /oauth', () => {
  test('discovery names the issuer and every endpoint under the mount path', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(issuer);
    for (const endpoint of [
      metadata.authorization_endpoint,
      metadata.token_endpoint,
      metadata.userinfo_endpoint,
      metadata.jwks_uri,
    ])
      expect(endpoint!.startsWith(`${issuer}/`)).toBe(true);
  });

  test('a user signed in at the host sees no Latchkey login page: consent, then the host’s claims', async () => {
    const browser = new Browser(host);
    const home = asPage(await signInAtHost(browser));
    expect(home.html).toContain(`Signed in as ${USER.name}`);

    const flow = await authorizationUrl();
    const consent = asPage(await browser.navigate(flow.url.href));
    expect(new URL(consent.url).pathname).toMatch(/^\/oauth\/interaction\//);
    expect(consent.html).not.toContain('name="password"');
    expect(consent.html).toContain(USER.email);
    // Every address the page holds is under the mount path: its forms and its stylesheet.
    expect(formAction(consent.html, '/confirm')).toMatch(/^\/oauth\/interaction\/[^/]+\/confirm$/);
    const stylesheet = /<link rel="stylesheet" href="([^"]+)"/.exec(consent.html)![1]!;
    expect(stylesheet.startsWith('/oauth/assets/')).toBe(true);
    expect((await fetch(new URL(stylesheet, host))).status).toBe(200);

    await expectHostClaims(await allow(browser, consent), flow);
  });

  test('a user not signed in goes to the host’s sign-in page and comes back into the same flow', async () => {
    const browser = new Browser(host);
    const flow = await authorizationUrl();
    const signIn = asPage(await browser.navigate(flow.url.href));
    expect(new URL(signIn.url).pathname).toBe('/login');
    expect(hiddenInput(signIn.html, 'return_to')).toMatch(/^\/oauth\/interaction\//);

    const consent = asPage(await signInAtHost(browser, signIn));
    expect(new URL(consent.url).pathname).toMatch(/^\/oauth\/interaction\//);
    await expectHostClaims(await allow(browser, consent), flow);

    // Consent given, signed in at both: the next request goes straight back to the client.
    const again = await authorizationUrl();
    const result = await browser.navigate(again.url.href);
    expect('redirect' in result && new URL(result.redirect).searchParams.has('code')).toBe(true);
  });

  test('a wrong password at the host keeps the user in the flow: the right one then comes back to it', async () => {
    const browser = new Browser(host);
    const flow = await authorizationUrl();
    const signIn = asPage(await browser.navigate(flow.url.href));
    const wrong = asPage(
      await browser.submit(formAction(signIn.html, '/login'), {
        email: USER.email,
        password: 'not the password',
        return_to: hiddenInput(signIn.html, 'return_to'),
      }),
    );
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('Wrong email or password.');
    expect(hiddenInput(wrong.html, 'return_to')).toBe(hiddenInput(signIn.html, 'return_to'));

    const consent = asPage(await signInAtHost(browser, wrong));
    expect(new URL(consent.url).pathname).toMatch(/^\/oauth\/interaction\//);
    await expectHostClaims(await allow(browser, consent), flow);
  });

  test('Latchkey’s session follows the host’s: signed out there, prompt=none gets login_required', async () => {
    const browser = new Browser(host);
    await signInAtHost(browser);
    const consent = asPage(await browser.navigate((await authorizationUrl()).url.href));
    await allow(browser, consent);

    const signedIn = await browser.navigate((await authorizationUrl({ prompt: 'none' })).url.href);
    expect('redirect' in signedIn && new URL(signedIn.redirect).searchParams.has('code')).toBe(true);

    const home = asPage(await browser.navigate(`${host}/`));
    await browser.submit(formAction(home.html, '/logout'), {});
    const signedOut = await browser.navigate((await authorizationUrl({ prompt: 'none' })).url.href);
    if (!('redirect' in signedOut)) throw new Error('no redirect to the client');
    expect(new URL(signedOut.redirect).searchParams.get('error')).toBe('login_required');
  });

  test('handed every request by node:http, path and all, Latchkey takes the mount path off itself', async () => {
    const { server: plain, url } = await listen(latchkey.callback());
    try {
      const discovery = await fetch(`${url}/oauth/.well-known/openid-configuration`);
      const metadata = (await discovery.json()) as { token_endpoint: string };
      expect(metadata.token_endpoint).toBe(`${url}/oauth/token`);
      expect((await fetch(`${url}/oauth/healthz`)).status).toBe(200);
    } finally {
      plain.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  test('mounted by koa-mount into a Koa host, Latchkey serves under the path with its own cookie keys', async () => {
    const koaHost = new Koa();
    koaHost.use(mount('/oauth', latchkey.app));
    const { server: koaServer, url } = await listen(koaHost.callback() as never);
    try {
      const discovery = await fetch(`${url}/oauth/.well-known/openid-configuration`);
      const metadata = (await discovery.json()) as { authorization_endpoint: string };
      expect(metadata.authorization_endpoint).toBe(`${url}/oauth/auth`);
      const flow = await authorizationUrl();
      const started = await fetch(`${url}/oauth/auth${flow.url.search}`, { redirect: 'manual' });
      expect(started.status).toBe(303);
      expect(started.headers.get('location')).toMatch(/^\/oauth\/interaction\//);
      // The interaction cookie is signed with Latchkey's keys (the host has none) and scoped to the path.
      expect(started.headers.getSetCookie().join('\n')).toMatch(
        /latchkey\.interaction\.sig=.*path=\/oauth\/interaction\//,
      );
    } finally {
      koaServer.closeAllConnections();
      await new Promise((resolve) => koaServer.close(resolve));
    }
  });
});
