// The vault end to end with Latchkey's own authorization server as the upstream provider (the
// `oidc` provider, through discovery): connect, token API, proxy, transparent refresh, delete.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Browser } from './support/browser.js';
import { PASSWORD, seed } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { vaultApp, type VaultApp } from './support/vault.js';

let provider: TestServer;
let vault: TestServer;
let app: VaultApp;
const RETURN_URL = 'http://127.0.0.1:9/connected';

beforeAll(async () => {
  // The provider hands out 10-second access tokens, so the vault must refresh them.
  provider = await startLatchkey({ env: { ACCESS_TOKEN_TTL: '10' } });
  await seed(provider);
  vault = await startLatchkey({ options: { vault: { broker: { refreshMarginSeconds: 2 } } } });
  const upstreamClient = await provider.latchkey.services.clients.add({
    name: 'Example App (via Latchkey vault)',
    redirectUris: [`${vault.url}/vault/callback`],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  app = await vaultApp(vault);
  const created = await app.call('POST', '/vault/integrations', {
    key: 'latchkey',
    provider: 'oidc',
    issuer: provider.url,
    client_id: upstreamClient.client_id,
    client_secret: upstreamClient.client_secret,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    // oidc-provider issues refresh tokens for offline_access only with an explicit consent prompt.
    authorization_params: { prompt: 'consent' },
  });
  expect(created.status).toBe(201);
  expect(created.body.redirect_uri).toBe(`${vault.url}/vault/callback`);
  expect(JSON.stringify(created.body)).not.toContain(upstreamClient.client_secret!);
});

afterAll(async () => {
  await vault.close();
  await provider.close();
});

/** The end user's browser: opens the connect URL, signs in and allows at the provider. */
async function connect(endUserId: string): Promise<URL> {
  const session = await app.call('POST', '/vault/connect-sessions', {
    integration: 'latchkey',
    end_user_id: endUserId,
    return_url: RETURN_URL,
  });
  expect(session.status).toBe(201);
  const browser = new Browser(provider.url, vault.url);
  let step = await browser.navigate(session.body.url);
  for (let hops = 0; hops < 4 && !('redirect' in step); hops++) {
    const html = step.html;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const action = /action="([^"]*\/(login|confirm))"/.exec(html)?.[1];
    if (!action) throw new Error(`unexpected page: ${html.slice(0, 300)}`);
    step = await browser.submit(
      action,
      action.endsWith('/login')
        ? { email: 'ada@example.com', password: PASSWORD, _csrf: csrf }
        : { _csrf: csrf },
    );
  }
  if (!('redirect' in step)) throw new Error('never returned to the app');
  return new URL(step.redirect);
}

describe('the vault with Latchkey as the provider', () => {
  test('connect: the browser signs in at the provider and comes back to the app connected', async () => {
    const back = await connect('user-1');
    expect(back.origin + back.pathname).toBe(RETURN_URL);
    expect(back.searchParams.get('status')).toBe('connected');
    expect(back.searchParams.get('end_user_id')).toBe('user-1');
    const shown = await app.call('GET', '/vault/connections/latchkey/user-1');
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ status: 'active', integration: 'latchkey', end_user_id: 'user-1' });
    expect(shown.body.scopes).toEqual(expect.arrayContaining(['openid', 'email']));
    expect(JSON.stringify(shown.body)).not.toMatch(/access_token|refresh_token/);
  });

  test('the token API returns a token that works at the provider, and never the refresh token by default', async () => {
    const issued = await app.call('POST', '/vault/connections/latchkey/user-1/token', {});
    expect(issued.status).toBe(200);
    expect(issued.body.refresh_token).toBeUndefined();
    const me = await fetch(`${provider.url}/v1/users/me`, {
      headers: { authorization: `Bearer ${issued.body.access_token}` },
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { email: string }).email).toBe('ada@example.com');
  });

  test('the proxy returns the provider\u2019s /v1/users/me unchanged', async () => {
    const issued = await app.call('POST', '/vault/connections/latchkey/user-1/token', {});
    const direct = await fetch(`${provider.url}/v1/users/me`, {
      headers: { authorization: `Bearer ${issued.body.access_token}` },
    });
    const proxied = await app.call('GET', '/vault/proxy/latchkey/user-1/v1/users/me');
    expect(proxied.status).toBe(direct.status);
    expect(proxied.body).toEqual(await direct.json());
    expect(proxied.headers.get('content-type')).toBe(direct.headers.get('content-type'));
  });

  test('an expired access token is refreshed transparently by the token API and by the proxy', async () => {
    const first = await app.call('POST', '/vault/connections/latchkey/user-1/token', {});
    await new Promise((resolve) => setTimeout(resolve, 8500));
    const second = await app.call('POST', '/vault/connections/latchkey/user-1/token', {});
    expect(second.status).toBe(200);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    const shown = await app.call('GET', '/vault/connections/latchkey/user-1');
    expect(shown.body.last_refresh_at).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 8500));
    const proxied = await app.call('GET', '/vault/proxy/latchkey/user-1/v1/users/me');
    expect(proxied.status).toBe(200);
    expect(proxied.body.email).toBe('ada@example.com');
  }, 30000);

  test('deleting a connection revokes it at the provider', async () => {
    await connect('user-2');
    const issued = await app.call('POST', '/vault/connections/latchkey/user-2/token', {});
    const deleted = await app.call('DELETE', '/vault/connections/latchkey/user-2');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true, revoked_at_provider: true });
    expect((await app.call('GET', '/vault/connections/latchkey/user-2')).status).toBe(404);
    const me = await fetch(`${provider.url}/v1/users/me`, {
      headers: { authorization: `Bearer ${issued.body.access_token}` },
    });
    expect(me.status).toBe(401);
  });
});
