// GET /v1/users/me end to end: real tokens from a real Latchkey (code flow, client credentials,
// DPoP), checked by the /v1 routes mounted on a Koa app of their own, as a client would see it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generateKeyPair, type GenerateKeyPairResult } from 'jose';
import * as oauth from 'openid-client';
import { ensureV1Api, V1_API_IDENTIFIER } from '../src/resource/v1-api.js';
import { resourceRoutes } from '../src/resource/routes.js';
import { CALLBACK, codeFlow, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import {
  bearer,
  call,
  dpopProof,
  parseChallenge,
  signWithIssuerKey,
  startKoaApi,
  unsignedJwt,
  type ApiResponse,
  type TestApi,
} from './support/resource-api.js';

let server: TestServer;
let fixtures: Fixtures;
let api: TestApi;
let me: string;

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
  const { accounts, apis, keys } = server.latchkey.services;
  await ensureV1Api(apis, server.url);
  api = await startKoaApi((url) =>
    resourceRoutes({
      provider: () => server.latchkey.provider(),
      accounts,
      issuer: server.url,
      keys,
      publicOrigin: url,
    }),
  );
  me = `${api.url}/v1/users/me`;
});

afterAll(async () => {
  await api?.close();
  await server?.close();
});

const web = () => discover(server, fixtures.web.client_id, fixtures.web.client_secret);
const service = () => discover(server, fixtures.service.client_id, fixtures.service.client_secret);

/** A code flow that asks for a resource: the access token is a JWT for that API. */
async function codeFlowFor(resource: string, scope: string) {
  const config = await web();
  const verifier = oauth.randomPKCECodeVerifier();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope,
    resource,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const callback = await signInAndAllow(server, url);
  return oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }, { resource });
}

function expectInvalidToken(response: ApiResponse, description?: RegExp) {
  expect(response.status).toBe(401);
  expect(response.body.error).toBe('invalid_token');
  const challenge = parseChallenge(response.headers.get('www-authenticate'));
  expect(challenge).toMatchObject({ scheme: 'Bearer', realm: 'latchkey', error: 'invalid_token' });
  if (description) expect(challenge.error_description).toMatch(description);
  expect(response.body.error_description).toBe(challenge.error_description);
}

describe('tokens that work', () => {
  test('an opaque code-flow token (openid email) gets sub and the email claims, not the name', async () => {
    const { tokens } = await codeFlow(server, await web(), CALLBACK, 'openid email');
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const response = await call(me, { headers: bearer(tokens.access_token) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ sub: fixtures.user.id, email: 'ada@example.com', email_verified: true });
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  test('a JWT for the /v1 API from a code flow gets the claims of its scopes', async () => {
    const tokens = await codeFlowFor(V1_API_IDENTIFIER(server.url), 'openid profile email');
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const response = await call(me, { headers: bearer(tokens.access_token) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      sub: fixtures.user.id,
      name: 'Ada Lovelace',
      updated_at: expect.any(Number),
      email: 'ada@example.com',
      email_verified: true,
    });
  });

  test('ensureV1Api registers the /v1 API once, with profile and email', async () => {
    const again = await ensureV1Api(server.latchkey.services.apis, server.url);
    expect(again).toMatchObject({ identifier: `${server.url}/v1`, scope: 'profile email', format: 'jwt' });
    const all = await server.latchkey.services.apis.list();
    expect(all.filter((entry) => entry.identifier === `${server.url}/v1`)).toHaveLength(1);
  });
});

describe('401 and 400 answers (RFC 6750 §3)', () => {
  test('no token: 401 with a bare Bearer challenge and no error code', async () => {
    const response = await call(me);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
    expect(response.body.error_description).toBeTruthy();
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  test('another scheme is treated as no token', async () => {
    const response = await call(me, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
  });

  test('a malformed Authorization header, or a token sent two ways, is 400 invalid_request', async () => {
    const { tokens } = await codeFlow(server, await web(), CALLBACK, 'openid');
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tok\u00e9n', 'Bearer "quoted"']) {
      const response = await call(me, { headers: { authorization } });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('invalid_request');
      expect(parseChallenge(response.headers.get('www-authenticate'))).toMatchObject({
        error: 'invalid_request',
      });
    }
    const twice = await call(`${me}?access_token=${tokens.access_token}`, {
      headers: bearer(tokens.access_token),
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error_description).toMatch(/more than one way/);
    const inQuery = await call(`${me}?access_token=${tokens.access_token}`);
    expect(inQuery.status).toBe(400);
    expect(inQuery.body.error_description).toMatch(/Authorization header/);
  });

  test('an expired JWT', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signWithIssuerKey(server, {
      iss: server.url,
      aud: V1_API_IDENTIFIER(server.url),
      sub: fixtures.user.id,
      client_id: fixtures.web.client_id,
      scope: 'email',
      iat: now - 700,
      exp: now - 100,
    });
    expectInvalidToken(await call(me, { headers: bearer(token) }), /expired/);
  });

  test('a revoked token', async () => {
    const config = await web();
    const { tokens } = await codeFlow(server, config, CALLBACK, 'openid email');
    expect((await call(me, { headers: bearer(tokens.access_token) })).status).toBe(200);
    await oauth.tokenRevocation(config, tokens.access_token);
    expectInvalidToken(await call(me, { headers: bearer(tokens.access_token) }), /not active/);
  });

  test('tokens for another audience, JWT or opaque', async () => {
    const config = await service();
    const jwt = await oauth.clientCredentialsGrant(config, { scope: 'read', resource: fixtures.api });
    expectInvalidToken(await call(me, { headers: bearer(jwt.access_token) }), /another API/);
    const opaque = await oauth.clientCredentialsGrant(config, {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    expectInvalidToken(await call(me, { headers: bearer(opaque.access_token) }), /another API/);
  });

  test('a JWT from another issuer, even one signed with a key the issuer publishes', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const { SignJWT } = await import('jose');
    const foreign = await new SignJWT({ sub: fixtures.user.id, client_id: 'x', scope: 'email', jti: 'j' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'foreign' })
      .setIssuer('https://elsewhere.example.test')
      .setAudience(V1_API_IDENTIFIER(server.url))
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expectInvalidToken(await call(me, { headers: bearer(foreign) }), /not issued by this issuer/);
    const ownKey = await signWithIssuerKey(server, {
      iss: 'https://elsewhere.example.test',
      aud: V1_API_IDENTIFIER(server.url),
      sub: fixtures.user.id,
      client_id: fixtures.web.client_id,
      scope: 'email',
    });
    expectInvalidToken(await call(me, { headers: bearer(ownKey) }), /not issued by this issuer/);
  });

  test('alg none, HMAC, a wrong typ, and a tampered payload', async () => {
    const claims = {
      iss: server.url,
      aud: V1_API_IDENTIFIER(server.url),
      sub: fixtures.user.id,
      client_id: fixtures.web.client_id,
      scope: 'profile email',
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 600,
      jti: 'none',
    };
    expectInvalidToken(await call(me, { headers: bearer(unsignedJwt(claims)) }), /malformed|algorithm/);

    const { SignJWT } = await import('jose');
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode('a-shared-secret-that-nobody-has-but-us!!'));
    expectInvalidToken(await call(me, { headers: bearer(hmac) }), /algorithm/);

    const idTokenLike = await signWithIssuerKey(server, claims, { typ: 'JWT' });
    expectInvalidToken(await call(me, { headers: bearer(idTokenLike) }), /typ/);

    const tokens = await codeFlowFor(V1_API_IDENTIFIER(server.url), 'openid email');
    const [header, body, signature] = tokens.access_token.split('.');
    const altered = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>;
    altered.scope = 'profile email';
    const tampered = [header, Buffer.from(JSON.stringify(altered)).toString('base64url'), signature].join(
      '.',
    );
    expectInvalidToken(await call(me, { headers: bearer(tampered) }), /signature/);
  });

  test('a client_credentials token has no end user: 401 invalid_token', async () => {
    // /v1 opens its scopes to user consent only; a machine client needs a grant.
    await server.latchkey.services.grants.grant(
      fixtures.service.client_id,
      V1_API_IDENTIFIER(server.url),
      'email',
    );
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'email',
      resource: V1_API_IDENTIFIER(server.url),
    });
    expectInvalidToken(await call(me, { headers: bearer(tokens.access_token) }), /no end user/);
  });

  test('odd token strings are refused, never a 500', async () => {
    const odd = [
      'x'.repeat(9000),
      'a.b',
      'a.b.c.d',
      'a.b.c.d.e',
      '....',
      'e30.e30.e30',
      '!!!.@@@.###',
      Buffer.from('t\u00f6k\u20acn', 'utf8').toString('latin1'),
      `${'A'.repeat(20)}.${'B'.repeat(20)}.${'C'.repeat(20)}`,
    ];
    for (const token of odd) {
      const response = await call(me, { headers: { authorization: `Bearer ${token}` } });
      expect([400, 401]).toContain(response.status);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="latchkey"/);
    }
  });
});

describe('403 insufficient_scope', () => {
  test('a /v1 token whose scopes release no claim names the scopes it needs', async () => {
    const tokens = await codeFlowFor(V1_API_IDENTIFIER(server.url), 'openid');
    const response = await call(me, { headers: bearer(tokens.access_token) });
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('insufficient_scope');
    expect(parseChallenge(response.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'Bearer',
      error: 'insufficient_scope',
      scope: 'profile email',
    });
  });
});

describe('DPoP-bound tokens (RFC 9449)', () => {
  async function dpopCodeFlow(keyPair: GenerateKeyPairResult) {
    const config = await web();
    const DPoP = oauth.getDPoPHandle(config, keyPair);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await signInAndAllow(server, url);
    const tokens = await oauth.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: verifier },
      undefined,
      { DPoP },
    );
    return { config, DPoP, tokens };
  }

  test('accepted with a proof, refused as a bearer token, without a proof, or with a replayed proof', async () => {
    const keyPair = await generateKeyPair('ES256');
    const { config, DPoP, tokens } = await dpopCodeFlow(keyPair);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');

    const ok = await oauth.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(me),
      'GET',
      undefined,
      undefined,
      {
        DPoP,
      },
    );
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({
      sub: fixtures.user.id,
      name: 'Ada Lovelace',
      updated_at: expect.any(Number),
    });

    const asBearer = await call(me, { headers: bearer(tokens.access_token) });
    expect(asBearer.status).toBe(401);
    expect(parseChallenge(asBearer.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'DPoP',
      error: 'invalid_token',
    });

    const noProof = await call(me, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(noProof.status).toBe(401);
    expect(parseChallenge(noProof.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'DPoP',
      error: 'invalid_dpop_proof',
      algs: expect.stringContaining('ES256'),
    });

    const proof = await dpopProof(keyPair, { method: 'GET', url: me, accessToken: tokens.access_token });
    const headers = { authorization: `DPoP ${tokens.access_token}`, dpop: proof };
    expect((await call(me, { headers })).status).toBe(200);
    const replayed = await call(me, { headers });
    expect(replayed.status).toBe(401);
    expect(replayed.body).toMatchObject({
      error: 'invalid_dpop_proof',
      error_description: expect.stringMatching(/used before/),
    });
  });

  test('a proof by another key, for another URL or method, or too old, is refused', async () => {
    const keyPair = await generateKeyPair('ES256');
    const { tokens } = await dpopCodeFlow(keyPair);
    const authorization = `DPoP ${tokens.access_token}`;
    const accessToken = tokens.access_token;
    const cases: Array<[string, Promise<string>, string]> = [
      [
        'another key',
        dpopProof(await generateKeyPair('ES256'), { method: 'GET', url: me, accessToken }),
        'invalid_token',
      ],
      [
        'another URL',
        dpopProof(keyPair, { method: 'GET', url: `${api.url}/v1/other`, accessToken }),
        'invalid_dpop_proof',
      ],
      ['another method', dpopProof(keyPair, { method: 'POST', url: me, accessToken }), 'invalid_dpop_proof'],
      [
        'another token',
        dpopProof(keyPair, { method: 'GET', url: me, accessToken: 'other' }),
        'invalid_dpop_proof',
      ],
      ['no ath', dpopProof(keyPair, { method: 'GET', url: me }), 'invalid_dpop_proof'],
      [
        'too old',
        dpopProof(
          keyPair,
          { method: 'GET', url: me, accessToken },
          { iat: Math.floor(Date.now() / 1000) - 3600 },
        ),
        'invalid_dpop_proof',
      ],
      [
        'wrong typ',
        dpopProof(keyPair, { method: 'GET', url: me, accessToken }, { typ: 'JWT' }),
        'invalid_dpop_proof',
      ],
    ];
    for (const [name, proof, error] of cases) {
      const response = await call(me, { headers: { authorization, dpop: await proof } });
      expect({ name, status: response.status, error: response.body.error }).toEqual({
        name,
        status: 401,
        error,
      });
    }
    // The query string is not part of htu (RFC 9449 §4.3 check 9).
    const withQuery = await dpopProof(keyPair, { method: 'GET', url: me, accessToken });
    expect((await call(`${me}?pretty=1`, { headers: { authorization, dpop: withQuery } })).status).toBe(200);
  });
});
