// The rules of login and consent challenges (LOGIN_URL, CONSENT_URL) at the admin API, with the
// operator's app played by direct admin calls: single use (a second answer is 410, no second
// code), unknown and expired ones 404, `admin:login` required, bound to the browser that started
// the flow, malformed answers 400 naming the field, consent no wider than what was asked.
import { afterAll, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import * as oauth from 'openid-client';
import { CHALLENGE_TTL_SECONDS } from '../src/authorization/login-challenges.js';
import { Browser, type Page } from './support/browser.js';
import { CALLBACK, discover, PASSWORD, forgetConsents } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { adminCall, adminClient, authorizationUrl, type Flow } from './support/login-handoff.js';

// Nothing listens there: the browsers here stop at the redirect, the test answers for the app.
const LOGIN_URL = 'http://127.0.0.1:9/login';
const CONSENT_URL = 'http://127.0.0.1:9/consent';
const SUBJECT = 'customer-7';
const CLAIMS = { email: 'kay@example.com', email_verified: true, name: 'Kay Example' };

let server: TestServer;
let config: oauth.Configuration;
let token: string;

beforeAll(async () => {
  server = await startLatchkey({ env: { LOGIN_URL, CONSENT_URL } });
  const web = await server.latchkey.services.clients.add({
    name: 'Photo Printer',
    redirectUris: [CALLBACK],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  config = await discover(server, web.client_id, web.client_secret!);
  token = (await adminClient(server, 'admin:login')).token;
});

// Each test that expects the consent page starts from none (consent is remembered).
beforeEach(() => forgetConsents(server.latchkey.store));

afterAll(async () => {
  await server?.close();
});

const call = (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) =>
  adminCall(server, token, method, path, body);

/** Where the browser was sent outside Latchkey (LOGIN_URL, CONSENT_URL or the client). */
function sentTo(result: Page | { redirect: string }): URL {
  if (!('redirect' in result))
    throw new Error(`expected a redirect, got a page: ${result.html.slice(0, 300)}`);
  return new URL(result.redirect);
}

/** Starts a code flow in the browser; returns the login challenge it was sent to LOGIN_URL with. */
async function startLogin(browser: Browser, extra: Record<string, string> = {}) {
  const flow = await authorizationUrl(config, extra);
  const login = sentTo(await browser.navigate(flow.url.href));
  expect(login.origin + login.pathname).toBe(LOGIN_URL);
  return { flow, challenge: login.searchParams.get('login_challenge')! };
}

/** Accepts the login, follows redirect_to; returns the consent challenge the browser was sent on with. */
async function signIn(browser: Browser, challenge: string) {
  const accepted = await call('POST', `/login-requests/${challenge}/accept`, {
    subject: SUBJECT,
    claims: CLAIMS,
    remember: true,
  });
  expect(accepted.status).toBe(200);
  const consent = sentTo(await browser.navigate(accepted.body.redirect_to));
  expect(consent.origin + consent.pathname).toBe(CONSENT_URL);
  return {
    redirectTo: accepted.body.redirect_to as string,
    consent: consent.searchParams.get('consent_challenge')!,
  };
}

/** Grants these scopes at the consent request; returns the client's callback. */
async function consent(browser: Browser, challenge: string, grantScope: string[]) {
  const accepted = await call('POST', `/consent-requests/${challenge}/accept`, { grant_scope: grantScope });
  expect(accepted.status).toBe(200);
  return sentTo(await browser.navigate(accepted.body.redirect_to));
}

async function exchange(callback: URL, flow: Flow) {
  return oauth.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
  });
}

describe('login requests', () => {
  test('the app learns what is asked: client, scopes, prompt, login_hint, max_age, known subject', async () => {
    const { challenge } = await startLogin(new Browser(server.url), {
      login_hint: 'kay@example.com',
      max_age: '600',
    });
    const request = await call('GET', `/login-requests/${challenge}`);
    expect(request.status).toBe(200);
    expect(request.headers.get('cache-control')).toBe('no-store');
    expect(request.body).toEqual({
      challenge,
      client: { client_id: config.clientMetadata().client_id, client_name: 'Photo Printer' },
      requested_scope: ['openid', 'profile', 'email'],
      requested_access_token_audience: [],
      prompt: null,
      login_hint: 'kay@example.com',
      max_age: 600,
      subject: null,
    });
  });

  test('accepting an accepted challenge again fails, and no second code follows', async () => {
    const browser = new Browser(server.url);
    const { flow, challenge } = await startLogin(browser);
    const { redirectTo, consent: consentChallenge } = await signIn(browser, challenge);

    const again = await call('POST', `/login-requests/${challenge}/accept`, { subject: 'someone-else' });
    expect(again.status).toBe(410);
    expect(again.body).toEqual({ error: 'already_handled', error_description: expect.any(String) });
    expect(again.body.redirect_to).toBeUndefined();
    expect((await call('POST', `/login-requests/${challenge}/reject`, {})).status).toBe(410);
    expect((await call('GET', `/login-requests/${challenge}`)).status).toBe(410);

    const callback = await consent(browser, consentChallenge, ['openid', 'profile', 'email']);
    const tokens = await exchange(callback, flow);
    expect(tokens.claims()).toMatchObject({ sub: SUBJECT, ...CLAIMS });
    // The consent challenge and both verifiers are spent too.
    expect(
      (await call('POST', `/consent-requests/${consentChallenge}/accept`, { grant_scope: [] })).status,
    ).toBe(410);
    const replay = await browser.navigate(redirectTo);
    expect('redirect' in replay).toBe(false);
    expect((replay as Page).status).toBe(400);
  });

  test('an unknown or expired challenge gets 404', async () => {
    for (const path of ['/login-requests/no-such-challenge', '/consent-requests/no-such-challenge']) {
      expect(await call('GET', path)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    }
    expect(
      (await call('POST', '/login-requests/no-such-challenge/accept', { subject: SUBJECT })).status,
    ).toBe(404);

    const { challenge } = await startLogin(new Browser(server.url));
    const now = Date.now();
    const later = jest.spyOn(Date, 'now').mockImplementation(() => now + (CHALLENGE_TTL_SECONDS + 1) * 1000);
    try {
      expect(await call('GET', `/login-requests/${challenge}`)).toMatchObject({ status: 404 });
      expect((await call('POST', `/login-requests/${challenge}/accept`, { subject: SUBJECT })).status).toBe(
        404,
      );
    } finally {
      later.mockRestore();
    }
  });

  test('a token without admin:login gets 403 insufficient_scope; none at all 401', async () => {
    const { challenge } = await startLogin(new Browser(server.url));
    const reader = await adminClient(server, 'admin:read admin:write');
    for (const [method, path] of [
      ['GET', `/login-requests/${challenge}`],
      ['POST', `/login-requests/${challenge}/accept`],
      ['PUT', `/subjects/${SUBJECT}/claims`],
      ['POST', `/subjects/${SUBJECT}/logout`],
    ] as const) {
      const answer = await adminCall(
        server,
        reader.token,
        method,
        path,
        method === 'GET' ? undefined : { subject: SUBJECT },
      );
      expect([path, answer.status, answer.body.error]).toEqual([path, 403, 'insufficient_scope']);
      expect(answer.headers.get('www-authenticate')).toContain('scope="admin:login"');
    }
    const anonymous = await fetch(`${server.url}/admin/v1/login-requests/${challenge}`);
    expect(anonymous.status).toBe(401);
    // Still there for the app that may answer it.
    expect((await call('GET', `/login-requests/${challenge}`)).status).toBe(200);
  });

  test('a challenge started in one browser and accepted for another gives the other browser nothing', async () => {
    const started = new Browser(server.url);
    const { challenge } = await startLogin(started);
    const accepted = await call('POST', `/login-requests/${challenge}/accept`, {
      subject: SUBJECT,
      claims: CLAIMS,
    });

    const other = new Browser(server.url);
    const result = await other.navigate(accepted.body.redirect_to);
    expect('redirect' in result).toBe(false);
    expect((result as Page).status).toBe(400);
    expect(await other.jar.getCookieString(server.url)).not.toMatch(/latchkey\.session=/);
    const fresh = sentTo(await other.navigate((await authorizationUrl(config, { prompt: 'none' })).url.href));
    expect(fresh.searchParams.get('error')).toBe('login_required');

    // The browser that started the flow, and only it, goes on with it.
    const consent = sentTo(await started.navigate(accepted.body.redirect_to));
    expect(consent.origin + consent.pathname).toBe(CONSENT_URL);
  });

  test('a malformed body or subject gets 400 naming the field, and leaves the challenge as it was', async () => {
    const { challenge } = await startLogin(new Browser(server.url));
    const accept = `/login-requests/${challenge}/accept`;
    const cases: [string, unknown, RegExp][] = [
      [accept, { subject: 'has space' }, /body\.subject: printable ASCII/],
      [accept, { subject: 'x'.repeat(256) }, /body\.subject/],
      [accept, {}, /body\.subject/],
      [accept, { subject: SUBJECT, claims: { email: 'not-an-email' } }, /body\.claims\.email/],
      [accept, { subject: SUBJECT, claims: { nickname: 'k' } }, /body\.claims\.nickname: unknown field/],
      [accept, { subject: SUBJECT, remember: 'yes' }, /body\.remember/],
      [accept, { subject: SUBJECT, admin: true }, /body\.admin: unknown field/],
      [accept, '{"subject":', /could not be read/],
      [`/login-requests/${challenge}/reject`, { error: 'bad"quote' }, /body\.error/],
      ['/consent-requests/whatever/accept', { grant_scope: 'openid' }, /body\.grant_scope/],
      [`/subjects/${SUBJECT}/claims`, { name: '' }, /body\.name/],
      ['/subjects/has%20space/claims', { name: 'Kay' }, /params\.subject/],
      [`/subjects/${SUBJECT}/logout`, { revoke_tokens: 'yes' }, /body\.revoke_tokens/],
    ];
    for (const [path, body, named] of cases) {
      const answer = await call(path.endsWith('/claims') ? 'PUT' : 'POST', path, body);
      expect([path, body, answer.status, answer.body.error]).toEqual([path, body, 400, 'invalid_request']);
      expect(answer.body.error_description).toMatch(named);
    }
    expect((await call('GET', `/login-requests/${challenge}`)).status).toBe(200);
  });

  test('one of Latchkey’s own accounts cannot be answered for: 409', async () => {
    const own = await server.latchkey.services.accounts.create({
      email: 'own@example.com',
      name: 'Own Account',
      password: PASSWORD,
    });
    const { challenge } = await startLogin(new Browser(server.url));
    const answer = await call('POST', `/login-requests/${challenge}/accept`, { subject: own.id });
    expect(answer).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect((await call('PUT', `/subjects/${own.id}/claims`, { name: 'x' })).status).toBe(409);
  });

  test('a rejected login ends the flow at the client with the app’s error', async () => {
    const browser = new Browser(server.url);
    const { challenge } = await startLogin(browser);
    const rejected = await call('POST', `/login-requests/${challenge}/reject`, {
      error: 'access_denied',
      error_description: 'The user cancelled.',
    });
    expect(rejected.status).toBe(200);
    const callback = sentTo(await browser.navigate(rejected.body.redirect_to));
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('error_description')).toBe('The user cancelled.');
    expect(callback.searchParams.has('code')).toBe(false);
  });
});

describe('consent requests (CONSENT_URL)', () => {
  test('list what is not granted yet; the granted scopes cannot exceed it, and are all the tokens carry', async () => {
    const browser = new Browser(server.url);
    const { flow, challenge } = await startLogin(browser, { prompt: 'consent' });
    const { consent: consentChallenge } = await signIn(browser, challenge);

    const request = await call('GET', `/consent-requests/${consentChallenge}`);
    expect(request.body).toMatchObject({
      challenge: consentChallenge,
      client: { client_name: 'Photo Printer' },
      subject: SUBJECT,
      requested_access_token_audience: [],
    });
    expect([...request.body.requested_scope].sort()).toEqual(['email', 'openid', 'profile']);

    const tooMuch = await call('POST', `/consent-requests/${consentChallenge}/accept`, {
      grant_scope: ['openid', 'admin:write'],
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error_description).toMatch(/^body\.grant_scope\[1\]: admin:write was not requested/);

    const callback = await consent(browser, consentChallenge, ['openid', 'profile']);
    const tokens = await exchange(callback, flow);
    expect(tokens.scope!.split(' ').sort()).toEqual(['openid', 'profile']);
    const userinfo = await oauth.fetchUserInfo(config, tokens.access_token, SUBJECT);
    expect(userinfo).toMatchObject({ sub: SUBJECT, name: CLAIMS.name });
    expect(userinfo.email).toBeUndefined();
  });

  test('a rejected consent sends the client access_denied', async () => {
    const browser = new Browser(server.url);
    const { challenge } = await startLogin(browser, { prompt: 'consent' });
    const { consent: consentChallenge } = await signIn(browser, challenge);
    const rejected = await call('POST', `/consent-requests/${consentChallenge}/reject`, {
      error: 'access_denied',
    });
    const callback = sentTo(await browser.navigate(rejected.body.redirect_to));
    expect(callback.searchParams.get('error')).toBe('access_denied');
  });
});
