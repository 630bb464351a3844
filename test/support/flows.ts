// Shared steps of the end-to-end suites: registering test clients and a user, and driving a
// browser through login and consent.
import * as oauth from 'openid-client';
import type { OidcRecord, Store } from '../../src/store/types.js';
import type { TestServer } from './latchkey.js';
import { Browser, formAction, hiddenInput } from './browser.js';

export const PASSWORD = 'correct horse battery staple';
export const CALLBACK = 'http://127.0.0.1:9/callback';

export interface Fixtures {
  user: { id: string; email: string };
  web: { client_id: string; client_secret: string };
  native: { client_id: string };
  service: { client_id: string; client_secret: string };
  device: { client_id: string };
  api: string;
  opaqueApi: string;
}

export async function seed(server: TestServer): Promise<Fixtures> {
  const { accounts, clients, apis, grants } = server.latchkey.services;
  const account = await accounts.create({
    email: 'ada@example.com',
    name: 'Ada Lovelace',
    password: PASSWORD,
    emailVerified: true,
  });
  const web = await clients.add({
    name: 'Example Web App',
    redirectUris: [CALLBACK],
    grantTypes: ['authorization_code', 'refresh_token'],
    postLogoutRedirectUris: ['http://127.0.0.1:9/signed-out'],
  });
  const native = await clients.add({
    name: 'Example Mobile App',
    public: true,
    redirectUris: ['http://127.0.0.1:9/native'],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const api = 'https://api.example.test';
  const opaqueApi = 'https://opaque.example.test';
  await apis.add({ identifier: api, scope: 'read write', format: 'jwt', ttl: 600 });
  await apis.add({ identifier: opaqueApi, scope: 'read', format: 'opaque', ttl: 600 });
  const service = await clients.add({
    name: 'Example Service',
    grantTypes: ['client_credentials'],
    resourceServers: [opaqueApi],
  });
  const device = await clients.add({
    name: 'Example TV',
    public: true,
    grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  });
  // Every test client may use both APIs: the suites that test client grants make their own.
  for (const client of [web, native, service, device]) {
    await grants.grant(client.client_id, api, 'read write');
    await grants.grant(client.client_id, opaqueApi, 'read');
  }
  return {
    user: { id: account.id, email: account.email },
    web: web as Fixtures['web'],
    native,
    service: service as Fixtures['service'],
    device,
    api,
    opaqueApi,
  };
}

export function discover(
  server: TestServer,
  clientId: string,
  secret?: string,
): Promise<oauth.Configuration> {
  return oauth.discovery(
    new URL(server.url),
    clientId,
    secret ? { client_secret: secret } : undefined,
    secret ? oauth.ClientSecretBasic(secret) : oauth.None(),
    { execute: [oauth.allowInsecureRequests] },
  );
}

/** Opens the authorization URL, signs in and allows; returns the URL the browser was sent back to. */
export async function signInAndAllow(
  server: TestServer,
  authorizationUrl: URL,
  browser = new Browser(server.url),
  password = PASSWORD,
): Promise<URL> {
  let result = await browser.navigate(authorizationUrl.href);
  for (let step = 0; step < 4; step++) {
    if ('redirect' in result) return new URL(result.redirect);
    if (result.html.includes('/login"')) {
      result = await browser.submit(formAction(result.html, '/login'), {
        email: 'ada@example.com',
        password,
        _csrf: hiddenInput(result.html, '_csrf'),
      });
    } else if (result.html.includes('/confirm"')) {
      result = await browser.submit(formAction(result.html, '/confirm'), {
        _csrf: hiddenInput(result.html, '_csrf'),
      });
    } else {
      throw new Error(`unexpected page ${result.status}: ${result.html.slice(0, 500)}`);
    }
  }
  throw new Error('no redirect back to the client');
}

export async function codeFlow(
  server: TestServer,
  config: oauth.Configuration,
  redirectUri: string,
  scope = 'openid profile email offline_access',
  browser?: Browser,
): Promise<{
  tokens: Awaited<ReturnType<typeof oauth.authorizationCodeGrant>>;
  callback: URL;
  verifier: string;
  state: string;
}> {
  const verifier = oauth.randomPKCECodeVerifier();
  const state = oauth.randomState();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}),
  });
  const callback = await signInAndAllow(server, url, browser);
  const tokens = await oauth.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { tokens, callback, verifier, state };
}

/**
 * Forgets every user's consent: consent is remembered across browser sessions, so a test that
 * expects the consent page starts from none.
 */
export async function forgetConsents(store: Store): Promise<void> {
  const grants: string[] = [];
  for await (const entry of store.exportAll()) {
    const record = entry.record as OidcRecord;
    if (entry.kind === 'oidc' && record.model === 'Grant' && record.grantId) grants.push(record.grantId);
  }
  for (const grantId of grants) await store.oidc.revokeByGrantId(grantId);
}
