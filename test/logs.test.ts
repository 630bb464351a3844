// What the logs hold after real traffic: request ids, paths and events, never a token, code,
// secret or password (info level and below, the levels a deployment runs at).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oauth from 'openid-client';
import { Browser } from './support/browser.js';
import { CALLBACK, PASSWORD, codeFlow, discover, seed, type Fixtures } from './support/flows.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { capturingLogger } from './support/logs.js';
import { vaultApp } from './support/vault.js';

const { logger, lines } = capturingLogger('debug');
let server: TestServer;
let fake: FakeProvider;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey({ options: { logger } });
  fixtures = await seed(server);
  fake = await startFakeProvider();
});

afterAll(async () => {
  await fake.close();
  await server.close();
});

test('a day of traffic leaves no secret in the logs', async () => {
  const secrets: string[] = [
    PASSWORD,
    fixtures.web.client_secret,
    fixtures.service.client_secret,
    fake.clientSecret,
  ];

  // Login with Latchkey, refresh, introspection, a failed login.
  const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
  const { tokens, callback } = await codeFlow(server, config, CALLBACK);
  const refreshed = await oauth.refreshTokenGrant(config, tokens.refresh_token!);
  await oauth.tokenIntrospection(config, refreshed.access_token);
  await oauth.refreshTokenGrant(config, 'not-a-real-refresh-token').catch(() => undefined);
  secrets.push(
    callback.searchParams.get('code')!,
    tokens.access_token,
    tokens.refresh_token!,
    tokens.id_token!,
    refreshed.access_token,
  );

  // The vault: an integration, a connect link, a connection, a token, a proxied call.
  const app = await vaultApp(server);
  await app.call('POST', '/vault/integrations', {
    key: 'files',
    provider: 'oidc',
    issuer: fake.url,
    client_id: fake.clientId,
    client_secret: fake.clientSecret,
  });
  const session = await app.call('POST', '/vault/connect-sessions', {
    integration: 'files',
    end_user_id: 'u1',
    return_url: 'http://127.0.0.1:9/back',
  });
  await new Browser(server.url, fake.url).navigate(session.body.url);
  const issued = await app.call('POST', '/vault/connections/files/u1/token', { include_refresh_token: true });
  await app.call('GET', '/vault/proxy/files/u1/api/hello');
  secrets.push(
    app.token,
    new URL(session.body.url).pathname.split('/').pop()!,
    issued.body.access_token,
    issued.body.refresh_token,
  );

  const text = lines.join('');
  expect(lines.length).toBeGreaterThan(20);
  expect(text).toContain('"requestId"');
  for (const secret of secrets) {
    expect(typeof secret).toBe('string');
    expect({ secret: secret.slice(0, 6), found: text.includes(secret) }).toEqual({
      secret: secret.slice(0, 6),
      found: false,
    });
  }
});
