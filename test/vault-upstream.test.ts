// The vault's upstream OAuth client against a fake provider over real HTTP: authorization URLs,
// code exchange with PKCE, refresh and rotation, revocation, discovery of a real Latchkey, and the
// mapping of every failure (invalid_grant, 5xx, 429, hang, refused connection) to a VaultError.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'openid-client';
import { getProvider } from '../src/vault/catalog.js';
import {
  VaultError,
  type ProviderDefinition,
  type ResolvedProvider,
  type TokenResponse,
} from '../src/vault/types.js';
import { createUpstreamClient } from '../src/vault/upstream.js';
import { createOutboundClient } from '../src/web/outbound.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

const REDIRECT_URI = 'https://vault.example/vault/connect/callback';

let fake: FakeProvider;
// The fake provider listens on loopback: the outbound rules are lifted here, as OUTBOUND_ALLOW_PRIVATE
// does (test/outbound-guard.test.ts checks them).
const loopback = createOutboundClient({ allowPrivate: true });
const client = createUpstreamClient({ timeoutMs: 2000, outbound: loopback });
afterAll(() => loopback.close());

beforeEach(async () => {
  fake = await startFakeProvider();
});
afterEach(async () => {
  await fake.close();
});

const credentials = () => ({ clientId: fake.clientId, clientSecret: fake.clientSecret });

async function resolveFake(overrides: Partial<ProviderDefinition> = {}): Promise<ResolvedProvider> {
  return client.resolve(fake.definition(overrides), {});
}

/** Runs the whole dance: authorization URL, the provider's redirect back, code exchange. */
async function connect(provider?: ResolvedProvider): Promise<TokenResponse> {
  const resolved = provider ?? (await resolveFake());
  const verifier = oauth.randomPKCECodeVerifier();
  const url = client.authorizationUrl(resolved, credentials(), {
    redirectUri: REDIRECT_URI,
    scopes: ['read', 'write'],
    state: 'state-1',
    codeChallenge: await oauth.calculatePKCECodeChallenge(verifier),
  });
  const redirect = await fetch(url, { redirect: 'manual' });
  const back = new URL(redirect.headers.get('location')!);
  expect(back.searchParams.get('state')).toBe('state-1');
  return client.exchangeCode(resolved, credentials(), {
    code: back.searchParams.get('code')!,
    redirectUri: REDIRECT_URI,
    codeVerifier: verifier,
  });
}

async function failure(promise: Promise<unknown>): Promise<VaultError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(VaultError);
  return error as VaultError;
}

/** A fetch that answers every request itself (for provider answers a fake server would not give). */
function answering(response: () => Response, calls: string[] = []): typeof fetch {
  return async (input) => {
    calls.push(String(input));
    return response();
  };
}

describe('authorization URL', () => {
  it('carries client_id, redirect_uri, state, the scopes joined by the separator and an S256 challenge', async () => {
    const provider = await resolveFake({ scopeSeparator: ',', defaultScopes: ['base'] });
    const url = client.authorizationUrl(provider, credentials(), {
      redirectUri: REDIRECT_URI,
      scopes: ['read', 'base', 'write'],
      state: 'st4te',
      codeChallenge: 'challenge-value',
      extraParams: { prompt: 'consent', state: 'overridden?' },
    });
    expect(url.origin + url.pathname).toBe(`${fake.url}/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: fake.clientId,
      redirect_uri: REDIRECT_URI,
      scope: 'base,read,write',
      state: 'st4te',
      code_challenge: 'challenge-value',
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
  });

  it('leaves PKCE out for a provider without it, and sends the catalog parameters', async () => {
    const provider = await resolveFake({ pkce: false, authorizationParams: { access_type: 'offline' } });
    const url = client.authorizationUrl(provider, credentials(), {
      redirectUri: REDIRECT_URI,
      scopes: [],
      state: 's',
      codeChallenge: 'ignored',
    });
    expect(url.searchParams.has('code_challenge')).toBe(false);
    expect(url.searchParams.has('scope')).toBe(false);
    expect(url.searchParams.get('access_type')).toBe('offline');
  });

  it('asks Slack for a user token (user_scope, comma-separated)', async () => {
    const slack = await client.resolve(getProvider('slack')!, {});
    const url = client.authorizationUrl(
      slack,
      { clientId: 'id', clientSecret: 'secret' },
      {
        redirectUri: REDIRECT_URI,
        scopes: ['channels:read', 'chat:write'],
        state: 's',
      },
    );
    expect(url.href.startsWith('https://slack.com/oauth/v2/authorize?')).toBe(true);
    expect(url.searchParams.get('user_scope')).toBe('channels:read,chat:write');
    expect(url.searchParams.has('scope')).toBe(false);
  });
});

describe('code exchange and refresh', () => {
  it('exchanges a code with PKCE, authenticating with client_secret_basic', async () => {
    const tokens = await connect();
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^fake-at-/),
      token_type: 'Bearer',
      refresh_token: expect.stringMatching(/^fake-rt-/),
      id_token: undefined,
      scope: 'read write',
      expires_in: 3600,
    });
    expect(fake.stats.codeExchanges).toBe(1);
    expect(fake.lastTokenRequest!.params.get('code_verifier')).toMatch(/^[\w-]{43,}$/);
    expect(fake.lastTokenRequest!.headers.authorization).toMatch(/^Basic /);
    expect(fake.lastTokenRequest!.params.has('client_secret')).toBe(false);
  });

  it('authenticates with client_secret_post when the provider wants it', async () => {
    await fake.close();
    fake = await startFakeProvider({ authMethod: 'client_secret_post' });
    await connect(await resolveFake({ tokenEndpointAuthMethod: 'client_secret_post' }));
    expect(fake.lastTokenRequest!.params.get('client_secret')).toBe(fake.clientSecret);
    expect(fake.lastTokenRequest!.headers.authorization).toBeUndefined();
  });

  it('fails a code exchange whose PKCE verifier does not match with needs_reauth', async () => {
    const provider = await resolveFake();
    const code = fake.issueCode({
      redirectUri: REDIRECT_URI,
      codeChallenge: await oauth.calculatePKCECodeChallenge('a'.repeat(43)),
    });
    const error = await failure(
      client.exchangeCode(provider, credentials(), {
        code,
        redirectUri: REDIRECT_URI,
        codeVerifier: 'b'.repeat(43),
      }),
    );
    expect(error).toMatchObject({ code: 'needs_reauth', status: 409 });
    expect(error.message).toBe('provider answered invalid_grant: PKCE verification failed');
    expect(error.message).not.toContain(code);
  });

  it('refreshes: a new access token, the refresh token kept', async () => {
    const provider = await resolveFake();
    const first = await connect(provider);
    const refreshed = await client.refresh(provider, credentials(), first.refresh_token!);
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.refresh_token).toBe(first.refresh_token);
    expect(refreshed.expires_in).toBe(3600);
    expect(fake.stats.refreshes).toBe(1);
    const api = (token: string) =>
      fetch(`${fake.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect((await api(first.access_token)).status).toBe(401);
    expect((await api(refreshed.access_token)).status).toBe(200);
  });

  it('returns the rotated refresh token; the old one then needs re-authorization', async () => {
    const provider = await resolveFake();
    const first = await connect(provider);
    fake.setMode('rotate');
    const rotated = await client.refresh(provider, credentials(), first.refresh_token!);
    expect(rotated.refresh_token).toMatch(/^fake-rt-/);
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    const error = await failure(client.refresh(provider, credentials(), first.refresh_token!));
    expect(error.code).toBe('needs_reauth');
    expect(await client.refresh(provider, credentials(), rotated.refresh_token!)).toMatchObject({
      token_type: 'Bearer',
    });
  });

  it('leaves a missing refresh_token or expires_in undefined', async () => {
    fake.setMode('omit-refresh-token');
    expect((await connect()).refresh_token).toBeUndefined();
    fake.setMode('omit-expires-in');
    const tokens = await connect();
    expect(tokens.expires_in).toBeUndefined();
    expect(tokens.refresh_token).toBeDefined();
  });
});

describe('failures', () => {
  let provider: ResolvedProvider;
  let refreshToken: string;

  beforeEach(async () => {
    provider = await resolveFake();
    refreshToken = (await connect(provider)).refresh_token!;
  });

  it('invalid_grant: needs_reauth (409), naming what the provider answered', async () => {
    fake.setMode('invalid-grant');
    const error = await failure(client.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'needs_reauth', status: 409, expose: true });
    expect(error.message).toBe('provider answered invalid_grant: the grant was revoked');
  });

  it('a 500: provider_unavailable (503)', async () => {
    fake.setMode('server-error');
    const error = await failure(client.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'provider_unavailable', status: 503 });
    expect(error.message).toBe('the provider answered HTTP 500');
  });

  it('a 429: provider_rate_limited (503) with Retry-After', async () => {
    fake.setMode('rate-limited');
    const error = await failure(client.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'provider_rate_limited', status: 503, retryAfter: 7 });
  });

  it('a provider that never answers: provider_timeout (504) within the time limit', async () => {
    const impatient = createUpstreamClient({ timeoutMs: 300, outbound: loopback });
    fake.setMode('hang');
    const started = Date.now();
    const error = await failure(impatient.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'provider_timeout', status: 504 });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a refused connection: provider_unavailable (503)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const nowhere = await resolveFake({ tokenUrl: `http://127.0.0.1:${port}/token` });
    const error = await failure(client.refresh(nowhere, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'provider_unavailable', status: 503 });
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('a wrong client secret: provider_error (502)', async () => {
    const error = await failure(
      client.refresh(provider, { clientId: fake.clientId, clientSecret: 'wrong' }, refreshToken),
    );
    expect(error).toMatchObject({ code: 'provider_error', status: 502 });
    expect(error.message).toMatch(/^provider answered invalid_client/);
    expect(error.message).not.toContain('wrong');
  });

  it('never puts the refresh token, code or client secret in a message', async () => {
    for (const mode of ['invalid-grant', 'server-error', 'rate-limited'] as const) {
      fake.setMode(mode);
      const error = await failure(client.refresh(provider, credentials(), refreshToken));
      for (const secret of [refreshToken, fake.clientSecret]) {
        expect(error.message).not.toContain(secret);
        expect(JSON.stringify(error)).not.toContain(secret);
      }
    }
    // A provider that echoes the token back in its description.
    const echoing = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() =>
        Response.json(
          { error: 'invalid_request', error_description: `refresh_token ${refreshToken} is malformed` },
          { status: 400 },
        ),
      ),
    });
    const error = await failure(echoing.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({ code: 'provider_error', status: 502 });
    expect(error.message).toBe('provider answered invalid_request: refresh_token [redacted] is malformed');
  });

  it('an answer that is not JSON: provider_unavailable', async () => {
    const html = createUpstreamClient({
      outbound: loopback,
      fetch: answering(
        () =>
          new Response('<html>maintenance</html>', { status: 200, headers: { 'content-type': 'text/html' } }),
      ),
    });
    expect(await failure(html.refresh(provider, credentials(), refreshToken))).toMatchObject({
      code: 'provider_unavailable',
    });
  });

  it('Retry-After as an HTTP date', async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const limited = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() => new Response('busy', { status: 429, headers: { 'retry-after': inAMinute } })),
    });
    const error = await failure(limited.refresh(provider, credentials(), refreshToken));
    expect(error.code).toBe('provider_rate_limited');
    expect(error.retryAfter).toBeGreaterThanOrEqual(58);
    expect(error.retryAfter).toBeLessThanOrEqual(60);
  });

  it('an error answered with HTTP 200 (GitHub style) is still the error', async () => {
    const github = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() =>
        Response.json({
          error: 'bad_refresh_token',
          error_description: 'The refresh token passed is incorrect or expired.',
        }),
      ),
    });
    const error = await failure(github.refresh(provider, credentials(), refreshToken));
    expect(error).toMatchObject({
      code: 'needs_reauth',
      message: 'provider answered bad_refresh_token: The refresh token passed is incorrect or expired.',
    });
  });
});

describe('provider quirks', () => {
  it("reads Slack's user token from authed_user", async () => {
    const slack = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() =>
        Response.json({
          ok: true,
          app_id: 'A1',
          authed_user: {
            id: 'U1',
            scope: 'channels:read',
            access_token: 'xoxp-user',
            token_type: 'user',
            refresh_token: 'xoxe-1',
            expires_in: 43200,
          },
          team: { id: 'T1' },
        }),
      ),
    });
    const provider = await slack.resolve(getProvider('slack')!, {});
    const tokens = await slack.exchangeCode(
      provider,
      { clientId: 'id', clientSecret: 'secret' },
      { code: 'c', redirectUri: REDIRECT_URI },
    );
    expect(tokens).toEqual({
      access_token: 'xoxp-user',
      token_type: 'Bearer',
      refresh_token: 'xoxe-1',
      id_token: undefined,
      scope: 'channels:read',
      expires_in: 43200,
    });
  });

  it("maps Slack's HTTP 200 {ok:false} answers", async () => {
    const slack = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() => Response.json({ ok: false, error: 'invalid_refresh_token' })),
    });
    const provider = await slack.resolve(getProvider('slack')!, {});
    const error = await failure(
      slack.refresh(provider, { clientId: 'id', clientSecret: 'secret' }, 'xoxe-1-old'),
    );
    expect(error).toMatchObject({ code: 'needs_reauth', message: 'provider answered invalid_refresh_token' });
  });

  it('keeps an id_token from a plain OAuth 2.0 provider without judging its issuer', async () => {
    // Microsoft's common tenant signs with a per-tenant issuer the catalog cannot know.
    const idToken = [
      '{"alg":"RS256"}',
      '{"iss":"https://login.microsoftonline.com/tenant-id/v2.0","aud":"id"}',
      'sig',
    ]
      .map((part) => Buffer.from(part).toString('base64url'))
      .join('.');
    const microsoft = createUpstreamClient({
      outbound: loopback,
      fetch: answering(() =>
        Response.json({ access_token: 'at', token_type: 'Bearer', expires_in: 3599, id_token: idToken }),
      ),
    });
    const provider = await microsoft.resolve(getProvider('microsoft')!, {});
    const tokens = await microsoft.exchangeCode(
      provider,
      { clientId: 'id', clientSecret: 'secret' },
      { code: 'c', redirectUri: REDIRECT_URI },
    );
    expect(tokens).toMatchObject({ access_token: 'at', id_token: idToken, expires_in: 3599 });
  });
});

describe('revocation', () => {
  it('calls the revocation endpoint with the token and its hint (RFC 7009)', async () => {
    const provider = await resolveFake();
    const tokens = await connect(provider);
    await client.revoke(provider, credentials(), tokens.refresh_token!, 'refresh_token');
    expect(fake.stats.revocations).toBe(1);
    expect(fake.lastRevocation).toEqual({ token: tokens.refresh_token, hint: 'refresh_token' });
    expect(await failure(client.refresh(provider, credentials(), tokens.refresh_token!))).toMatchObject({
      code: 'needs_reauth',
    });
  });

  it('does nothing for a provider without a revocation endpoint', async () => {
    const provider = await resolveFake({ revocationUrl: undefined });
    await client.revoke(provider, credentials(), 'any-token', 'access_token');
    expect(fake.stats.revocations).toBe(0);
  });

  it('maps a failing revocation like any other call', async () => {
    const provider = await resolveFake();
    fake.setMode('server-error');
    expect(await failure(client.revoke(provider, credentials(), 'token', 'access_token'))).toMatchObject({
      code: 'provider_unavailable',
    });
  });
});

describe('https only', () => {
  it('refuses a plain http endpoint that is not this machine, before any request', async () => {
    const calls: string[] = [];
    const guarded = createUpstreamClient({ fetch: answering(() => Response.json({}), calls) });
    const provider = await guarded.resolve(
      fake.definition({
        authorizationUrl: 'http://idp.example/authorize',
        tokenUrl: 'http://idp.example/token',
      }),
      {},
    );
    const error = await failure(guarded.refresh(provider, credentials(), 'rt'));
    expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(() =>
      guarded.authorizationUrl(provider, credentials(), {
        redirectUri: REDIRECT_URI,
        scopes: [],
        state: 's',
      }),
    ).toThrow(VaultError);
    const oidcError = await failure(guarded.resolve(getProvider('oidc')!, { issuer: 'http://idp.example' }));
    expect(oidcError).toMatchObject({ code: 'invalid_request', message: 'the issuer must be an https URL' });
    expect(calls).toEqual([]);
  });

  it('needs an issuer for an oidc provider', async () => {
    expect(await failure(client.resolve(getProvider('oidc')!, {}))).toMatchObject({
      code: 'invalid_request',
    });
  });
});

describe('oidc discovery against a real Latchkey', () => {
  let latchkey: TestServer;

  beforeAll(async () => {
    latchkey = await startLatchkey();
  });
  afterAll(async () => {
    await latchkey.close();
  });

  it("resolves the issuer's endpoints, and asks only once", async () => {
    const calls: string[] = [];
    const discovering = createUpstreamClient({
      outbound: loopback,
      fetch: async (input, init) => (calls.push(String(input)), fetch(input, init)),
    });
    const oidc = getProvider('oidc')!;
    const resolved = await discovering.resolve(oidc, { issuer: latchkey.url });
    expect(resolved).toMatchObject({ definition: oidc, issuer: latchkey.url, apiBaseUrl: undefined });
    for (const endpoint of [resolved.authorizationUrl, resolved.tokenUrl, resolved.revocationUrl]) {
      expect(endpoint?.startsWith(`${latchkey.url}/`)).toBe(true);
    }
    await discovering.resolve(oidc, { issuer: latchkey.url });
    expect(calls).toEqual([`${latchkey.url}/.well-known/openid-configuration`]);
  });

  it('reports an issuer without a discovery document as provider_error', async () => {
    const error = await failure(client.resolve(getProvider('oidc')!, { issuer: `${fake.url}/nothing-here` }));
    expect(error).toMatchObject({
      code: 'provider_error',
      status: 502,
      message: 'the provider answered HTTP 404',
    });
  });
});

describe('an oidc provider discovered from the fake provider', () => {
  it('connects and refreshes end to end', async () => {
    const provider = await client.resolve(getProvider('oidc')!, { issuer: fake.url });
    expect(provider).toMatchObject({
      issuer: fake.url,
      tokenUrl: `${fake.url}/token`,
      revocationUrl: `${fake.url}/revoke`,
    });
    const tokens = await connect(provider);
    expect(fake.lastAuthorizationRequest!.get('scope')).toBe('openid offline_access read write');
    expect(fake.lastAuthorizationRequest!.get('prompt')).toBe('consent');
    expect((await client.refresh(provider, credentials(), tokens.refresh_token!)).access_token).toMatch(
      /^fake-at-/,
    );
  });

  it('counts every refresh, also concurrent ones held by a slow token endpoint', async () => {
    const provider = await resolveFake();
    const { refresh_token: refreshToken } = await connect(provider);
    fake.setDelay(150);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 5 }, () => client.refresh(provider, credentials(), refreshToken!)),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(fake.stats.refreshes).toBe(5);
  });

  it('sends the user back with access_denied in deny mode', async () => {
    fake.setMode('deny');
    const url = client.authorizationUrl(await resolveFake(), credentials(), {
      redirectUri: REDIRECT_URI,
      scopes: [],
      state: 'x',
    });
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    expect(Object.fromEntries(back.searchParams)).toEqual({ state: 'x', error: 'access_denied' });
  });
});
