// `@latchkey/resource` from the outside: a plain node:http API on its own port checks tokens of a
// real Latchkey with createResourceProvider (JWTs against the published keys, opaque tokens by
// introspection), across revocation, key rotation and DPoP.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'openid-client';
import {
  createResourceProvider,
  type ResourceProvider,
  type ResourceProviderOptions,
} from '@latchkey/resource';
import { discover, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import {
  bearer,
  call,
  dpopProof,
  parseChallenge,
  startNodeApi,
  type TestApi,
} from './support/resource-api.js';

let server: TestServer;
let fixtures: Fixtures;
let metadata: { introspection_endpoint: string; jwks_uri: string };
const calls = { introspection: 0, jwks: 0 };
const apis: TestApi[] = [];

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
  metadata = (await (
    await fetch(`${server.url}/.well-known/openid-configuration`)
  ).json()) as typeof metadata;
});

afterEach(async () => {
  await Promise.all(apis.splice(0).map((api) => api.close()));
});

afterAll(async () => {
  await server?.close();
});

/** Counts the checker's calls to the issuer, then makes them. */
const countingFetch: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (url === metadata.introspection_endpoint) calls.introspection++;
  if (url === metadata.jwks_uri) calls.jwks++;
  return fetch(input, init);
};

/** A node:http API guarded by a checker for both seeded APIs, as another team would run it. */
async function startChecker(overrides: Partial<ResourceProviderOptions> = {}) {
  const holder: { resource?: ResourceProvider } = {};
  const api = await startNodeApi(() => holder.resource!);
  apis.push(api);
  const resource = (holder.resource = createResourceProvider({
    issuer: server.url,
    audience: [fixtures.api, fixtures.opaqueApi],
    introspection: {
      clientId: fixtures.service.client_id,
      clientSecret: fixtures.service.client_secret,
      cacheTtlMs: 200,
    },
    publicOrigin: api.url,
    fetch: countingFetch,
    ...overrides,
  }));
  return { url: `${api.url}/things`, resource };
}

const service = () => discover(server, fixtures.service.client_id, fixtures.service.client_secret);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('JWT access tokens', () => {
  test('a JWT for the API is accepted and described; a missing scope is 403', async () => {
    const { url } = await startChecker();
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.api,
    });
    const response = await call(url, { headers: bearer(tokens.access_token) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      valid: true,
      clientId: fixtures.service.client_id,
      scopes: ['read'],
      audience: [fixtures.api],
      expiresAt: expect.any(String),
      format: 'jwt',
      tokenType: 'Bearer',
      claims: expect.objectContaining({ iss: server.url, client_id: fixtures.service.client_id }),
    });
    expect(new Date(response.body.expiresAt as string).getTime()).toBeGreaterThan(Date.now());

    const write = await call(url, { method: 'POST', headers: bearer(tokens.access_token) });
    expect(write.status).toBe(403);
    expect(parseChallenge(write.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'Bearer',
      realm: 'latchkey',
      error: 'insufficient_scope',
      scope: 'write',
    });
  });

  test('without an audience option any audience of the issuer passes; with one, others are refused', async () => {
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.api,
    });
    const other = await startChecker({ audience: 'https://other.example.test' });
    const refused = await call(other.url, { headers: bearer(tokens.access_token) });
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toMatch(/another API/);
    const open = await startChecker({ audience: undefined });
    expect((await call(open.url, { headers: bearer(tokens.access_token) })).status).toBe(200);
  });
});

describe('opaque access tokens through introspection (RFC 7662)', () => {
  test('accepted with the service client credentials; answers are cached', async () => {
    const { url } = await startChecker({
      introspection: {
        clientId: fixtures.service.client_id,
        clientSecret: fixtures.service.client_secret,
        cacheTtlMs: 60_000,
      },
    });
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const before = calls.introspection;
    const first = await call(url, { headers: bearer(tokens.access_token) });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ format: 'opaque', audience: [fixtures.opaqueApi], scopes: ['read'] });
    const [second, third] = await Promise.all([
      call(url, { headers: bearer(tokens.access_token) }),
      call(url, { headers: bearer(tokens.access_token) }),
    ]);
    expect([second.status, third.status]).toEqual([200, 200]);
    expect(calls.introspection - before).toBe(1);
    // Unknown tokens are remembered too.
    const unknown = await call(url, { headers: bearer('unknown-token-value') });
    expect(unknown.status).toBe(401);
    expect((await call(url, { headers: bearer('unknown-token-value') })).status).toBe(401);
    expect(calls.introspection - before).toBe(2);
  });

  test('a revoked token is refused once its cache time has passed', async () => {
    const { url } = await startChecker();
    const config = await service();
    const tokens = await oauth.clientCredentialsGrant(config, {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    expect((await call(url, { headers: bearer(tokens.access_token) })).status).toBe(200);
    await oauth.tokenRevocation(config, tokens.access_token);
    await sleep(300);
    const refused = await call(url, { headers: bearer(tokens.access_token) });
    expect(refused.status).toBe(401);
    expect(parseChallenge(refused.headers.get('www-authenticate'))).toMatchObject({ error: 'invalid_token' });
  });

  test('an API without introspection credentials refuses opaque tokens', async () => {
    const { url } = await startChecker({ introspection: undefined });
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    const refused = await call(url, { headers: bearer(tokens.access_token) });
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toMatch(/only JWT/);
  });
});

describe('DPoP-bound JWTs (RFC 9449)', () => {
  test('accepted with a proof; refused without one, as a bearer token, or with a replayed proof', async () => {
    const { url } = await startChecker();
    const config = await service();
    const keyPair = await generateKeyPair('ES256');
    const DPoP = oauth.getDPoPHandle(config, keyPair);
    const tokens = await oauth.clientCredentialsGrant(
      config,
      { scope: 'read', resource: fixtures.api },
      { DPoP },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');

    const ok = await oauth.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(url),
      'GET',
      undefined,
      undefined,
      {
        DPoP,
      },
    );
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ tokenType: 'DPoP', format: 'jwt' });

    const noProof = await call(url, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(noProof.status).toBe(401);
    expect(parseChallenge(noProof.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'DPoP',
      error: 'invalid_dpop_proof',
    });

    const asBearer = await call(url, { headers: bearer(tokens.access_token) });
    expect(asBearer.status).toBe(401);
    expect(parseChallenge(asBearer.headers.get('www-authenticate'))).toMatchObject({
      scheme: 'DPoP',
      error: 'invalid_token',
    });

    const headers = {
      authorization: `DPoP ${tokens.access_token}`,
      dpop: await dpopProof(keyPair, { method: 'GET', url, accessToken: tokens.access_token }),
    };
    expect((await call(url, { headers })).status).toBe(200);
    const replayed = await call(url, { headers });
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toBe('invalid_dpop_proof');

    const twoProofs = await call(url, {
      headers: { ...headers, dpop: `${headers.dpop}, ${headers.dpop}` },
    });
    expect(twoProofs.body.error_description).toMatch(/more than one/);
  });

  test('a bearer token sent with the DPoP scheme is refused', async () => {
    const { url } = await startChecker();
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.api,
    });
    const response = await call(url, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(response.status).toBe(401);
    expect(response.body.error_description).toMatch(/not DPoP-bound/);
  });
});

describe('robustness', () => {
  test('odd tokens and odd proofs get 400 or 401, never a 500', async () => {
    const { url } = await startChecker();
    const tokens = await oauth.clientCredentialsGrant(await service(), {
      scope: 'read',
      resource: fixtures.api,
    });
    const [header, payload] = tokens.access_token.split('.');
    const authorizations = [
      `Bearer ${'a'.repeat(8193)}`,
      `Bearer ${'.'.repeat(50)}`,
      `Bearer ${header}.${payload}.!!!!`,
      `Bearer ${header}.${payload}.`,
      `Bearer ${header}.%%%.sig`,
      `Bearer ${Buffer.from('{"alg":"RS256"}').toString('base64url')}.e30.e30`,
      `Bearer ${header}.${Buffer.from('[]').toString('base64url')}.AAAA`,
      `Bearer ${Buffer.from('\u00e9\u00e8', 'utf8').toString('latin1')}`,
      'Bearer =',
      'Bearer a==b',
      'bEaReR abc',
      `DPoP ${tokens.access_token}`,
    ];
    for (const authorization of authorizations) {
      for (const dpop of [undefined, 'a.b.c', 'x'.repeat(9000), `${header}.${payload}.AAAA`]) {
        const response = await call(url, { headers: { authorization, ...(dpop ? { dpop } : {}) } });
        const seen = {
          authorization: authorization.slice(0, 40),
          dpop: dpop?.slice(0, 20),
          status: response.status,
        };
        // 431: Node's own 16 KiB header limit answers before the checker sees the request.
        expect([400, 401, 431].includes(seen.status) ? 'refused' : seen).toBe('refused');
      }
    }
  });

  test('an unreachable issuer is 503 temporarily_unavailable, not a verdict on the token', async () => {
    const { url } = await startChecker({ issuer: 'http://127.0.0.1:9', timeoutMs: 1000 });
    const { privateKey } = await generateKeyPair('RS256');
    const jwt = await new SignJWT({ client_id: 'c', sub: 'c', jti: 'j' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })
      .setIssuer('http://127.0.0.1:9')
      .setAudience(fixtures.api)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    for (const token of [jwt, 'some-opaque-token']) {
      const response = await call(url, { headers: bearer(token) });
      expect(response.status).toBe(503);
      expect(response.body.error).toBe('temporarily_unavailable');
      expect(response.headers.get('www-authenticate')).toBeNull();
    }
  });

  test('a mistake in the options is a TypeError at start-up', () => {
    expect(() => createResourceProvider({ issuer: 'not a url' })).toThrow(TypeError);
    expect(() => createResourceProvider({ issuer: server.url, algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() =>
      createResourceProvider({ issuer: server.url, introspection: { clientId: '', clientSecret: 'x' } }),
    ).toThrow(TypeError);
  });

  test('the package depends on jose and lru-cache only, and its sources on nothing outside it', () => {
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (specifier!.startsWith('.')) visit(join(dirname(file), specifier!.replace(/\.js$/, '.ts')));
        else if (!specifier!.startsWith('node:')) external.add(specifier!);
      }
    };
    const root = join(process.cwd(), 'packages/resource');
    visit(join(root, 'src/index.ts'));
    expect([...external].sort()).toEqual(['jose', 'lru-cache']);
    expect([...seen].every((file) => file.startsWith(join(root, 'src/')))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['jose', 'lru-cache']);
    expect(manifest.peerDependencies).toBeUndefined();
  });
});

// Last: it rotates the issuer's keys under every other test's feet.
describe("the issuer's key rotation", () => {
  test('new keys are picked up without a restart: published-ahead keys at once, unknown kids by a refetch', async () => {
    const { url } = await startChecker({ cooldownDuration: 50 });
    const config = await service();
    const mint = async () =>
      (await oauth.clientCredentialsGrant(config, { scope: 'read', resource: fixtures.api })).access_token;
    const first = await mint();
    expect((await call(url, { headers: bearer(first) })).status).toBe(200);

    // The `next` key was published before it signs: the cached key set already has it.
    await server.latchkey.services.keys.rotate();
    expect(await server.latchkey.reloadKeys()).toBe(true);
    const second = await mint();
    expect(decodeProtectedHeader(second).kid).not.toBe(decodeProtectedHeader(first).kid);
    expect((await call(url, { headers: bearer(second) })).status).toBe(200);

    // Twice more: now the signing key is one the checker has never seen, and it fetches again.
    await server.latchkey.services.keys.rotate();
    await server.latchkey.services.keys.rotate();
    await server.latchkey.reloadKeys();
    const fourth = await mint();
    await sleep(100);
    const fetchesBefore = calls.jwks;
    expect((await call(url, { headers: bearer(fourth) })).status).toBe(200);
    expect(calls.jwks - fetchesBefore).toBe(1);
    // Tokens signed by retired keys stay good until they expire.
    expect((await call(url, { headers: bearer(first) })).status).toBe(200);
  });
});
