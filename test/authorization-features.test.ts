// DPoP, PAR, back-channel logout, login throttling and security headers, end to end.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, generateKeyPair, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  // The back-channel receiver below listens on loopback, which oidc-provider refuses by default.
  server = await startLatchkey({
    env: { OUTBOUND_ALLOW_PRIVATE: 'true' },
    options: { throttle: { perSource: 3 } },
  });
  fixtures = await seed(server);
});

afterAll(async () => {
  await server.close();
});

async function authorizationUrl(
  config: oauth.Configuration,
  verifier: string,
  extra: Record<string, string> = {},
) {
  return oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
}

describe('DPoP (RFC 9449)', () => {
  test('tokens are bound to the client key: userinfo needs a proof from that key', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const dpop = oauth.getDPoPHandle(config, await generateKeyPair('ES256'));
    const verifier = oauth.randomPKCECodeVerifier();
    const callback = await signInAndAllow(server, await authorizationUrl(config, verifier));
    const tokens = await oauth.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: verifier },
      undefined,
      { DPoP: dpop },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const claims = await oauth.fetchUserInfo(config, tokens.access_token, fixtures.user.id, { DPoP: dpop });
    expect(claims.email).toBe('ada@example.com');
    // The same token as a plain bearer token is refused.
    const bearer = await fetch(`${server.url}/me`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(bearer.status).toBe(401);
  });
});

describe('pushed authorization requests (RFC 9126)', () => {
  test('the request is pushed, the browser carries only request_uri, and the flow completes', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = await oauth.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(url.searchParams.get('redirect_uri')).toBeNull();
    const callback = await signInAndAllow(server, url);
    const tokens = await oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(fixtures.user.id);
  });
});

describe('back-channel logout', () => {
  let receiver: Server;
  const received: string[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  test('ending the session posts a signed logout token to the client', async () => {
    const { port } = receiver.address() as AddressInfo;
    const client = await server.latchkey.services.clients.add({
      name: 'Back-channel App',
      redirectUris: [CALLBACK],
      backchannelLogoutUri: `http://127.0.0.1:${port}/backchannel`,
    });
    const config = await discover(server, client.client_id, client.client_secret);
    const browser = new Browser(server.url);
    const verifier = oauth.randomPKCECodeVerifier();
    const callback = await signInAndAllow(server, await authorizationUrl(config, verifier), browser);
    const tokens = await oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    const sid = tokens.claims()!.sid;
    expect(sid).toBeTruthy();

    const page = await browser.page(
      oauth.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).href,
    );
    await browser.submit(formAction(page.html, '/session/end/confirm'), {
      xsrf: hiddenInput(page.html, 'xsrf'),
      logout: 'yes',
    });
    for (let wait = 0; wait < 50 && received.length === 0; wait++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toHaveLength(1);
    const { payload } = await jwtVerify(received[0]!, createRemoteJWKSet(new URL(`${server.url}/jwks`)), {
      issuer: server.url,
      audience: client.client_id,
    });
    expect(payload.sid).toBe(sid);
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
  });
});

describe('first-party clients', () => {
  test('a client added with --first-party skips the consent page', async () => {
    const client = await server.latchkey.services.clients.add({
      name: 'Our Own App',
      redirectUris: [CALLBACK],
      firstParty: true,
    });
    const config = await discover(server, client.client_id, client.client_secret);
    const browser = new Browser(server.url);
    const url = await authorizationUrl(config, oauth.randomPKCECodeVerifier());
    const login = await browser.page(url.href);
    const after = await browser.submit(formAction(login.html, '/login'), {
      email: 'ada@example.com',
      password: 'correct horse battery staple',
      _csrf: hiddenInput(login.html, '_csrf'),
    });
    // Straight back to the app with a code: no consent page in between.
    if (!('redirect' in after))
      throw new Error(`expected a redirect, got a page: ${after.html.slice(0, 200)}`);
    expect(new URL(after.redirect).searchParams.get('code')).toBeTruthy();
  });
});

describe('login throttling and page security', () => {
  test('after repeated failures the account is locked out for a while, even with the right password', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const browser = new Browser(server.url);
    const login = await browser.page(
      (await authorizationUrl(config, oauth.randomPKCECodeVerifier(), { prompt: 'login' })).href,
    );
    const action = new URL(formAction(login.html, '/login'), server.url).href;
    const attempt = (password: string) =>
      browser.page(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          email: 'ADA@example.com',
          password,
          _csrf: hiddenInput(login.html, '_csrf'),
        }).toString(),
      });
    for (let i = 0; i < 3; i++) expect((await attempt(`wrong-password-${i}`)).status).toBe(401);
    const locked = await attempt('correct horse battery staple');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.html).toContain('Too many failed attempts');
  });

  test('pages carry security headers and cookies are HttpOnly and SameSite', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const response = await fetch((await authorizationUrl(config, oauth.randomPKCECodeVerifier())).href, {
      redirect: 'manual',
    });
    const cookies = response.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/httponly/i);
      expect(cookie).toMatch(/samesite=(lax|strict|none)/i);
    }
    const page = await fetch(new URL(response.headers.get('location')!, server.url), {
      headers: { cookie: cookies.map((cookie) => cookie.split(';')[0]).join('; ') },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toContain('no-store');
    expect(page.headers.get('x-request-id')).toBeTruthy();
    expect(page.headers.get('content-security-policy')).toContain("style-src 'self'");
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    const css = await fetch(`${server.url}/assets/latchkey.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  test('JSON endpoints carry the API set of security headers: nothing may load, frame or sniff them', async () => {
    for (const path of [
      '/jwks',
      '/.well-known/openid-configuration',
      '/token',
      '/v1/users/me',
      '/vault/providers',
    ]) {
      const response = await fetch(`${server.url}${path}`, { method: path === '/token' ? 'POST' : 'GET' });
      expect(response.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/);
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none';frame-ancestors 'none'",
      );
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('strict-transport-security')).toContain('max-age=');
      // Document-only headers are left to pages.
      expect(response.headers.get('cross-origin-opener-policy')).toBeNull();
    }
  });
});
