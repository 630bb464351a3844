// The vault's boundaries: one app cannot reach another's integrations or connections (404, so
// ids do not leak); the proxy stays inside the provider's API base and forwards none of
// Latchkey's own credentials; the connect flow ends cleanly on provider errors and replays; the
// database holds no token or secret in plain text.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Browser } from './support/browser.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { vaultApp, type VaultApp } from './support/vault.js';

let vault: TestServer;
let fake: FakeProvider;
let appA: VaultApp;
let appB: VaultApp;

beforeAll(async () => {
  vault = await startLatchkey();
  fake = await startFakeProvider();
  appA = await vaultApp(vault, 'App A');
  appB = await vaultApp(vault, 'App B');
  const created = await appA.call('POST', '/vault/integrations', {
    key: 'files',
    provider: 'oidc',
    issuer: fake.url,
    client_id: fake.clientId,
    client_secret: fake.clientSecret,
  });
  expect(created.status).toBe(201);
  const session = await appA.call('POST', '/vault/connect-sessions', {
    integration: 'files',
    end_user_id: 'alice',
    return_url: 'http://127.0.0.1:9/back',
  });
  const result = await new Browser(vault.url, fake.url).navigate(session.body.url);
  expect('redirect' in result && new URL(result.redirect).searchParams.get('status')).toBe('connected');
});

afterAll(async () => {
  await fake.close();
  await vault.close();
});

describe('isolation between apps', () => {
  test('app B cannot see, use, proxy through or delete app A\u2019s integrations and connections', async () => {
    expect((await appB.call('GET', '/vault/integrations')).body).toEqual({ integrations: [] });
    expect((await appB.call('GET', '/vault/connections')).body).toEqual({ connections: [] });
    const attempts = [
      await appB.call('GET', '/vault/integrations/files'),
      await appB.call('PATCH', '/vault/integrations/files', { scopes: ['x'] }),
      await appB.call('GET', '/vault/connections/files/alice'),
      await appB.call('POST', '/vault/connections/files/alice/token', {}),
      await appB.call('GET', '/vault/proxy/files/alice/api/profile'),
      await appB.call('POST', '/vault/connect-sessions', {
        integration: 'files',
        end_user_id: 'mallory',
        return_url: 'http://127.0.0.1:9/b',
      }),
      await appB.call('DELETE', '/vault/connections/files/alice'),
      await appB.call('DELETE', '/vault/integrations/files'),
    ];
    expect(attempts.map((attempt) => attempt.status)).toEqual(attempts.map(() => 404));
    // Still there for app A.
    expect((await appA.call('GET', '/vault/connections/files/alice')).status).toBe(200);
  });

  test('the vault API needs a token with the right scope', async () => {
    expect((await fetch(`${vault.url}/vault/integrations`)).status).toBe(401);
    const narrow = await vaultApp(vault, 'App C', 'vault:connect');
    const refused = await narrow.call('POST', '/vault/connections/files/alice/token', {});
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('insufficient_scope');
    const noAdmin = await vaultApp(vault, 'App D', 'vault:tokens');
    const refreshAsked = await noAdmin.call('POST', '/vault/connections/files/alice/token', {
      include_refresh_token: true,
    });
    expect(refreshAsked.status).toBe(403);
  });

  test('only vault:admin gets the refresh token, and only when it asks', async () => {
    const plain = await appA.call('POST', '/vault/connections/files/alice/token', {});
    expect(plain.body.refresh_token).toBeUndefined();
    const asked = await appA.call('POST', '/vault/connections/files/alice/token', {
      include_refresh_token: true,
    });
    expect(typeof asked.body.refresh_token).toBe('string');
  });

  test('bad input to the vault API is a 400 with a stable code, never a 500', async () => {
    const cases = [
      await appA.call('POST', '/vault/integrations', { key: 'Bad Key!', provider: 'oidc', client_id: 'x' }),
      await appA.call('POST', '/vault/integrations', {
        key: 'nope',
        provider: 'no-such-provider',
        client_id: 'x',
        client_secret: 'y',
      }),
      await appA.call('POST', '/vault/integrations', {
        key: 'extra',
        provider: 'github',
        client_id: 'x',
        client_secret: 'y',
        surprise: 1,
      }),
      await appA.call('POST', '/vault/connect-sessions', {
        integration: 'files',
        end_user_id: 'a',
        return_url: 'javascript:alert(1)',
      }),
    ];
    for (const answer of cases) {
      expect(answer.status).toBe(400);
      expect(typeof answer.body.code).toBe('string');
    }
    const junk = await fetch(`${vault.url}/vault/integrations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appA.token}`, 'content-type': 'application/json' },
      body: '{"key": ',
    });
    expect(junk.status).toBe(400);
  });
});

function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${vault.url}${path}`,
      { headers: { authorization: `Bearer ${appA.token}` } },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      },
    );
    request.path = path;
    request.on('error', reject);
    request.end();
  });
}

describe('the proxy', () => {
  test('forwards method, query and body with the vault token, and none of Latchkey\u2019s credentials or cookies', async () => {
    const response = await fetch(`${vault.url}/vault/proxy/files/alice/api/items?limit=2&q=a%20b`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${appA.token}`,
        cookie: 'latchkey.session=secret-session; latchkey.csrf=secret-csrf',
        'content-type': 'application/json',
        'x-trace-id': 'abc',
      },
      body: JSON.stringify({ name: 'report.pdf' }),
    });
    expect(response.status).toBe(200);
    const seen = fake.lastApiRequest!;
    expect(seen.method).toBe('POST');
    expect(seen.path).toBe('/api/items');
    expect(seen.query).toEqual({ limit: '2', q: 'a b' });
    expect(JSON.parse(seen.body)).toEqual({ name: 'report.pdf' });
    expect(seen.headers['x-trace-id']).toBe('abc');
    expect(seen.headers.cookie).toBeUndefined();
    const token = (await appA.call('POST', '/vault/connections/files/alice/token', {})).body.access_token;
    expect(seen.headers.authorization).toBe(`Bearer ${token}`);
    expect(JSON.stringify(seen.headers)).not.toContain(appA.token);
  });

  test.each([
    '//evil.example/x',
    '/../x',
    '/api/../../x',
    '/%2e%2e/x',
    '/%2E%2e/x',
    '/a%2fb',
    '/%5c%5cevil',
    '/@evil.example',
    '/%40evil',
    '/http:%2f%2fevil.example',
  ])('refuses %s without calling anyone', async (path) => {
    const before = fake.stats.apiCalls;
    // node:http sends the path as written (fetch would normalise the dot segments away first).
    const response = await rawGet(`/vault/proxy/files/alice${path}`);
    expect(response.status).toBe(400);
    expect((JSON.parse(response.body) as { code: string }).code).toBe('path_not_allowed');
    expect(fake.stats.apiCalls).toBe(before);
  });

  test('a 401 from the provider makes the vault refresh once and retry', async () => {
    // Someone (the provider, a user) invalidated the vault's access token behind its back.
    const refreshToken = (
      await appA.call('POST', '/vault/connections/files/alice/token', { include_refresh_token: true })
    ).body.refresh_token;
    const outside = await fetch(`${fake.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${fake.clientId}:${fake.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    });
    expect(outside.status).toBe(200);
    const refreshes = fake.stats.refreshes;
    const proxied = await appA.call('GET', '/vault/proxy/files/alice/api/profile');
    expect(proxied.status).toBe(200);
    expect(fake.stats.refreshes).toBe(refreshes + 1);
  });
});

describe('the connect flow', () => {
  test('a denied authorization comes back to the app as an error outcome', async () => {
    fake.setMode('deny');
    try {
      const session = await appA.call('POST', '/vault/connect-sessions', {
        integration: 'files',
        end_user_id: 'bob',
        return_url: 'http://127.0.0.1:9/back',
      });
      const result = await new Browser(vault.url, fake.url).navigate(session.body.url);
      if (!('redirect' in result)) throw new Error('expected a redirect to the app');
      const back = new URL(result.redirect);
      expect(back.searchParams.get('status')).toBe('error');
      expect(back.searchParams.get('error')).toBe('access_denied');
      expect((await appA.call('GET', '/vault/connections/files/bob')).status).toBe(404);
    } finally {
      fake.setMode('normal');
    }
  });

  test('a connect URL works once; a callback from another browser or a replayed state is refused', async () => {
    const session = await appA.call('POST', '/vault/connect-sessions', {
      integration: 'files',
      end_user_id: 'carol',
      return_url: 'http://127.0.0.1:9/back',
    });
    const browser = new Browser(vault.url);
    const first = await browser.navigate(session.body.url);
    if (!('redirect' in first)) throw new Error('expected a redirect to the provider');
    const callback = new URL(first.redirect);
    expect(callback.origin).toBe(fake.url);
    const again = await new Browser(vault.url).page(session.body.url);
    expect(again.status).toBe(410);
    expect(again.html).toContain('connect_session_expired');

    // The provider's redirect back, opened in a different browser (no binding cookie): refused.
    const authorize = await fetch(callback, { redirect: 'manual' });
    const back = authorize.headers.get('location')!;
    const stranger = await new Browser(vault.url).page(back);
    expect(stranger.status).toBe(400);
    expect(stranger.html).not.toMatch(/at .*\.(ts|js):\d+/);
    // The state is spent either way: the right browser cannot replay it now.
    const replay = await browser.page(back);
    expect(replay.status).toBe(400);
  });
});

describe('the database file', () => {
  test('holds no access token, refresh token, client secret or provider secret in plain text', async () => {
    const issued = await appA.call('POST', '/vault/connections/files/alice/token', {
      include_refresh_token: true,
    });
    const bytes = readdirSync(vault.dir)
      .filter((name) => name.startsWith('latchkey.db'))
      .map((name) => readFileSync(join(vault.dir, name)).toString('latin1'))
      .join('\n');
    for (const secret of [
      issued.body.access_token,
      issued.body.refresh_token,
      fake.clientSecret,
      appA.token,
    ]) {
      expect(typeof secret).toBe('string');
      expect(bytes.includes(secret)).toBe(false);
    }
  });
});
