// A DPoP proof is used once across every instance on one store (RFC 9449 §11.1): two Latchkey
// servers on one SQLite file, with one issuer, each refuse a proof the other has accepted, at the
// authorization server (oidc-provider's ReplayDetection) and at the resource checks (/v1) alike,
// and of two concurrent requests with one proof exactly one succeeds.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generateKeyPair, type GenerateKeyPairResult } from 'jose';
import * as oauth from 'openid-client';
import { CALLBACK, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { dpopProof } from './support/resource-api.js';

let first: TestServer;
let second: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  first = await startLatchkey();
  fixtures = await seed(first);
  // The same directory (database and master key) and the same issuer: another instance.
  second = await startLatchkey({ dir: first.dir, env: { ISSUER: first.url } });
});

afterAll(async () => {
  await second?.close({ keep: true });
  await first?.close();
});

interface Answer {
  status: number;
  body: string;
}

/**
 * A request to `server` as a load balancer in front of both would pass it on: with the issuer's
 * Host header, from which oidc-provider builds the URL that a proof's htu must name.
 */
function send(
  server: TestServer,
  path: string,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, server.url),
      { method: options.method, headers: { ...options.headers, host: new URL(first.url).host } },
      (incoming) => {
        let body = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => (body += chunk));
        incoming.on('end', () => resolve({ status: incoming.statusCode!, body }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** A client_credentials token request carrying `proof`. */
function tokenRequest(server: TestServer, proof: string): Promise<Answer> {
  const { client_id, client_secret } = fixtures.service;
  return send(server, '/token', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
      dpop: proof,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'read',
      resource: fixtures.opaqueApi,
    }).toString(),
  });
}

describe('DPoP proof replay across instances', () => {
  let keyPair: GenerateKeyPairResult;

  beforeAll(async () => {
    keyPair = await generateKeyPair('ES256');
  });

  test('the token endpoint refuses at one instance a proof the other accepted', async () => {
    const proof = await dpopProof(keyPair, { method: 'POST', url: `${first.url}/token` });
    const accepted = await tokenRequest(first, proof);
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body).token_type).toBe('DPoP');

    // oidc-provider answers a replay at the token endpoint with a plain invalid_grant (RFC 9449 §5).
    const replayed = await tokenRequest(second, proof);
    expect(replayed.status).toBe(400);
    expect(JSON.parse(replayed.body).error).toBe('invalid_grant');
    // The same request with a fresh proof is fine there: it was the replay that was refused.
    const fresh = await dpopProof(keyPair, { method: 'POST', url: `${first.url}/token` });
    expect((await tokenRequest(second, fresh)).status).toBe(200);
  });

  test('of one proof sent to both instances at once, exactly one is accepted', async () => {
    for (let round = 0; round < 5; round++) {
      const proof = await dpopProof(keyPair, { method: 'POST', url: `${first.url}/token` });
      const answers = await Promise.all([tokenRequest(first, proof), tokenRequest(second, proof)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400]);
    }
  });

  test('the resource checks refuse at one instance a proof the other accepted, and race fairly', async () => {
    const config = await discover(first, fixtures.web.client_id, fixtures.web.client_secret);
    const DPoP = oauth.getDPoPHandle(config, keyPair);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await signInAndAllow(first, url);
    const tokens = await oauth.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: verifier },
      undefined,
      { DPoP },
    );
    const me = `${first.url}/v1/users/me`;
    const call = async (server: TestServer, proof: string) =>
      send(server, '/v1/users/me', {
        method: 'GET',
        headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof },
      });

    const proof = await dpopProof(keyPair, { method: 'GET', url: me, accessToken: tokens.access_token });
    expect((await call(first, proof)).status).toBe(200);
    const replayed = await call(second, proof);
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.body)).toMatchObject({
      error: 'invalid_dpop_proof',
      error_description: 'The DPoP proof has been used before.',
    });

    for (let round = 0; round < 5; round++) {
      const fresh = await dpopProof(keyPair, { method: 'GET', url: me, accessToken: tokens.access_token });
      const answers = await Promise.all([call(first, fresh), call(second, fresh)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401]);
    }
  });
});
