// "Login with Latchkey" end to end: a real OAuth client library (openid-client) against a real
// server on a random port, through the real login and consent forms.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, codeFlow, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
});

afterAll(async () => {
  await server.close();
});

/** The OAuth error code of a failed openid-client call (body error or WWW-Authenticate challenge). */
async function expectOAuthError(promise: Promise<unknown>, error: string) {
  const thrown = await promise.then(
    () => undefined,
    (reason: unknown) => reason as { error?: string; cause?: Array<{ parameters?: { error?: string } }> },
  );
  expect(thrown).toBeDefined();
  expect(thrown!.error ?? thrown!.cause?.[0]?.parameters?.error).toBe(error);
}

describe('discovery', () => {
  test('OpenID and RFC 8414 metadata name the issuer and every endpoint', async () => {
    const oidc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as any;
    const rfc8414 = await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json();
    expect(rfc8414).toEqual(oidc);
    expect(oidc.issuer).toBe(server.url);
    for (const endpoint of [
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'jwks_uri',
      'introspection_endpoint',
      'revocation_endpoint',
      'device_authorization_endpoint',
      'end_session_endpoint',
      'pushed_authorization_request_endpoint',
    ]) {
      expect(typeof oidc[endpoint]).toBe('string');
    }
    expect(oidc.code_challenge_methods_supported).toEqual(['S256']);
    expect(oidc.authorization_response_iss_parameter_supported).toBe(true);
    expect(oidc.dpop_signing_alg_values_supported.length).toBeGreaterThan(0);
    const jwks = (await (await fetch(oidc.jwks_uri)).json()) as any;
    const algs = jwks.keys.map((key: { alg: string }) => key.alg);
    expect(algs).toContain('RS256');
    expect(algs).toContain('ES256');
    expect(jwks.keys.every((key: Record<string, unknown>) => key.d === undefined)).toBe(true);
  });
});

describe('authorization code with PKCE', () => {
  test('a confidential client signs the user in, reads userinfo and refreshes', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const { tokens, callback } = await codeFlow(server, config, CALLBACK);
    expect(callback.searchParams.get('iss')).toBe(server.url);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(fixtures.user.id);
    expect(claims.iss).toBe(server.url);
    expect(claims.aud).toBe(fixtures.web.client_id);
    expect(tokens.refresh_token).toBeTruthy();

    const userinfo = await oauth.fetchUserInfo(config, tokens.access_token, fixtures.user.id);
    expect(userinfo).toMatchObject({
      sub: fixtures.user.id,
      email: 'ada@example.com',
      email_verified: true,
      name: 'Ada Lovelace',
    });

    const refreshed = await oauth.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect((await oauth.fetchUserInfo(config, refreshed.access_token, fixtures.user.id)).sub).toBe(
      fixtures.user.id,
    );
  });

  test('the consent page names the app and explains each scope; a second sign-in skips what was granted', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const browser = new Browser(server.url);
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      // Earlier tests' consent for this user and app is remembered across sessions.
      prompt: 'consent',
    });
    const login = await browser.page(url.href);
    expect(login.html).toContain('Example Web App');
    const consent = await browser.submit(formAction(login.html, '/login'), {
      email: 'ada@example.com',
      password: 'correct horse battery staple',
      _csrf: hiddenInput(login.html, '_csrf'),
    });
    if ('redirect' in consent) throw new Error('expected the consent page');
    expect(consent.html).toContain('Example Web App');
    expect(consent.html).toContain('See your email address');
    expect(consent.html).toMatch(/action="\/interaction\/[^"]+\/abort"/);
    const done = await browser.submit(formAction(consent.html, '/confirm'), {
      _csrf: hiddenInput(consent.html, '_csrf'),
    });
    expect('redirect' in done && done.redirect.startsWith(CALLBACK)).toBe(true);
    // Same browser, same scopes: no login, no consent, straight back with a code.
    const repeat = new URL(url);
    repeat.searchParams.delete('prompt');
    const again = await browser.navigate(repeat.href);
    if (!('redirect' in again)) throw new Error(again.html);
    expect('redirect' in again && new URL(again.redirect).searchParams.get('code')).toBeTruthy();
  });

  test('denying consent sends access_denied back to the client', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const browser = new Browser(server.url);
    const state = oauth.randomState();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile',
      state,
      prompt: 'consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const login = await browser.page(url.href);
    const consent = await browser.submit(formAction(login.html, '/login'), {
      email: 'ada@example.com',
      password: 'correct horse battery staple',
      _csrf: hiddenInput(login.html, '_csrf'),
    });
    if ('redirect' in consent) throw new Error('expected the consent page');
    const denied = await browser.submit(formAction(consent.html, '/abort'), {
      _csrf: hiddenInput(consent.html, '_csrf'),
    });
    if (!('redirect' in denied)) throw new Error('expected a redirect to the client');
    const params = new URL(denied.redirect).searchParams;
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('state')).toBe(state);
  });

  test('a wrong password shows the login page again with an error; a form without CSRF token is refused', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const browser = new Browser(server.url);
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const login = await browser.page(url.href);
    const action = formAction(login.html, '/login');
    const wrong = await browser.page(new URL(action, server.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        email: 'ada@example.com',
        password: 'nope-nope-nope',
        _csrf: hiddenInput(login.html, '_csrf'),
      }).toString(),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('Invalid email or password');
    const forged = await browser.page(new URL(action, server.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        email: 'ada@example.com',
        password: 'correct horse battery staple',
      }).toString(),
    });
    expect(forged.status).toBe(403);
    expect(forged.html).not.toMatch(/at .*\.ts:\d+/);
  });

  test('a public client must use PKCE, gets rotated refresh tokens, and reuse revokes the grant', async () => {
    const config = await discover(server, fixtures.native.client_id);
    const noPkce = oauth.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:9/native',
      scope: 'openid',
    });
    const refused = await new Browser(server.url).navigate(noPkce.href);
    if (!('redirect' in refused)) throw new Error('expected an error redirect');
    expect(new URL(refused.redirect).searchParams.get('error')).toBe('invalid_request');
    expect(new URL(refused.redirect).searchParams.get('error_description')).toMatch(/PKCE/);

    const { tokens } = await codeFlow(server, config, 'http://127.0.0.1:9/native');
    const first = tokens.refresh_token!;
    const second = await oauth.refreshTokenGrant(config, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    // RFC 9700 §4.14.2: the old token comes back; the whole grant goes.
    await expectOAuthError(oauth.refreshTokenGrant(config, first), 'invalid_grant');
    await expectOAuthError(oauth.refreshTokenGrant(config, second.refresh_token!), 'invalid_grant');
  });
});

describe('client credentials, introspection and revocation', () => {
  test('a registered API gets an RFC 9068 JWT that verifies against the published JWKS', async () => {
    const config = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const tokens = await oauth.clientCredentialsGrant(config, { scope: 'read', resource: fixtures.api });
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: server.url,
      audience: fixtures.api,
      typ: 'at+jwt',
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.client_id).toBe(fixtures.service.client_id);
    expect(payload.scope).toBe('read');
    expect(payload.exp! - payload.iat!).toBe(600);

    // A tampered payload fails verification.
    const [header, body, signature] = tokens.access_token.split('.');
    const altered = JSON.parse(Buffer.from(body!, 'base64url').toString());
    altered.scope = 'read write';
    const tampered = [header, Buffer.from(JSON.stringify(altered)).toString('base64url'), signature].join(
      '.',
    );
    await expect(jwtVerify(tampered, jwks, { issuer: server.url, audience: fixtures.api })).rejects.toThrow();
  });

  test('an API registered with ES256 gets ES256-signed tokens', async () => {
    await server.latchkey.services.apis.add({
      identifier: 'https://es.example.test',
      scope: 'read',
      signingAlg: 'ES256',
    });
    await server.latchkey.services.grants.grant(
      fixtures.service.client_id,
      'https://es.example.test',
      'read',
    );
    const config = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const tokens = await oauth.clientCredentialsGrant(config, {
      scope: 'read',
      resource: 'https://es.example.test',
    });
    const { protectedHeader } = await jwtVerify(
      tokens.access_token,
      createRemoteJWKSet(new URL(`${server.url}/jwks`)),
      {
        issuer: server.url,
        audience: 'https://es.example.test',
      },
    );
    expect(protectedHeader.alg).toBe('ES256');
  });

  test('an unknown resource is invalid_target; a wrong secret is invalid_client', async () => {
    const config = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    await expectOAuthError(
      oauth.clientCredentialsGrant(config, { scope: 'read', resource: 'https://unknown.example.test' }),
      'invalid_target',
    );
    const wrong = await discover(server, fixtures.service.client_id, 'not-the-secret');
    await expectOAuthError(
      oauth.clientCredentialsGrant(wrong, { scope: 'read', resource: fixtures.api }),
      'invalid_client',
    );
  });

  test('introspection says active, then inactive after revocation; other clients learn nothing', async () => {
    const config = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const tokens = await oauth.clientCredentialsGrant(config, {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const active = await oauth.tokenIntrospection(config, tokens.access_token);
    expect(active).toMatchObject({
      active: true,
      client_id: fixtures.service.client_id,
      scope: 'read',
      aud: fixtures.opaqueApi,
    });

    const web = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    expect((await oauth.tokenIntrospection(web, tokens.access_token)).active).toBe(false);

    await oauth.tokenRevocation(config, tokens.access_token);
    expect((await oauth.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  });
});

describe('introspection by a resource server', () => {
  test('the registered resource server of an API may introspect tokens other clients got for it', async () => {
    const other = await server.latchkey.services.clients.add({
      name: 'Other Service',
      grantTypes: ['client_credentials'],
      scope: 'read',
      apis: [fixtures.opaqueApi],
    });
    const otherConfig = await discover(server, other.client_id, other.client_secret);
    const forApi = await oauth.clientCredentialsGrant(otherConfig, {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    // fixtures.service was registered with --resource-server for the opaque API.
    const resourceServer = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    expect(await oauth.tokenIntrospection(resourceServer, forApi.access_token)).toMatchObject({
      active: true,
      client_id: other.client_id,
      aud: fixtures.opaqueApi,
    });
    // A token without that audience (here: no resource at all) stays private to its client.
    const plain = await oauth.clientCredentialsGrant(otherConfig);
    expect((await oauth.tokenIntrospection(otherConfig, plain.access_token)).active).toBe(true);
    const web = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    expect((await oauth.tokenIntrospection(web, forApi.access_token)).active).toBe(false);
    expect((await oauth.tokenIntrospection(resourceServer, plain.access_token)).active).toBe(false);
  });
});

describe('negative cases answer with the exact OAuth error', () => {
  async function freshCode() {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await signInAndAllow(server, url);
    return { config, verifier, callback, code: callback.searchParams.get('code')! };
  }

  async function tokenRequest(body: Record<string, string>, auth?: { id: string; secret: string }) {
    const response = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(auth
          ? { authorization: `Basic ${Buffer.from(`${auth.id}:${auth.secret}`).toString('base64')}` }
          : {}),
      },
      body: new URLSearchParams(body).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }

  test('a replayed code is invalid_grant and the tokens from it are revoked', async () => {
    const { config, verifier, callback } = await freshCode();
    const tokens = await oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    await expectOAuthError(
      oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }),
      'invalid_grant',
    );
    expect((await oauth.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  });

  test('a wrong code_verifier is invalid_grant', async () => {
    const { config, callback } = await freshCode();
    await expectOAuthError(
      oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: oauth.randomPKCECodeVerifier() }),
      'invalid_grant',
    );
  });

  test('an expired code is invalid_grant', async () => {
    const { code, verifier } = await freshCode();
    const { sha256Hex } = await import('../src/store/encryption.js');
    const { store } = server.latchkey;
    const record = await store.oidc.find('AuthorizationCode', sha256Hex(code));
    expect(record).toBeDefined();
    await store.oidc.upsert({ ...record!, expiresAt: Date.now() - 1000 });
    const result = await tokenRequest(
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK },
      { id: fixtures.web.client_id, secret: fixtures.web.client_secret },
    );
    expect(result).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('an unregistered redirect_uri gets an error page, never a redirect to it', async () => {
    const url = new URL(`${server.url}/auth`);
    url.search = new URLSearchParams({
      client_id: fixtures.web.client_id,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: 'https://evil.example/callback',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('invalid_redirect_uri');
  });

  test('a wrong client secret at the token endpoint is invalid_client (401)', async () => {
    const result = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'read', resource: fixtures.api },
      { id: fixtures.service.client_id, secret: 'wrong' },
    );
    expect(result).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
});

describe('device authorization grant (RFC 8628)', () => {
  test('a device gets tokens after the user approves on the device page', async () => {
    const config = await discover(server, fixtures.device.client_id);
    const started = await oauth.initiateDeviceAuthorization(config, {
      scope: 'openid profile offline_access',
    });
    const browser = new Browser(server.url);
    // The user signs in first (the device page then asks only for the code).
    const input = await browser.page(started.verification_uri);
    expect(input.html).toContain('user_code');
    const confirm = await browser.submit(formAction(input.html, '/device'), {
      xsrf: hiddenInput(input.html, 'xsrf'),
      user_code: started.user_code,
    });
    if ('redirect' in confirm) throw new Error('expected the confirmation page');
    expect(confirm.html).toContain('Example TV');
    let next = await browser.submit(formAction(confirm.html, '/device'), {
      xsrf: hiddenInput(confirm.html, 'xsrf'),
      user_code: hiddenInput(confirm.html, 'user_code'),
      confirm: 'yes',
    });
    for (let step = 0; step < 4 && !('redirect' in next) && !next.html.includes('Device connected'); step++) {
      if (next.html.includes('/login"')) {
        next = await browser.submit(formAction(next.html, '/login'), {
          email: 'ada@example.com',
          password: 'correct horse battery staple',
          _csrf: hiddenInput(next.html, '_csrf'),
        });
      } else if (next.html.includes('/confirm"')) {
        next = await browser.submit(formAction(next.html, '/confirm'), {
          _csrf: hiddenInput(next.html, '_csrf'),
        });
      } else {
        break;
      }
    }
    if ('redirect' in next) throw new Error(`unexpected redirect ${next.redirect}`);
    expect(next.html).toContain('Device connected');
    const tokens = await oauth.pollDeviceAuthorizationGrant(config, started);
    expect(tokens.claims()!.sub).toBe(fixtures.user.id);
    expect(tokens.refresh_token).toBeTruthy();
  }, 30000);
});

describe('RP-initiated logout', () => {
  test('the logout page asks, then returns to the registered post_logout_redirect_uri', async () => {
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const browser = new Browser(server.url);
    const { tokens } = await codeFlow(server, config, CALLBACK, 'openid', browser);
    const url = oauth.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'http://127.0.0.1:9/signed-out',
      state: 'bye',
    });
    const page = await browser.page(url.href);
    expect(page.html).toContain('op.logoutForm');
    const done = await browser.submit(formAction(page.html, '/session/end/confirm'), {
      xsrf: hiddenInput(page.html, 'xsrf'),
      logout: 'yes',
    });
    if (!('redirect' in done)) throw new Error('expected a redirect to the client');
    expect(done.redirect).toBe('http://127.0.0.1:9/signed-out?state=bye');
    // Signed out: the next authorization request asks for the password again.
    const again = await browser.page(
      oauth.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href,
    );
    expect(again.html).toContain('name="password"');
  });
});
