// Sign-in handed to an app in another process (LOGIN_URL): examples/login-url-app, plain HTTP
// calls to the admin API, stands for a Rails, Django or PHP app with its own users. A client runs
// an openid-client code flow with PKCE: the browser signs in at the app, never on a Latchkey login
// page, and the tokens carry the app's claims; prompt=login goes to the app again despite a
// session; prompt=none without one gets login_required; the app's claims changes and sign-outs
// reach Latchkey through the admin API.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput, type Page } from './support/browser.js';
import { CALLBACK, discover, PASSWORD } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import {
  adminCall,
  adminClient,
  authorizationUrl,
  freePort,
  startLoginUrlApp,
  type ExampleProcess,
  type Flow,
} from './support/login-handoff.js';

/** The example app's user (examples/login-url-app/app.js). */
const MEMBER = { id: 'member-42', email: 'alan@example.com', name: 'Alan Turing' };

let server: TestServer;
let app: ExampleProcess;
let loginUrl: string;
let config: oauth.Configuration;
let adminToken: string;

beforeAll(async () => {
  loginUrl = `http://127.0.0.1:${await freePort()}/login`;
  server = await startLatchkey({ env: { LOGIN_URL: loginUrl } });
  const web = await server.latchkey.services.clients.add({
    name: 'Photo Printer',
    redirectUris: [CALLBACK],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  config = await discover(server, web.client_id, web.client_secret!);
  const signIn = await adminClient(server, 'admin:login');
  adminToken = signIn.token;
  app = await startLoginUrlApp({
    PORT: new URL(loginUrl).port,
    LATCHKEY_URL: server.url,
    CLIENT_ID: signIn.client_id,
    CLIENT_SECRET: signIn.client_secret,
  });
});

afterAll(async () => {
  await app?.stop();
  await server?.close();
});

function asPage(result: Page | { redirect: string }): Page {
  if ('redirect' in result) throw new Error(`expected a page, was sent to ${result.redirect}`);
  return result;
}

/** Signs in on the app's own page; the app accepts the challenge and sends the browser back. */
function signInAtApp(browser: Browser, page: Page) {
  expect(page.url.startsWith(`${loginUrl}?login_challenge=`)).toBe(true);
  return browser.submit(new URL(formAction(page.html, '/login'), page.url).href, {
    login_challenge: hiddenInput(page.html, 'login_challenge'),
    email: MEMBER.email,
    password: PASSWORD,
  });
}

async function allow(browser: Browser, consent: Page): Promise<URL> {
  expect(consent.html).toContain('/confirm"');
  const result = await browser.submit(formAction(consent.html, '/confirm'), {
    _csrf: hiddenInput(consent.html, '_csrf'),
  });
  if (!('redirect' in result)) throw new Error(`no redirect to the client: ${result.html.slice(0, 300)}`);
  return new URL(result.redirect);
}

async function tokensFor(callback: URL, flow: Flow) {
  return oauth.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
  });
}

async function usersMe(accessToken: string) {
  const response = await fetch(`${server.url}/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A browser that signed in at the app and allowed the client once (offline: a refresh token too). */
async function signedInBrowser(offline = false) {
  const browser = new Browser(server.url, new URL(loginUrl).origin);
  const flow = await authorizationUrl(
    config,
    // prompt=consent: an earlier test's consent is remembered for this subject and client.
    offline ? { scope: 'openid profile email offline_access', prompt: 'consent' } : { prompt: 'consent' },
  );
  const signIn = asPage(await browser.navigate(flow.url.href));
  const consent = asPage(await signInAtApp(browser, signIn));
  const tokens = await tokensFor(await allow(browser, consent), flow);
  return { browser, tokens };
}

describe('sign-in handed to an app in another process', () => {
  test('the browser signs in at the app, not on a Latchkey page; the tokens carry the app’s claims', async () => {
    const browser = new Browser(server.url, new URL(loginUrl).origin);
    const flow = await authorizationUrl(config);
    const signIn = asPage(await browser.navigate(flow.url.href));
    expect(signIn.html).toContain('Sign in to the members');
    expect(signIn.html).not.toContain('_csrf');

    const consent = asPage(await signInAtApp(browser, signIn));
    expect(consent.url.startsWith(`${server.url}/interaction/`)).toBe(true);
    expect(consent.html).toContain(MEMBER.email);
    const tokens = await tokensFor(await allow(browser, consent), flow);

    const expected = { sub: MEMBER.id, email: MEMBER.email, email_verified: true, name: MEMBER.name };
    expect(tokens.claims()).toMatchObject({ ...expected, iss: server.url });
    expect(await oauth.fetchUserInfo(config, tokens.access_token, MEMBER.id)).toMatchObject(expected);
    // updated_at: when Latchkey last saw the claims change (at this sign-in).
    expect(await usersMe(tokens.access_token)).toEqual({
      status: 200,
      body: { ...expected, updated_at: expect.any(Number) },
    });
  });

  test('with a session, the next request needs neither the app nor consent', async () => {
    const { browser } = await signedInBrowser();
    const result = await browser.navigate((await authorizationUrl(config)).url.href);
    expect('redirect' in result && new URL(result.redirect).searchParams.has('code')).toBe(true);
  });

  test('prompt=login sends the user to the app again despite a session', async () => {
    const { browser } = await signedInBrowser();
    const flow = await authorizationUrl(config, { prompt: 'login' });
    const signIn = asPage(await browser.navigate(flow.url.href));
    // The app is told why: it shows its form although its own session knows the user.
    const challenge = new URL(signIn.url).searchParams.get('login_challenge')!;
    const request = await adminCall(server, adminToken, 'GET', `/login-requests/${challenge}`);
    expect(request.body).toMatchObject({ prompt: 'login', subject: MEMBER.id });
    expect(signIn.html).toContain('name="password"');

    const back = await signInAtApp(browser, signIn);
    expect('redirect' in back && new URL(back.redirect).searchParams.has('code')).toBe(true);
  });

  test('max_age older than the session sends the user to the app again', async () => {
    const { browser } = await signedInBrowser();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const flow = await authorizationUrl(config, { max_age: '0' });
    const signIn = asPage(await browser.navigate(flow.url.href));
    expect(signIn.url.startsWith(`${loginUrl}?login_challenge=`)).toBe(true);
  });

  test('prompt=none without a session gets login_required at the client', async () => {
    const browser = new Browser(server.url, new URL(loginUrl).origin);
    const result = await browser.navigate((await authorizationUrl(config, { prompt: 'none' })).url.href);
    if (!('redirect' in result)) throw new Error('no redirect to the client');
    const callback = new URL(result.redirect);
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('error')).toBe('login_required');
  });

  test('claims changed through the admin API are what /v1/users/me shows with the next token', async () => {
    const { browser } = await signedInBrowser();
    const changed = await adminCall(server, adminToken, 'PUT', `/subjects/${MEMBER.id}/claims`, {
      email: 'alan.turing@example.org',
      email_verified: false,
      name: 'Alan M. Turing',
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ subject: MEMBER.id, claims: { name: 'Alan M. Turing' } });

    const flow = await authorizationUrl(config);
    const result = await browser.navigate(flow.url.href);
    if (!('redirect' in result)) throw new Error('no redirect to the client');
    const tokens = await tokensFor(new URL(result.redirect), flow);
    expect(await usersMe(tokens.access_token)).toEqual({
      status: 200,
      body: {
        sub: MEMBER.id,
        email: 'alan.turing@example.org',
        email_verified: false,
        name: 'Alan M. Turing',
        updated_at: expect.any(Number),
      },
    });
  });

  test('the subject’s logout ends its Latchkey sessions (prompt=none: login_required); offline access stays', async () => {
    const { browser, tokens } = await signedInBrowser(true);
    const logout = await adminCall(server, adminToken, 'POST', `/subjects/${MEMBER.id}/logout`, {});
    expect(logout.status).toBe(200);
    expect(logout.body).toMatchObject({ subject: MEMBER.id, tokens_revoked: false });
    expect(logout.body.sessions_ended).toBeGreaterThanOrEqual(1);
    // Without revoke_tokens an app keeps the offline access it was given (tokens without
    // offline_access end with the session, as oidc-provider has it).
    const refreshed = await oauth.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await usersMe(refreshed.access_token)).status).toBe(200);

    const next = await browser.navigate((await authorizationUrl(config, { prompt: 'none' })).url.href);
    expect('redirect' in next && new URL(next.redirect).searchParams.get('error')).toBe('login_required');
  });

  test('signing out at the app signs out of Latchkey: the next request shows the app’s sign-in page', async () => {
    const { browser } = await signedInBrowser();
    // The example's sign-out calls POST /admin/v1/subjects/{subject}/logout.
    await browser.submit(`${new URL(loginUrl).origin}/logout`, {});
    const again = asPage(await browser.navigate((await authorizationUrl(config)).url.href));
    expect(again.url.startsWith(`${loginUrl}?login_challenge=`)).toBe(true);
    expect(again.html).toContain('name="password"');
  });

  test('a logout with revoke_tokens also takes the tokens the subject’s apps hold', async () => {
    const { tokens } = await signedInBrowser(true);
    const logout = await adminCall(server, adminToken, 'POST', `/subjects/${MEMBER.id}/logout`, {
      revoke_tokens: true,
    });
    expect(logout.body).toMatchObject({ tokens_revoked: true });
    expect((await usersMe(tokens.access_token)).status).toBe(401);
    await expect(oauth.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    // The claims stay: the subject signs in again as it was.
    await signedInBrowser();
  });
});
