// Client grants as an admin and an app see them: the README's commands run word for word against
// a real server, token requests refused outside a grant in every grant type, the consent page
// listing API scopes in words, a refresh that never widens, grants taken away in another process,
// and removal of clients and users taking their tokens with them.
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createResourceProvider } from '@latchkey/resource';
import * as oauth from 'openid-client';
import { DEVICE_CODE_GRANT } from '../src/authorization/client-metadata.js';
import { runCli } from '../src/cli/main.js';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, discover, PASSWORD } from './support/flows.js';
import { startLatchkey, startLatchkeyProcess, type TestServer } from './support/latchkey.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the admin CLI on the server's own database, as `npm run --silent cli -- …` would. */
async function cli(server: TestServer, args: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(args, {
    stdout,
    stderr,
    stdin: Readable.from(['']),
    env: { DATABASE_URL: `sqlite:${server.dir}/latchkey.db`, LOG_LEVEL: 'silent' },
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Splits one shell command line into words: double and single quotes, `$NAME` from `vars`. */
function shellWords(line: string, vars: Record<string, string>): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let current = '';
  let last = 0;
  for (const match of line.matchAll(pattern)) {
    const gap = line.slice(last, match.index);
    if (/\s/.test(gap) && current) {
      words.push(current);
      current = '';
    }
    const expand = (text: string) => text.replace(/\$(\w+)/g, (_, name: string) => vars[name] ?? '');
    current += match[2] !== undefined ? match[2] : expand(match[1] ?? match[3] ?? '');
    last = match.index + match[0].length;
  }
  if (current) words.push(current);
  return words;
}

/** The shell lines of a README block marked `<!-- readme-test: NAME -->`. */
function readmeBlock(name: string): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(`<!-- readme-test: ${name} -->`);
  const end = readme.indexOf('<!-- /readme-test -->', start);
  expect(start).toBeGreaterThan(-1);
  return readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('npm ') || line.startsWith('curl '));
}

/** A `curl -s -u ID:SECRET URL -d k=v ...` line, sent with fetch to the test server. */
async function curl(words: string[], server: TestServer) {
  const form = new URLSearchParams();
  let user = '';
  let url = '';
  for (let index = 1; index < words.length; index++) {
    const word = words[index]!;
    if (word === '-s') continue;
    if (word === '-u') user = words[++index]!;
    else if (word === '-d') {
      const pair = words[++index]!;
      const at = pair.indexOf('=');
      form.append(pair.slice(0, at), pair.slice(at + 1));
    } else url = word.replace('http://localhost:3000', server.url);
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(user).toString('base64')}` },
    body: form,
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function tokenRequest(
  server: TestServer,
  clientId: string,
  secret: string,
  params: Record<string, string>,
) {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const ORDERS = 'https://api.example.com/orders';

describe('client grants, following the README', () => {
  let server: TestServer;
  const vars: Record<string, string> = {};

  beforeAll(async () => {
    server = await startLatchkey();
  });
  afterAll(() => server.close());

  it('registers the API and the client, and the token carries the granted scope only', async () => {
    const lines = readmeBlock('grants');
    expect(lines).toHaveLength(3);
    for (const line of lines.slice(0, 2)) {
      // `npm run --silent cli -- <args>`
      const args = shellWords(line, vars).slice(5);
      const result = await cli(server, args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      if (args.includes('--json')) {
        const client = JSON.parse(result.stdout) as {
          client_id: string;
          client_secret: string;
          grants: unknown;
        };
        vars.ORDERS_APP_ID = client.client_id;
        vars.ORDERS_APP_SECRET = client.client_secret;
        expect(client.grants).toEqual([expect.objectContaining({ api: ORDERS, scope: 'orders:read' })]);
      }
    }
    const granted = await curl(shellWords(lines[2]!, vars), server);
    expect(granted.status).toBe(200);
    expect(granted.body.scope).toBe('orders:read');

    // The API checks it with @latchkey/resource, as its README shows.
    const resource = createResourceProvider({ issuer: server.url, audience: ORDERS });
    const auth = await resource.authenticate({
      headers: { authorization: `Bearer ${granted.body.access_token}` },
    });
    expect(auth).toMatchObject({ valid: true, clientId: vars.ORDERS_APP_ID, scopes: ['orders:read'] });
  });

  it('refuses a scope outside the grant with invalid_scope naming it', async () => {
    const widened = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      resource: ORDERS,
      scope: 'orders:read orders:write',
    });
    expect(widened.status).toBe(400);
    expect(widened.body).toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('orders:write'),
    });
    const unknown = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      resource: ORDERS,
      scope: 'orders:delete',
    });
    expect(unknown.body).toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('orders:delete'),
    });
    const withoutResource = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      scope: 'orders:read',
    });
    expect(withoutResource.body.error).toBe('invalid_scope');
    expect(withoutResource.body.error_description).toContain('resource');
  });

  it('refuses a client without a grant with invalid_target, and gives no vault token without a vault grant', async () => {
    const other = await server.latchkey.services.clients.add({
      name: 'Other app',
      grantTypes: ['client_credentials'],
    });
    const orders = await tokenRequest(server, other.client_id, other.client_secret!, {
      grant_type: 'client_credentials',
      resource: ORDERS,
      scope: 'orders:read',
    });
    expect(orders.status).toBe(400);
    expect(orders.body.error).toBe('invalid_target');
    for (const scope of ['vault:connect', 'vault:admin']) {
      const vault = await tokenRequest(server, other.client_id, other.client_secret!, {
        grant_type: 'client_credentials',
        resource: `${server.url}/vault`,
        scope,
      });
      expect(vault.status).toBe(400);
      expect(vault.body.error).toBe('invalid_target');
    }
    // The orders app holds no vault grant either.
    const vault = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      resource: `${server.url}/vault`,
      scope: 'vault:tokens',
    });
    expect(vault.body.error).toBe('invalid_target');
  });

  it('takes a grant away from the next token request on; tokens issued before keep what they carried', async () => {
    const before = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      resource: ORDERS,
      scope: 'orders:read',
    });
    expect(before.status).toBe(200);
    const ungrant = await cli(server, ['clients', 'ungrant', vars.ORDERS_APP_ID!, '--api', ORDERS]);
    expect(ungrant.code).toBe(0);
    // The CLI wrote to the store; the server's 0.5 s cache must let it through within a second.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const refused = await tokenRequest(server, vars.ORDERS_APP_ID!, vars.ORDERS_APP_SECRET!, {
      grant_type: 'client_credentials',
      resource: ORDERS,
      scope: 'orders:read',
    });
    expect(refused.body.error).toBe('invalid_target');
    // As the README says: a token issued before keeps what it carried until it expires. This API's
    // tokens are JWTs, which the API checks on its own (opaque ones: see the device flow below).
    const resource = createResourceProvider({ issuer: server.url, audience: ORDERS });
    const auth = await resource.authenticate({
      headers: { authorization: `Bearer ${before.body.access_token}` },
    });
    expect(auth).toMatchObject({ valid: true, clientId: vars.ORDERS_APP_ID, scopes: ['orders:read'] });
  });
});

describe('client grants in the authorization code flow', () => {
  let server: TestServer;
  let web: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startLatchkey();
    const { accounts, apis, clients } = server.latchkey.services;
    await accounts.create({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      password: PASSWORD,
      emailVerified: true,
    });
    await apis.add({
      identifier: ORDERS,
      scope: 'orders:read orders:write orders:refund',
      scopeDescriptions: { 'orders:read': 'Read your orders', 'orders:write': 'Place and cancel orders' },
    });
    web = (await clients.add({
      name: 'Shop front',
      redirectUris: [CALLBACK],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'openid email offline_access orders:read orders:write',
    })) as typeof web;
  });
  afterAll(() => server.close());

  async function authorize(scope: string) {
    const config = await discover(server, web.client_id, web.client_secret);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope,
      resource: ORDERS,
      prompt: 'consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { config, verifier, url };
  }

  it('shows each API scope in words on the consent page, and the tokens keep exactly what was consented', async () => {
    const { config, verifier, url } = await authorize('openid offline_access orders:read orders:write');
    const browser = new Browser(server.url);
    let page = await browser.navigate(url.href);
    if (!('html' in page)) throw new Error('expected the login page');
    page = await browser.submit(formAction(page.html, '/login'), {
      email: 'ada@example.com',
      password: PASSWORD,
      _csrf: hiddenInput(page.html, '_csrf'),
    });
    if (!('html' in page)) throw new Error('expected the consent page');
    expect(page.html).toContain('Read your orders');
    expect(page.html).toContain('Place and cancel orders');
    expect(page.html).not.toContain('orders:refund');
    page = await browser.submit(formAction(page.html, '/confirm'), {
      _csrf: hiddenInput(page.html, '_csrf'),
    });
    if (!('redirect' in page)) throw new Error('expected the redirect back');
    const tokens = await oauth.authorizationCodeGrant(
      config,
      new URL(page.redirect),
      { pkceCodeVerifier: verifier, idTokenExpected: true },
      { resource: ORDERS },
    );
    expect(tokens.scope!.split(' ').sort()).toEqual(['orders:read', 'orders:write']);

    // The refresh keeps exactly the consented scopes, and cannot ask for more.
    const refreshed = await oauth.refreshTokenGrant(config, tokens.refresh_token!, { resource: ORDERS });
    expect(refreshed.scope!.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
    await expect(
      oauth.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!, {
        resource: ORDERS,
        scope: 'orders:refund',
      }),
    ).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('orders:refund'),
    });

    // Narrowing the client's grant narrows the next refresh.
    await server.latchkey.services.grants.grant(web.client_id, ORDERS, 'orders:read');
    const narrowed = await oauth.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!, {
      resource: ORDERS,
    });
    expect(narrowed.scope).toBe('orders:read');
  });

  it('clients update sets the consent page’s logo, policy and terms and the client’s token lifetimes, which apply', async () => {
    const updated = await cli(server, [
      'clients',
      'update',
      web.client_id,
      '--logo-uri',
      'https://shop.example/logo.png',
      '--client-uri',
      'https://shop.example/',
      '--policy-uri',
      'https://shop.example/privacy',
      '--tos-uri',
      'https://shop.example/terms',
      '--access-token-ttl',
      '120',
      '--refresh-token-ttl',
      '900',
      '--json',
    ]);
    expect({ code: updated.code, stderr: updated.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(updated.stdout)).toMatchObject({
      logo_uri: 'https://shop.example/logo.png',
      policy_uri: 'https://shop.example/privacy',
      tos_uri: 'https://shop.example/terms',
      access_token_ttl: 120,
      refresh_token_ttl: 900,
    });
    // The CLI wrote to the store; the server's 0.5 s cache lets it through within a second.
    await new Promise((resolve) => setTimeout(resolve, 600));

    const { config, verifier, url } = await authorize('openid offline_access orders:read');
    const browser = new Browser(server.url);
    let page = await browser.navigate(url.href);
    if (!('html' in page)) throw new Error('expected the login page');
    page = await browser.submit(formAction(page.html, '/login'), {
      email: 'ada@example.com',
      password: PASSWORD,
      _csrf: hiddenInput(page.html, '_csrf'),
    });
    if (!('html' in page)) throw new Error('expected the consent page');
    expect(page.html).toContain('src="https://shop.example/logo.png"');
    expect(page.html).toContain('href="https://shop.example/privacy"');
    expect(page.html).toContain('href="https://shop.example/terms"');
    page = await browser.submit(formAction(page.html, '/confirm'), {
      _csrf: hiddenInput(page.html, '_csrf'),
    });
    if (!('redirect' in page)) throw new Error('expected the redirect back');
    const tokens = await oauth.authorizationCodeGrant(
      config,
      new URL(page.redirect),
      { pkceCodeVerifier: verifier, idTokenExpected: true },
      { resource: ORDERS },
    );
    // The API's tokens live 3600 s; this client's are shorter, so its own lifetime applies.
    expect(tokens.expires_in).toBe(120);
    const refresh = (await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: tokens.refresh_token! }),
    }).then((response) => response.json())) as { active: boolean; exp: number; iat: number };
    expect(refresh.active).toBe(true);
    expect(refresh.exp - refresh.iat).toBe(900);
  });

  it('refuses at the authorization endpoint a scope the client holds no grant for', async () => {
    const { url } = await authorize('openid orders:refund');
    const browser = new Browser(server.url);
    const page = await browser.navigate(url.href);
    if (!('redirect' in page)) throw new Error('expected an error redirect to the client');
    const callback = new URL(page.redirect);
    expect(callback.searchParams.get('error')).toBe('invalid_scope');
    expect(callback.searchParams.get('error_description')).toContain('orders:refund');
  });
});

describe('client grants in the device flow (RFC 8628)', () => {
  let server: TestServer;
  let tv: { client_id: string };
  let ungranted: { client_id: string };

  beforeAll(async () => {
    server = await startLatchkey();
    const { accounts, apis, clients } = server.latchkey.services;
    await accounts.create({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      password: PASSWORD,
      emailVerified: true,
    });
    await apis.add({
      identifier: ORDERS,
      scope: 'orders:read orders:write',
      format: 'opaque',
      scopeDescriptions: { 'orders:read': 'Read your orders' },
    });
    const device = { public: true, grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'] };
    tv = await clients.add({ ...device, name: 'Orders TV', scope: 'openid offline_access orders:read' });
    ungranted = await clients.add({ ...device, name: 'Other TV', scope: 'openid offline_access' });
  });
  afterAll(() => server.close());

  /** RFC 8628 §3.1, as a device sends it (a public client: its id in the body). */
  async function deviceAuthorization(clientId: string, scope: string) {
    const response = await fetch(`${server.url}/device/auth`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: clientId, scope, resource: ORDERS }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  /** RFC 7662, as the orders API asks: a client registered as the API's resource server. */
  async function introspectAsApi(token: string) {
    const api = await server.latchkey.services.clients.add({
      name: 'Orders API',
      grantTypes: ['client_credentials'],
      resourceServers: [ORDERS],
    });
    const response = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${api.client_id}:${api.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }),
    });
    return (await response.json()) as Record<string, unknown>;
  }

  /** RFC 8628 §3.4: one poll of the token endpoint. */
  async function poll(clientId: string, deviceCode: string) {
    const response = await fetch(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: clientId,
        grant_type: DEVICE_CODE_GRANT,
        device_code: deviceCode,
        resource: ORDERS,
      }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  /** The user types the code on the device page, signs in and allows; returns the consent page's HTML. */
  async function approve(userCode: string): Promise<string> {
    const browser = new Browser(server.url);
    const input = await browser.page(`${server.url}/device`);
    let next = await browser.submit(formAction(input.html, '/device'), {
      xsrf: hiddenInput(input.html, 'xsrf'),
      user_code: userCode,
    });
    if ('redirect' in next) throw new Error('expected the confirmation page');
    next = await browser.submit(formAction(next.html, '/device'), {
      xsrf: hiddenInput(next.html, 'xsrf'),
      user_code: hiddenInput(next.html, 'user_code'),
      confirm: 'yes',
    });
    let consent = '';
    for (let step = 0; step < 4 && 'html' in next && !next.html.includes('Device connected'); step++) {
      if (next.html.includes('/login"')) {
        next = await browser.submit(formAction(next.html, '/login'), {
          email: 'ada@example.com',
          password: PASSWORD,
          _csrf: hiddenInput(next.html, '_csrf'),
        });
      } else if (next.html.includes('/confirm"')) {
        consent = next.html;
        next = await browser.submit(formAction(next.html, '/confirm'), {
          _csrf: hiddenInput(next.html, '_csrf'),
        });
      } else break;
    }
    if (!('html' in next) || !next.html.includes('Device connected'))
      throw new Error('expected the device to be connected');
    return consent;
  }

  it('refuses at the device authorization endpoint a scope outside the grant and a resource without one', async () => {
    const widened = await deviceAuthorization(tv.client_id, 'openid orders:read orders:write');
    expect(widened.status).toBe(400);
    expect(widened.body).toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('orders:write'),
    });
    const other = await deviceAuthorization(ungranted.client_id, 'openid orders:read');
    expect(other.status).toBe(400);
    expect(other.body.error).toBe('invalid_target');
  });

  it('issues the granted scope only, never widens it on refresh, and refuses at the token endpoint once the grant is gone', async () => {
    const started = await deviceAuthorization(tv.client_id, 'openid offline_access orders:read');
    expect(started.status).toBe(200);
    expect(await approve(started.body.user_code)).toContain('Read your orders');
    const tokens = await poll(tv.client_id, started.body.device_code);
    expect(tokens.status).toBe(200);
    expect(tokens.body.scope).toBe('orders:read');
    expect(tokens.body.refresh_token).toEqual(expect.any(String));

    const refresh = (params: Record<string, string>) =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: tv.client_id, grant_type: 'refresh_token', ...params }),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as any }));
    const widened = await refresh({
      refresh_token: tokens.body.refresh_token,
      resource: ORDERS,
      scope: 'orders:read orders:write',
    });
    expect(widened.status).toBe(400);
    expect(widened.body).toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('orders:write'),
    });

    // A second device approved before the grant is taken away polls after it: invalid_target.
    const second = await deviceAuthorization(tv.client_id, 'openid orders:read');
    expect(second.status).toBe(200);
    await approve(second.body.user_code);
    await server.latchkey.services.grants.ungrant(tv.client_id, ORDERS);
    // The access token issued before keeps what it carried until it expires: introspection by
    // the API (its registered resource server) still says so (README, "APIs, client grants ...").
    expect(await introspectAsApi(tokens.body.access_token)).toMatchObject({
      active: true,
      client_id: tv.client_id,
      scope: 'orders:read',
      aud: ORDERS,
    });
    const refused = await poll(tv.client_id, second.body.device_code);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_target');
    const refreshRefused = await refresh({ refresh_token: tokens.body.refresh_token, resource: ORDERS });
    expect(refreshRefused.body.error).toBe('invalid_target');
  }, 30_000);
});

describe('client grants across processes', () => {
  it('a grant removed through one process is refused by the other within one second', async () => {
    const first = await startLatchkey();
    const second = await startLatchkeyProcess(first);
    try {
      const { apis, clients, grants } = first.latchkey.services;
      await apis.add({ identifier: ORDERS, scope: 'orders:read' });
      const client = await clients.add({
        name: 'Worker',
        grantTypes: ['client_credentials'],
        scope: 'orders:read',
      });
      const ask = (server: { url: string }) =>
        tokenRequest(server as TestServer, client.client_id, client.client_secret!, {
          grant_type: 'client_credentials',
          resource: ORDERS,
          scope: 'orders:read',
        });
      expect((await ask(second)).status).toBe(200);
      await grants.ungrant(client.client_id, ORDERS);
      const removedAt = Date.now();
      let refusedAfter: number | undefined;
      while (Date.now() - removedAt < 3000) {
        const answer = await ask(second);
        if (answer.body.error === 'invalid_target') {
          refusedAfter = Date.now() - removedAt;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(refusedAfter).toBeDefined();
      expect(refusedAfter!).toBeLessThan(1000);
    } finally {
      await second.stop();
      await first.close();
    }
  });
});

describe('removing clients and users', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startLatchkey();
    await server.latchkey.services.accounts.create({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      password: PASSWORD,
      emailVerified: true,
    });
  });
  afterAll(() => server.close());

  async function signedInTokens() {
    const { clients } = server.latchkey.services;
    const web = await clients.add({
      name: 'Removable',
      redirectUris: [CALLBACK],
      grantTypes: ['authorization_code', 'refresh_token'],
      firstParty: true,
    });
    const config = await discover(server, web.client_id, web.client_secret);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const browser = new Browser(server.url);
    let page = await browser.navigate(url.href);
    if ('html' in page)
      page = await browser.submit(formAction(page.html, '/login'), {
        email: 'ada@example.com',
        password: PASSWORD,
        _csrf: hiddenInput(page.html, '_csrf'),
      });
    if (!('redirect' in page)) throw new Error('expected the redirect back');
    const tokens = await oauth.authorizationCodeGrant(config, new URL(page.redirect), {
      pkceCodeVerifier: verifier,
      idTokenExpected: true,
    });
    return { web, config, tokens, browser };
  }

  async function introspect(clientId: string, secret: string, token: string) {
    return (await tokenEndpointPost(`${server.url}/token/introspection`, clientId, secret, { token })).body;
  }

  async function tokenEndpointPost(
    url: string,
    clientId: string,
    secret: string,
    params: Record<string, string>,
  ) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
      body: new URLSearchParams(params),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  it('clients remove revokes its refresh and access tokens and removes its vault integrations', async () => {
    const { web, config, tokens } = await signedInTokens();
    const { store, services } = server.latchkey;
    await store.vaultIntegrations.create({
      appId: web.client_id,
      key: 'github',
      provider: 'github',
      clientId: 'upstream-id',
      scopes: [],
      createdAt: Date.now(),
      updatedAt: Date.now(),
    });
    await store.vaultConnections.put({
      appId: web.client_id,
      integrationKey: 'github',
      endUserId: 'u-1',
      status: 'active',
      tokensSealed: 'sealed',
      scopes: [],
      refreshFailures: 0,
      version: 1,
      createdAt: Date.now(),
      updatedAt: Date.now(),
    });
    // A client_credentials token of the same client for an opaque API, and that API's own client
    // (its registered resource server), which may introspect it before and after the removal.
    const ledger = 'https://api.example.com/ledger';
    await services.apis.add({ identifier: ledger, scope: 'ledger:read', format: 'opaque' });
    await services.clients.update(web.client_id, {
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    });
    await services.grants.grant(web.client_id, ledger, 'ledger:read');
    const machine = await tokenEndpointPost(`${server.url}/token`, web.client_id, web.client_secret!, {
      grant_type: 'client_credentials',
      resource: ledger,
      scope: 'ledger:read',
    });
    expect(machine.status).toBe(200);
    // And a vault token (a JWT, which the vault checks on its own).
    await services.grants.grant(web.client_id, `${server.url}/vault`, 'vault:connect');
    const vaultToken = await tokenEndpointPost(`${server.url}/token`, web.client_id, web.client_secret!, {
      grant_type: 'client_credentials',
      resource: `${server.url}/vault`,
      scope: 'vault:connect',
    });
    const vaultProviders = () =>
      fetch(`${server.url}/vault/providers`, {
        headers: { authorization: `Bearer ${vaultToken.body.access_token}` },
      });
    expect((await vaultProviders()).status).toBe(200);
    const ledgerApi = await services.clients.add({
      name: 'Ledger API',
      grantTypes: ['client_credentials'],
      resourceServers: [ledger],
    });
    const introspectAsLedger = async () =>
      introspect(ledgerApi.client_id, ledgerApi.client_secret!, machine.body.access_token as string);
    expect(await introspectAsLedger()).toMatchObject({ active: true, client_id: web.client_id });
    expect((await introspect(web.client_id, web.client_secret!, tokens.access_token)).active).toBe(true);

    const removed = await cli(server, ['clients', 'remove', web.client_id, '--json']);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: true, vault_integrations: 1 });
    expect(await store.vaultConnections.list(web.client_id)).toEqual([]);
    expect(await store.vaultIntegrations.list(web.client_id)).toEqual([]);
    expect(await store.clientGrants.listByClient(web.client_id)).toEqual([]);
    // The stored token records are gone: no process can accept them again.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await introspectAsLedger()).toEqual({ active: false });
    expect((await vaultProviders()).status).toBe(401);
    await expect(oauth.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toBeDefined();
    const me = await fetch(`${server.url}/v1/users/me`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(me.status).toBe(401);
  });

  it('users remove ends their sessions and revokes their refresh tokens', async () => {
    const { web, config, tokens, browser } = await signedInTokens();
    const { store, services } = server.latchkey;
    const account = (await services.accounts.list()).find((entry) => entry.email === 'ada@example.com')!;
    expect((await store.oidc.findByAccountId('Session', account.id)).length).toBeGreaterThan(0);
    const removed = await cli(server, ['users', 'remove', account.id]);
    expect(removed.code).toBe(0);
    expect(await store.oidc.findByAccountId('Session', account.id)).toEqual([]);
    expect(await store.oidc.findByAccountId('RefreshToken', account.id)).toEqual([]);
    expect(await store.oidc.findByAccountId('Grant', account.id)).toEqual([]);
    await expect(oauth.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toBeDefined();
    expect((await introspect(web.client_id, web.client_secret!, tokens.access_token)).active).toBe(false);
    // The browser's session cookie no longer signs anyone in: the next authorization asks to log in.
    const again = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const page = await browser.navigate(again.href);
    expect('html' in page && page.html.includes('/login"')).toBe(true);
  });
});

describe('bad input to the new client, API and user commands', () => {
  let server: TestServer;
  let clientId: string;
  let userId: string;

  beforeAll(async () => {
    server = await startLatchkey();
    await server.latchkey.services.apis.add({ identifier: ORDERS, scope: 'orders:read orders:write' });
    await server.latchkey.services.apis.add({
      identifier: 'https://api.example.com/billing',
      scope: 'orders:read',
    });
    clientId = (
      await server.latchkey.services.clients.add({ name: 'App', grantTypes: ['client_credentials'] })
    ).client_id;
    const { accounts } = server.latchkey.services;
    userId = (await accounts.create({ email: 'ada@example.com', name: 'Ada', password: PASSWORD })).id;
    await accounts.create({ email: 'taken@example.com', name: 'Taken', password: PASSWORD });
  });
  afterAll(() => server.close());

  const cases: [string, string[], RegExp][] = [
    [
      'an unknown client',
      ['clients', 'grant', 'nope', '--api', ORDERS, '--scope', 'orders:read'],
      /no client nope/,
    ],
    [
      'an unknown API',
      ['clients', 'grant', '$ID', '--api', 'https://nope.example', '--scope', 'x'],
      /no API/,
    ],
    [
      'a scope the API lacks',
      ['clients', 'grant', '$ID', '--api', ORDERS, '--scope', 'orders:nuke'],
      /orders:nuke/,
    ],
    [
      'a scope with a quote',
      ['clients', 'grant', '$ID', '--api', ORDERS, '--scope', 'orders"read'],
      /invalid scope/,
    ],
    [
      'an ungrant of nothing',
      ['clients', 'ungrant', '$ID', '--api', 'https://api.example.com/billing'],
      /no grant/,
    ],
    [
      'an unknown scope at add',
      ['clients', 'add', '--name', 'X', '--grant-types', 'client_credentials', '--scope', 'nope:read'],
      /unknown scope nope:read/,
    ],
    [
      'a scope two APIs share',
      ['clients', 'add', '--name', 'X', '--grant-types', 'client_credentials', '--scope', 'orders:read'],
      /several APIs.*--api/,
    ],
    ['an invalid redirect URI', ['clients', 'update', '$ID', '--redirect-uri', 'not a uri'], /redirect URI/],
    ['an update of an unknown client', ['clients', 'update', 'nope', '--name', 'Y'], /no client nope/],
    ['an update without changes', ['clients', 'update', '$ID'], /nothing to change/],
    [
      'an API with a bad identifier',
      ['apis', 'add', '--identifier', 'orders', '--scope', 'a'],
      /absolute URI/,
    ],
    [
      'an API scope with a backslash',
      ['apis', 'add', '--identifier', 'https://x.example', '--scope', 'a\\b'],
      /invalid scope/,
    ],
    ['a duplicate API', ['apis', 'add', '--identifier', ORDERS, '--scope', 'a'], /./],
    ['removing a granted API', ['apis', 'remove', ORDERS], /granted to 1 client/],
    ['an unknown user', ['users', 'disable', 'nope'], /no user nope/],
    ['showing an unknown client', ['clients', 'show', 'nope'], /no client nope/],
    ['removing an unknown client', ['clients', 'remove', 'nope'], /no client nope/],
    ['rotating an unknown client’s secret', ['clients', 'rotate-secret', 'nope'], /no client nope/],
    [
      'a scope with a backslash at update',
      ['clients', 'update', '$ID', '--scope', 'orders\\read'],
      /invalid scope/,
    ],
    [
      'an unknown scope at update',
      ['clients', 'update', '$ID', '--scope', 'orders:nuke'],
      /unknown scope orders:nuke/,
    ],
    [
      'a logo URI that is not a web page',
      ['clients', 'update', '$ID', '--logo-uri', 'javascript:alert(1)'],
      /logo_uri/,
    ],
    ['a policy URI that is no URI', ['clients', 'update', '$ID', '--policy-uri', 'privacy'], /policy_uri/],
    ['a token lifetime out of range', ['clients', 'update', '$ID', '--access-token-ttl', '5'], /10 to 86400/],
    [
      'an unknown grant type at update',
      ['clients', 'update', '$ID', '--grant-types', 'password'],
      /unknown grant type/,
    ],
    ['showing an unknown API', ['apis', 'show', 'https://nope.example'], /no API/],
    ['an update of an unknown API', ['apis', 'update', 'https://nope.example', '--ttl', '60'], /no API/],
    ['an API lifetime out of range', ['apis', 'update', ORDERS, '--ttl', '5'], /ttl/],
    [
      'a description of a scope the API lacks',
      ['apis', 'update', ORDERS, '--scope-description', 'orders:nuke=Nuke'],
      /orders:nuke/,
    ],
    [
      'an API scope with a quote at update',
      ['apis', 'update', ORDERS, '--scope', 'orders"read'],
      /invalid scope/,
    ],
    ['removing an unknown API', ['apis', 'remove', 'https://nope.example', '--force'], /no API/],
    ['showing an unknown user', ['users', 'show', 'nope'], /no user nope/],
    ['an update of an unknown user', ['users', 'update', 'nope', '--name', 'X'], /no user nope/],
    ['enabling an unknown user', ['users', 'enable', 'nope'], /no user nope/],
    ['removing an unknown user', ['users', 'remove', 'nope'], /no user nope/],
    [
      'a password for an unknown user',
      ['users', 'set-password', 'nope', '--password', 'long enough password'],
      /no user nope/,
    ],
    ['a short password', ['users', 'set-password', '$USER', '--password', 'short'], /at least 8/],
    ['an invalid email at update', ['users', 'update', '$USER', '--email', 'not an email'], /invalid email/],
    [
      'a duplicate email at update',
      ['users', 'update', '$USER', '--email', 'Taken@example.com'],
      /already exists/,
    ],
    ['an update of a user without changes', ['users', 'update', '$USER'], /nothing to change/],
  ];

  it.each(cases)('%s: one line on stderr, non-zero exit, nothing changed', async (_name, args, message) => {
    await server.latchkey.services.grants.grant(clientId, ORDERS, 'orders:read');
    const snapshot = async () => ({
      clients: await server.latchkey.store.clients.list(),
      apis: await server.latchkey.store.apis.list(),
      grants: await server.latchkey.store.clientGrants.listByClient(clientId),
      users: await server.latchkey.store.accounts.list(),
    });
    const before = await snapshot();
    const result = await cli(
      server,
      args.map((arg) => arg.replace('$ID', clientId).replace('$USER', userId)),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^latchkey: [^\n]+\n$/);
    expect(result.stderr).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });
});
