// The outbound guard: which addresses Latchkey's own requests may reach, the outbound client that
// enforces it on every connection (resolved names, redirects, the proxy's dispatcher, limits), and
// the vault API refusing such issuers at registration, or at call time, while a listener on
// loopback sees no connection at all; oidc-provider's back-channel logout goes through the same
// client. With OUTBOUND_ALLOW_PRIVATE the loopback upstreams still work.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configWarnings, loadConfig } from '../src/config/index.js';
import { IntegrationService } from '../src/vault/integrations.js';
import { classifyAddress, describeAddress, ipLiteral } from '../src/web/outbound-addresses.js';
import {
  createOutboundClient,
  OutboundRefusedError,
  outboundRefusalOf,
  type OutboundClient,
  type OutboundRefusal,
} from '../src/web/outbound.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, discover, PASSWORD, signInAndAllow } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { capturingLogger } from './support/logs.js';
import { vaultApp, type VaultApp } from './support/vault.js';

/** A server on loopback that counts every connection and request made to it. */
interface Listener {
  port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

async function listen(answer?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listener> {
  const server: Server = createServer((req, res) => {
    listener.requests.push(req.url ?? '');
    if (answer) answer(req, res);
    else res.end('{}');
  });
  const listener: Listener = {
    port: 0,
    connections: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => (listener.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  listener.port = (server.address() as AddressInfo).port;
  return listener;
}

/** A resolver that answers from a table (and fails like DNS for any other name). */
function resolver(table: Record<string, string[]>) {
  return async (hostname: string): Promise<LookupAddress[]> => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

async function refusalOf(promise: Promise<unknown>): Promise<OutboundRefusal> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  const refusal = outboundRefusalOf(error);
  expect(refusal).toBeDefined();
  return refusal!;
}

describe('address classification', () => {
  test.each([
    ['8.8.8.8', 'unicast'],
    ['1.1.1.1', 'unicast'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['10.0.0.1', 'private'],
    ['9.255.255.255', 'unicast'],
    ['11.0.0.0', 'unicast'],
    ['172.15.255.255', 'unicast'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'unicast'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.0', 'linkLocal'],
    ['169.255.0.0', 'unicast'],
    ['100.63.255.255', 'unicast'],
    ['100.64.0.0', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['100.128.0.0', 'unicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.255.255.255', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['223.255.255.255', 'unicast'],
  ])('IPv4 %s is %s', (address, range) => {
    expect(classifyAddress(address)).toEqual({ address, range, allowed: range === 'unicast' });
  });

  test.each([
    ['2606:4700:4700::1111', 'unicast'],
    ['2a00:1450:4001:80b::200e', 'unicast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['febf:ffff::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2002:a00:1::1', '6to4'],
    ['::7f00:1', 'ipv4Compatible'],
  ])('IPv6 %s is %s', (address, range) => {
    expect(classifyAddress(address)).toEqual({ address, range, allowed: range === 'unicast' });
  });

  test.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::ffff:a9fe:a9fe', 'linkLocal'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:8.8.8.8', 'unicast'],
    // NAT64 (RFC 6052): judged by the IPv4 address it stands for.
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['64:ff9b::808:808', 'unicast'],
  ])('IPv4 inside IPv6: %s is %s', (address, range) => {
    expect(classifyAddress(address)).toEqual({ address, range, allowed: range === 'unicast' });
  });

  test('anything that is not an address is refused; refusals read as words', () => {
    expect(classifyAddress('not-an-ip')).toMatchObject({ allowed: false, range: 'invalid' });
    expect(classifyAddress('')).toMatchObject({ allowed: false });
    expect(describeAddress(classifyAddress('10.0.0.1'))).toBe('a private address (10.0.0.1)');
    expect(describeAddress(classifyAddress('169.254.169.254'))).toBe(
      'a link-local address (169.254.169.254)',
    );
    expect(describeAddress(classifyAddress('2002::1'))).toBe('a special-use (6to4) address (2002::1)');
  });

  test('IP literals are told from names as net.connect tells them', () => {
    expect(ipLiteral('127.0.0.1')).toBe('127.0.0.1');
    expect(ipLiteral('[::1]')).toBe('::1');
    expect(ipLiteral('localhost')).toBeUndefined();
    expect(ipLiteral('0x7f.1')).toBeUndefined();
  });
});

describe('the outbound client', () => {
  let target: Listener;
  const refusals: OutboundRefusal[] = [];
  let strict: OutboundClient;

  beforeAll(async () => {
    target = await listen();
    strict = createOutboundClient({
      resolve: resolver({
        'internal.example': ['127.0.0.1'],
        'metadata.example': ['169.254.169.254'],
        'mixed.example': ['93.184.215.14', '10.0.0.7'],
      }),
      onRefused: (refusal) => refusals.push(refusal),
    });
  });
  afterAll(async () => {
    await strict.close();
    await target.close();
  });
  afterEach(() => {
    // Whatever a test tried, nothing reached the loopback listener.
    expect(target.connections).toBe(0);
    expect(target.requests).toEqual([]);
  });

  test('refuses loopback, private, link-local and mapped literals before connecting', async () => {
    const cases: [string, string][] = [
      [`http://127.0.0.1:${target.port}/`, 'is a loopback address (127.0.0.1)'],
      [`https://127.0.0.1:${target.port}/`, 'is a loopback address (127.0.0.1)'],
      [`http://[::ffff:127.0.0.1]:${target.port}/`, 'is a loopback address (::ffff:7f00:1)'],
      [`http://[::1]:${target.port}/`, 'is a loopback address (::1)'],
      ['http://169.254.169.254/latest/meta-data/', 'is a link-local address (169.254.169.254)'],
      ['https://10.0.0.1/', 'is a private address (10.0.0.1)'],
      ['http://100.100.100.200/', 'is a shared (carrier-grade NAT) address (100.100.100.200)'],
      ['http://0.0.0.0/', 'is an unspecified address (0.0.0.0)'],
      // WHATWG URL parsing turns other spellings of an address into the dotted one first.
      [`http://2130706433:${target.port}/`, 'is a loopback address (127.0.0.1)'],
    ];
    for (const [url, reason] of cases) {
      const started = Date.now();
      const refusal = await refusalOf(strict.fetch(url));
      expect({ url, reason: refusal.reason }).toEqual({ url, reason });
      expect(refusal.rule).toBe('address');
      // Refused at once: not a connect timeout towards an unroutable address.
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  test('checks the resolved addresses of a name, every one of them', async () => {
    expect(await refusalOf(strict.fetch(`http://internal.example:${target.port}/`))).toMatchObject({
      host: 'internal.example',
      address: '127.0.0.1',
      range: 'loopback',
      reason: 'resolves to a loopback address',
    });
    expect(await refusalOf(strict.fetch('http://metadata.example/latest/'))).toMatchObject({
      reason: 'resolves to a link-local address',
    });
    // One private address among public ones is enough: that is what DNS rebinding looks like.
    expect(await refusalOf(strict.fetch('http://mixed.example/'))).toMatchObject({
      reason: 'resolves to a private address',
    });
  });

  test('localhost, through the system resolver, is refused', async () => {
    const system = createOutboundClient();
    try {
      const refusal = await refusalOf(system.fetch(`http://localhost:${target.port}/`));
      expect(refusal.reason).toMatch(/^resolves to a loopback address$/);
    } finally {
      await system.close();
    }
  });

  test('the streaming dispatcher (the vault proxy) is guarded the same way', async () => {
    const error = await strict.dispatcher
      .request({ origin: `http://internal.example:${target.port}`, path: '/', method: 'GET' })
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(error).toBeInstanceOf(OutboundRefusedError);
    expect((error as OutboundRefusedError).message).toBe('internal.example resolves to a loopback address');
  });

  test('a public-looking issuer that redirects to a private address: the redirect is refused', async () => {
    // issuer.example stands for a public host: its listener on loopback is let through by port.
    const issuer = await listen((_req, res) => {
      res.writeHead(302, {
        location: `http://internal.example:${target.port}/.well-known/openid-configuration`,
      });
      res.end();
    });
    const metadata = await listen((_req, res) => {
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam/' });
      res.end();
    });
    const seen: OutboundRefusal[] = [];
    const client = createOutboundClient({
      resolve: resolver({ 'issuer.example': ['127.0.0.1'], 'internal.example': ['127.0.0.1'] }),
      allowAddress: (_address, port) => port === issuer.port || port === metadata.port,
      onRefused: (refusal) => seen.push(refusal),
    });
    try {
      const url = `http://issuer.example:${issuer.port}/.well-known/openid-configuration`;
      expect(await refusalOf(client.fetch(url))).toMatchObject({
        host: 'internal.example',
        reason: 'resolves to a loopback address',
      });
      expect(await refusalOf(client.fetch(`http://127.0.0.1:${metadata.port}/`))).toMatchObject({
        host: '169.254.169.254',
        reason: 'is a link-local address (169.254.169.254)',
      });
      expect(issuer.requests).toEqual(['/.well-known/openid-configuration']);
      expect(metadata.requests).toEqual(['/']);
      expect(seen.map((refusal) => refusal.host)).toEqual(['internal.example', '169.254.169.254']);
    } finally {
      await client.close();
      await issuer.close();
      await metadata.close();
    }
  });

  test('check() judges a URL before it is stored: literal, https rule, resolved name', async () => {
    expect(await refusalOf(strict.check(`http://127.0.0.1:${target.port}`))).toMatchObject({
      rule: 'address',
      reason: 'is a loopback address (127.0.0.1)',
    });
    expect(await refusalOf(strict.check('http://93.184.215.14/'))).toMatchObject({ rule: 'https' });
    expect(await refusalOf(strict.check('https://internal.example/'))).toMatchObject({
      reason: 'resolves to a loopback address',
    });
    await expect(strict.check('https://93.184.215.14/')).resolves.toBeUndefined();
    await expect(strict.check('https://nowhere.example/')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) expect(JSON.stringify(refusal)).not.toMatch(/meta-data|well-known/);
  });
});

describe('the outbound client with OUTBOUND_ALLOW_PRIVATE, and its limits', () => {
  test('reaches loopback; refuses an answer over the size limit and a call over the time limit', async () => {
    const upstream = await listen((req, res) => {
      if (req.url === '/big') res.end('x'.repeat(64 * 1024));
      else if (req.url === '/hang') res.write('{');
      else res.end('{"ok":true}');
    });
    const open = createOutboundClient({ allowPrivate: true, maxFetchBytes: 16 * 1024, fetchTimeoutMs: 300 });
    try {
      const answer = await open.fetch(`http://127.0.0.1:${upstream.port}/hello`);
      expect(await answer.json()).toEqual({ ok: true });
      await expect(open.check(`http://127.0.0.1:${upstream.port}`)).resolves.toBeUndefined();

      const big = await open
        .fetch(`http://localhost:${upstream.port}/big`)
        .then((response) => response.text())
        .catch((error: unknown) => error);
      expect((big as Error).cause).toMatchObject({ code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' });

      const started = Date.now();
      const hang = await open
        .fetch(`http://127.0.0.1:${upstream.port}/hang`)
        .then((response) => response.text())
        .catch((error: unknown) => error);
      expect(hang).toMatchObject({ name: 'TimeoutError' });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(upstream.requests).toEqual(['/hello', '/big', '/hang']);
    } finally {
      await open.close();
      await upstream.close();
    }
  });

  test('start-up warns when it is on in production', () => {
    const config = loadConfig({ OUTBOUND_ALLOW_PRIVATE: 'true', LATCHKEY_MASTER_KEY: 'a'.repeat(43) + '=' });
    expect(configWarnings(config, { NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^OUTBOUND_ALLOW_PRIVATE is on in production/),
    ]);
    expect(configWarnings(config, { NODE_ENV: 'development' })).toEqual([]);
    expect(configWarnings(loadConfig({}), { NODE_ENV: 'production' })).not.toContainEqual(
      expect.stringMatching(/OUTBOUND_ALLOW_PRIVATE/),
    );
  });
});

describe('the vault API, outbound rules on (OUTBOUND_ALLOW_PRIVATE=false)', () => {
  let server: TestServer;
  let app: VaultApp;
  let target: Listener;
  const { logger, lines } = capturingLogger('warn');

  beforeAll(async () => {
    target = await listen();
    server = await startLatchkey({ env: { OUTBOUND_ALLOW_PRIVATE: 'false' }, options: { logger } });
    app = await vaultApp(server);
  });
  afterAll(async () => {
    await server.close();
    await target.close();
  });

  const register = (key: string, issuer: string) =>
    app.call('POST', '/vault/integrations', {
      key,
      provider: 'oidc',
      issuer,
      client_id: 'vault-client',
      client_secret: 'vault-client-secret',
    });

  test('refuses issuers on loopback, link-local, private and plain-http addresses with a 400 naming why', async () => {
    const cases: [string, string | RegExp][] = [
      [`http://127.0.0.1:${target.port}`, 'issuer is a loopback address (127.0.0.1)'],
      [`https://127.0.0.1:${target.port}`, 'issuer is a loopback address (127.0.0.1)'],
      ['http://169.254.169.254/', 'issuer is a link-local address (169.254.169.254)'],
      ['https://10.0.0.1/', 'issuer is a private address (10.0.0.1)'],
      ['https://[fd00:ec2::254]/', 'issuer is a private (unique local) address (fd00:ec2::254)'],
      [`https://localhost:${target.port}/`, /^issuer resolves to a loopback address$/],
      ['http://idp.example/', 'the issuer must be an https URL'],
    ];
    for (const [index, [issuer, description]] of cases.entries()) {
      const answer = await register(`refused-${index}`, issuer);
      expect({ issuer, status: answer.status, error: answer.body.error }).toEqual({
        issuer,
        status: 400,
        error: 'invalid_request',
      });
      expect(answer.body.error_description).toEqual(
        typeof description === 'string' ? description : expect.stringMatching(description),
      );
    }
    // Nothing was stored, and nothing reached the listener.
    expect((await app.call('GET', '/vault/integrations')).body).toEqual({ integrations: [] });
    expect(target.connections).toBe(0);
  });

  test('an issuer stored before (DNS changed, or the rules were off): refused at call time, logged, never a 500', async () => {
    // Registered while OUTBOUND_ALLOW_PRIVATE was on.
    const lenient = new IntegrationService(
      server.latchkey.store,
      server.latchkey.keyring,
      createOutboundClient({ allowPrivate: true }),
    );
    await lenient.create(app.clientId, {
      key: 'stale',
      provider: 'oidc',
      issuer: `https://127.0.0.1:${target.port}`,
      clientId: 'vault-client',
      clientSecret: 'vault-client-secret',
    });
    const session = await app.call('POST', '/vault/connect-sessions', {
      integration: 'stale',
      end_user_id: 'alice',
      return_url: 'http://127.0.0.1:9/back',
    });
    expect(session.status).toBe(201);
    const page = await fetch(session.body.url, { redirect: 'manual' });
    expect(page.status).toBe(502);
    expect(await page.text()).toContain(
      "the provider's address is refused: 127.0.0.1 is a loopback address (127.0.0.1)",
    );
    // Changing the issuer goes through the same check as creating it.
    const patched = await app.call('PATCH', '/vault/integrations/stale', {
      issuer: 'http://169.254.169.254/',
    });
    expect(patched).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(target.connections).toBe(0);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        event: 'outbound.refused',
        host: '127.0.0.1',
        address: '127.0.0.1',
        range: 'loopback',
        msg: 'outbound request refused',
      }),
    );
    expect(lines.join('\n')).not.toContain('vault-client-secret');
  });
});

describe('back-channel logout, outbound rules on (OUTBOUND_ALLOW_PRIVATE=false)', () => {
  let server: TestServer;
  let target: Listener;
  const { logger, lines } = capturingLogger('warn');

  beforeAll(async () => {
    target = await listen();
    server = await startLatchkey({ env: { OUTBOUND_ALLOW_PRIVATE: 'false' }, options: { logger } });
  });
  afterAll(async () => {
    await server.close();
    await target.close();
  });

  test('oidc-provider’s logout token to a loopback endpoint goes through the outbound client: refused, logged, nothing sent', async () => {
    const { accounts, clients } = server.latchkey.services;
    await accounts.create({ email: 'ada@example.com', name: 'Ada', password: PASSWORD, emailVerified: true });
    const client = await clients.add({
      name: 'Back-channel App',
      redirectUris: [CALLBACK],
      firstParty: true,
      backchannelLogoutUri: `http://127.0.0.1:${target.port}/backchannel`,
    });
    const config = await discover(server, client.client_id, client.client_secret);
    const browser = new Browser(server.url);
    const verifier = oauth.randomPKCECodeVerifier();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await signInAndAllow(server, url, browser);
    const tokens = await oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });

    const page = await browser.page(
      oauth.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).href,
    );
    await browser.submit(formAction(page.html, '/session/end/confirm'), {
      xsrf: hiddenInput(page.html, 'xsrf'),
      logout: 'yes',
    });
    const refused = () =>
      lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.event === 'outbound.refused' && entry.host === '127.0.0.1');
    for (let wait = 0; wait < 50 && !refused(); wait++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(refused()).toMatchObject({ range: 'loopback', msg: 'outbound request refused' });
    expect(target.connections).toBe(0);
    expect(target.requests).toEqual([]);
  });
});

describe('the vault API with OUTBOUND_ALLOW_PRIVATE=true (development and tests)', () => {
  let server: TestServer;
  let fake: FakeProvider;

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startLatchkey({ env: { OUTBOUND_ALLOW_PRIVATE: 'true' } });
  });
  afterAll(async () => {
    await server.close();
    await fake.close();
  });

  test('a loopback upstream is registered and discovered', async () => {
    const app = await vaultApp(server);
    const created = await app.call('POST', '/vault/integrations', {
      key: 'files',
      provider: 'oidc',
      issuer: fake.url,
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
    });
    expect(created.status).toBe(201);
    const session = await app.call('POST', '/vault/connect-sessions', {
      integration: 'files',
      end_user_id: 'alice',
      return_url: 'http://127.0.0.1:9/back',
    });
    const page = await fetch(session.body.url, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')!.startsWith(`${fake.url}/authorize?`)).toBe(true);
  });
});
