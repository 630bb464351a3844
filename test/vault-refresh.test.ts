// Refresh done right, against small local providers with upstream quirks: rotation, missing fields,
// refusals, failures; exactly one refresh under concurrency (also across two instances sharing
// the SQLite file); and no stored token lost or corrupted on the way.
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Browser } from './support/browser.js';
import { startFakeProvider, type FakeProvider, type FakeProviderOptions } from './support/fake-provider.js';
import { startLatchkey, startLatchkeyProcess, type TestServer } from './support/latchkey.js';
import { capturingLogger } from './support/logs.js';
import { vaultApp, type VaultApp } from './support/vault.js';
import { openTokens } from '../src/vault/connections.js';

let vault: TestServer;
let app: VaultApp;
const providers: FakeProvider[] = [];
let counter = 0;

/** The server's log lines (JSON). */
const { logger, lines: logs } = capturingLogger('info');

beforeAll(async () => {
  vault = await startLatchkey({ options: { vault: { upstreamTimeoutMs: 600 }, logger } });
  app = await vaultApp(vault);
});

afterEach(async () => {
  for (const provider of providers.splice(0)) await provider.close();
});

afterAll(async () => {
  await vault.close();
});

interface Connected {
  fake: FakeProvider;
  key: string;
  endUserId: string;
  tokenPath: string;
}

/** A fresh provider, an integration for it, and one end user connected through the browser flow. */
async function connected(options: FakeProviderOptions = {}): Promise<Connected> {
  const fake = await startFakeProvider(options);
  providers.push(fake);
  const key = `fake-${++counter}`;
  const endUserId = `user-${counter}`;
  const created = await app.call('POST', '/vault/integrations', {
    key,
    provider: 'oidc',
    issuer: fake.url,
    client_id: fake.clientId,
    client_secret: fake.clientSecret,
    scopes: ['files.read'],
  });
  expect(created.status).toBe(201);
  const session = await app.call('POST', '/vault/connect-sessions', {
    integration: key,
    end_user_id: endUserId,
    return_url: 'http://127.0.0.1:9/back',
  });
  const result = await new Browser(vault.url, fake.url).navigate(session.body.url);
  if (!('redirect' in result))
    throw new Error(`connect flow stopped at a page: ${result.html.slice(0, 300)}`);
  expect(new URL(result.redirect).searchParams.get('status')).toBe('connected');
  return { fake, key, endUserId, tokenPath: `/vault/connections/${key}/${endUserId}/token` };
}

async function stored(connection: Connected) {
  const record = await vault.latchkey.store.vaultConnections.get(
    app.clientId,
    connection.key,
    connection.endUserId,
  );
  return { record: record!, tokens: openTokens(vault.latchkey.keyring, record!) };
}

/** Waits until `condition` holds, failing after `ms`. */
async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Makes the stored access token expired, as time would. */
async function expire(connection: Connected) {
  const { record } = await stored(connection);
  const expired = { ...record, expiresAt: Date.now() - 1000, version: record.version + 1 };
  expect(await vault.latchkey.store.vaultConnections.replaceIfVersion(expired, record.version)).toBe(true);
}

describe('transparent refresh and upstream quirks', () => {
  test('a proxied call refused for its path or method refreshes nothing, even with the token due', async () => {
    const connection = await connected();
    await expire(connection);
    const proxyPath = `/vault/proxy/${connection.key}/${connection.endUserId}`;
    // node:http sends the target as written; fetch would refuse TRACE and normalise paths.
    const raw = (method: string, path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const sent = httpRequest(
          `${vault.url}${path}`,
          { method, headers: { authorization: `Bearer ${app.token}` } },
          (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode!, body }));
          },
        );
        sent.on('error', reject);
        sent.end();
      });

    const badPath = await raw('GET', `${proxyPath}/api/a%2fb`);
    expect(badPath.status).toBe(400);
    expect(JSON.parse(badPath.body)).toMatchObject({ error: 'path_not_allowed' });
    const trace = await raw('TRACE', `${proxyPath}/api/x`);
    expect(trace.status).toBe(405);
    expect(connection.fake.stats.refreshes).toBe(0);
    expect(connection.fake.stats.apiCalls).toBe(0);

    const allowed = await app.call('GET', `${proxyPath}/api/x`);
    expect(allowed.status).toBe(200);
    expect(connection.fake.stats.refreshes).toBe(1);
    expect(connection.fake.stats.apiCalls).toBe(1);
  });

  test('an app that hangs up mid-call ends the call to the provider at once', async () => {
    const connection = await connected();
    connection.fake.setMode('hang');
    const path = `/vault/proxy/${connection.key}/${connection.endUserId}/api/x`;
    const sent = httpRequest(`${vault.url}${path}`, { headers: { authorization: `Bearer ${app.token}` } });
    sent.on('error', () => undefined);
    sent.end();
    await until(() => connection.fake.stats.apiCalls === 1);
    sent.destroy();
    // Well before the 600 ms upstream timeout of this vault would end it.
    await until(() => connection.fake.stats.apiCallsAbandoned === 1, 400);
    // Logged as the client's doing (499), not as a failure of the vault's.
    type Entry = { msg: string; path?: string; status?: number; requestId?: string };
    const entries = () => logs.map((line) => JSON.parse(line) as Entry);
    await until(() => entries().some((entry) => entry.msg === 'request' && entry.path === path));
    const access = entries().find((entry) => entry.msg === 'request' && entry.path === path)!;
    expect(access.status).toBe(499);
    expect(
      entries().filter((entry) => entry.requestId === access.requestId && entry.msg !== 'request'),
    ).toEqual([]);
  });

  test('a fresh token is served without a refresh; an expired one is refreshed and stored first', async () => {
    const connection = await connected();
    const first = await app.call('POST', connection.tokenPath, {});
    expect(first.status).toBe(200);
    expect(connection.fake.stats.refreshes).toBe(0);
    await expire(connection);
    const second = await app.call('POST', connection.tokenPath, {});
    expect(second.status).toBe(200);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(connection.fake.stats.refreshes).toBe(1);
    expect((await stored(connection)).tokens.access_token).toBe(second.body.access_token);
  });

  test('a rotating provider: the new refresh token is kept and the next refresh uses it', async () => {
    const connection = await connected({ mode: 'rotate' });
    const before = (await stored(connection)).tokens.refresh_token;
    await expire(connection);
    expect((await app.call('POST', connection.tokenPath, {})).status).toBe(200);
    const after = (await stored(connection)).tokens.refresh_token;
    expect(after).not.toBe(before);
    await expire(connection);
    expect((await app.call('POST', connection.tokenPath, {})).status).toBe(200);
    expect(connection.fake.stats.refreshes).toBe(2);
  });

  test('a refresh answer without refresh_token keeps the old one', async () => {
    const connection = await connected();
    const before = (await stored(connection)).tokens.refresh_token;
    connection.fake.setMode('omit-refresh-token');
    await expire(connection);
    expect((await app.call('POST', connection.tokenPath, {})).status).toBe(200);
    expect((await stored(connection)).tokens.refresh_token).toBe(before);
    connection.fake.setMode('normal');
    await expire(connection);
    expect((await app.call('POST', connection.tokenPath, {})).status).toBe(200);
  });

  test('a refresh answer without expires_in gets the default lifetime', async () => {
    const connection = await connected();
    connection.fake.setMode('omit-expires-in');
    await expire(connection);
    const issued = await app.call('POST', connection.tokenPath, {});
    expect(issued.status).toBe(200);
    const expiresIn = (Date.parse(issued.body.expires_at) - Date.now()) / 1000;
    expect(expiresIn).toBeGreaterThan(3500);
    expect(expiresIn).toBeLessThanOrEqual(3600);
  });

  test('invalid_grant: needs_reauth, an event, and the stored tokens untouched', async () => {
    const connection = await connected();
    const events: string[] = [];
    vault.latchkey.vault.events.once('vault.connection.refresh_failed', (event) =>
      events.push(event.error!.code),
    );
    const before = await stored(connection);
    connection.fake.setMode('invalid-grant');
    await expire(connection);
    const refused = await app.call('POST', connection.tokenPath, {});
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('needs_reauth');
    expect(events).toEqual(['needs_reauth']);
    const shown = await app.call('GET', `/vault/connections/${connection.key}/${connection.endUserId}`);
    expect(shown.body.status).toBe('needs_reauth');
    expect((await stored(connection)).tokens).toEqual(before.tokens);
    // Later calls do not hammer the provider.
    expect((await app.call('POST', connection.tokenPath, {})).body.code).toBe('needs_reauth');
    expect(connection.fake.stats.refreshes).toBe(1);
  });

  test.each([
    ['server-error', 503, 'provider_unavailable', undefined],
    ['rate-limited', 503, 'provider_rate_limited', '7'],
    ['hang', 504, 'provider_timeout', undefined],
  ] as const)(
    '%s: transient; the caller learns what the provider answered, tokens are kept, retries back off',
    async (mode, status, code, retryAfter) => {
      const connection = await connected();
      const before = await stored(connection);
      connection.fake.setMode(mode);
      await expire(connection);
      const failed = await app.call('POST', connection.tokenPath, {});
      expect(failed.status).toBe(status);
      expect(failed.body.code).toBe(code);
      if (retryAfter) expect(failed.headers.get('retry-after')).toBe(retryAfter);
      expect(JSON.stringify(failed.body)).not.toContain(before.tokens.refresh_token!);
      const after = await stored(connection);
      expect(after.tokens).toEqual(before.tokens);
      expect(after.record.status).toBe('active');
      expect(after.record.lastError?.code).toBe(code);
      // An immediate second call backs off instead of calling the provider again.
      const attempts = connection.fake.stats.refreshes;
      const again = await app.call('POST', connection.tokenPath, {});
      expect(again.status).toBe(503);
      expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(connection.fake.stats.refreshes).toBe(attempts);
      // Once the provider recovers and the pause is over, the refresh goes through with the kept token.
      connection.fake.setMode('normal');
      const { record } = await stored(connection);
      await vault.latchkey.store.vaultConnections.replaceIfVersion(
        { ...record, nextRefreshAt: Date.now() - 1, version: record.version + 1 },
        record.version,
      );
      expect((await app.call('POST', connection.tokenPath, {})).status).toBe(200);
    },
  );
});

describe('one refresh at a time', () => {
  test('200 concurrent token requests on an expired connection cause exactly one refresh', async () => {
    // 100 ms at the provider: the calls overlap the refresh, with room under this vault's 600 ms
    // upstream timeout on a loaded machine.
    const connection = await connected({ delayMs: 100 });
    await expire(connection);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => app.call('POST', connection.tokenPath, {})),
    );
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(new Set(answers.map((answer) => answer.body.access_token)).size).toBe(1);
    expect(connection.fake.stats.refreshes).toBe(1);
  });

  test('two Latchkey processes sharing the SQLite file still refresh exactly once', async () => {
    // A second server process on the same database file and issuer: its own store connection and
    // its own in-process single-flight, so only the lease in the database can serialise the refresh.
    const second = await startLatchkeyProcess(vault);
    try {
      const connection = await connected({ delayMs: 300 });
      await expire(connection);
      const call = (url: string) =>
        fetch(`${url}${connection.tokenPath}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/json' },
          body: '{}',
        }).then(async (response) => ({
          status: response.status,
          body: (await response.json()) as { access_token: string },
        }));
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, index) => call(index % 2 ? second.url : vault.url)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
      expect(new Set(answers.map((answer) => answer.body.access_token)).size).toBe(1);
      expect(connection.fake.stats.refreshes).toBe(1);
    } finally {
      await second.stop();
    }
  }, 30000);
});
