// Master key rotation (issue 16, "Master key rotation"): a Latchkey that stored clients, users,
// vault connections and tokens under key A is switched to key B with A as a previous key,
// `latchkey keys rewrap` re-encrypts every stored value, and the same data then works under B
// alone. Then the rewrap racing a running server: driven step by step (its read, the server's
// change, its swap), and as a whole run while the server keeps refreshing tokens.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import * as oauth from 'openid-client';
import { runCli } from '../src/cli/main.js';
import { keyIdOf, Keyring, sealedKeyId, sha256Hex } from '../src/store/encryption.js';
import { RecordAdapter } from '../src/store/oidc-adapter.js';
import { MasterKeyRewrap, type Preparation, type PreparedReseal } from '../src/store/rewrap.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SealedValueLocation, Store } from '../src/store/types.js';
import { KeyService } from '../src/authorization/keys.js';
import { openTokens, sealTokens } from '../src/vault/connections.js';
import { Browser } from './support/browser.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { CALLBACK, codeFlow, discover, seed, signInAndAllow, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';
import { postgresSkipReason, TestDatabases } from './support/postgres.js';

const NONE_REMAINING =
  'no stored value needs a previous master key: LATCHKEY_PREVIOUS_MASTER_KEYS may be removed';
const VAULT_SCOPE = 'vault:connect vault:tokens vault:proxy vault:admin';
const NATIVE_REDIRECT = 'http://127.0.0.1:9/native';

const newKey = () => randomBytes(32);
const base64 = (key: Buffer) => key.toString('base64');

// Everything a test starts, stopped after it (servers last, so their directories go with them).
let servers: TestServer[] = [];
let stores: Store[] = [];
let fakes: FakeProvider[] = [];
afterEach(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(fakes.map((fake) => fake.close()));
  for (const server of servers) await server.close();
  [servers, stores, fakes] = [[], [], []];
});

async function start(masterKey: Buffer): Promise<TestServer> {
  const server = await startLatchkey({ env: { LATCHKEY_MASTER_KEY: base64(masterKey) } });
  servers.push(server);
  return server;
}

/** The same server (directory, port, issuer) started again under other keys. */
async function restart(server: TestServer, current: Buffer, previous: Buffer[] = []): Promise<TestServer> {
  servers = servers.filter((each) => each !== server);
  await server.close({ keep: true });
  const env: Record<string, string> = { LATCHKEY_MASTER_KEY: base64(current) };
  if (previous.length > 0) env.LATCHKEY_PREVIOUS_MASTER_KEYS = previous.map(base64).join(',');
  const again = await startLatchkey({ dir: server.dir, port: Number(new URL(server.url).port), env });
  servers.push(again);
  return again;
}

/** Another handle on the server's SQLite file, as a CLI process would open it. */
function openBeside(server: TestServer): Store {
  const store = openSqliteStore(join(server.dir, 'latchkey.db'));
  stores.push(store);
  return store;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(server: TestServer, keys: { current: Buffer; previous?: Buffer[] }, args: string[]) {
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: `sqlite:${join(server.dir, 'latchkey.db')}`,
    LATCHKEY_MASTER_KEY: base64(keys.current),
  };
  if (keys.previous) env.LATCHKEY_PREVIOUS_MASTER_KEYS = keys.previous.map(base64).join(',');
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from(['']), env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** An app of the vault with its own client secret, calling the vault API with a client_credentials token. */
interface App {
  clientId: string;
  clientSecret: string;
  token: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function registerVaultApp(server: TestServer): Promise<{ clientId: string; clientSecret: string }> {
  const { clients, grants } = server.latchkey.services;
  const client = await clients.add({ name: 'Vault App', grantTypes: ['client_credentials'] });
  await grants.grant(client.client_id, `${server.url}/vault`, VAULT_SCOPE);
  return { clientId: client.client_id, clientSecret: client.client_secret! };
}

async function signInApp(server: TestServer, app: { clientId: string; clientSecret: string }): Promise<App> {
  const config = await discover(server, app.clientId, app.clientSecret);
  const { access_token: token } = await oauth.clientCredentialsGrant(config, {
    scope: VAULT_SCOPE,
    resource: `${server.url}/vault`,
  });
  return {
    ...app,
    token,
    async call(method, path, body) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

/** A fake provider, an integration for it (with a client secret) and one end user connected through it. */
async function connectEndUser(server: TestServer, app: App) {
  const fake = await startFakeProvider();
  fakes.push(fake);
  const created = await app.call('POST', '/vault/integrations', {
    key: 'files',
    provider: 'oidc',
    issuer: fake.url,
    client_id: fake.clientId,
    client_secret: fake.clientSecret,
    scopes: ['files.read'],
  });
  expect(created.status).toBe(201);
  const session = await app.call('POST', '/vault/connect-sessions', {
    integration: 'files',
    end_user_id: 'alice',
    return_url: 'http://127.0.0.1:9/back',
  });
  const result = await new Browser(server.url, fake.url).navigate(session.body.url);
  expect('redirect' in result && new URL(result.redirect).searchParams.get('status')).toBe('connected');
  return {
    fake,
    location: {
      kind: 'vaultConnection',
      appId: app.clientId,
      integrationKey: 'files',
      endUserId: 'alice',
    } as const,
    tokenPath: '/vault/connections/files/alice/token',
  };
}

/** Makes the stored access token expired, as time would, so that the next token call refreshes. */
async function expireConnection(store: Store, appId: string) {
  const record = (await store.vaultConnections.get(appId, 'files', 'alice'))!;
  const expired = { ...record, expiresAt: Date.now() - 1000, version: record.version + 1 };
  expect(await store.vaultConnections.replaceIfVersion(expired, record.version)).toBe(true);
}

/** How many stored sealed values each key id sealed. */
async function sealedKeyIds(store: Store): Promise<Record<string, number>> {
  const fields: Record<string, string> = {
    oidc: 'payload',
    client: 'secretSealed',
    signingKey: 'privateSealed',
    setting: 'value',
    vaultIntegration: 'clientSecretSealed',
    vaultConnection: 'tokensSealed',
  };
  const ids: Record<string, number> = {};
  for await (const { kind, record } of store.exportAll()) {
    const value = fields[kind] && (record as Record<string, unknown>)[fields[kind]];
    const id = typeof value === 'string' ? sealedKeyId(value) : undefined;
    if (id) ids[id] = (ids[id] ?? 0) + 1;
  }
  return ids;
}

async function expectOAuthError(promise: Promise<unknown>, error: string) {
  const thrown = await promise.then(
    () => undefined,
    (reason: unknown) => reason as { error?: string; cause?: Array<{ parameters?: { error?: string } }> },
  );
  expect(thrown).toBeDefined();
  expect(thrown!.error ?? thrown!.cause?.[0]?.parameters?.error).toBe(error);
}

function ready(preparation: Preparation): PreparedReseal {
  if (preparation.status !== 'ready')
    throw new Error(`expected a value to reseal, got ${preparation.status}`);
  return preparation.reseal;
}

describe('the keyring tells which key sealed a value', () => {
  test('by its key id, without opening it; reseal keeps the plaintext under the current key', () => {
    const [a, b] = [newKey(), newKey()];
    const sealed = new Keyring(a).seal('secret', 'client:x');
    expect(sealedKeyId(sealed)).toBe(keyIdOf(a));
    expect(sealedKeyId('not sealed')).toBeUndefined();
    expect(sealedKeyId('lk1..iv.tag.body')).toBeUndefined();

    const rotated = new Keyring(b, [a]);
    expect(rotated.holds(keyIdOf(a))).toBe(true);
    expect(rotated.holds(keyIdOf(newKey()))).toBe(false);
    const resealed = rotated.reseal(sealed, 'client:x');
    expect(sealedKeyId(resealed)).toBe(keyIdOf(b));
    expect(new Keyring(b).open(resealed, 'client:x')).toBe('secret');
    // The context stays bound: the resealed value opens in its own record only.
    expect(() => new Keyring(b).open(resealed, 'client:y')).toThrow(/failed authentication/);
    expect(() => rotated.reseal(sealed, 'client:y')).toThrow(/failed authentication/);
  });
});

describe('latchkey keys rewrap', () => {
  test('values stored under key A all work under key B alone once rewrapped', async () => {
    const [keyA, keyB] = [newKey(), newKey()];
    let server = await start(keyA);
    const fixtures: Fixtures = await seed(server);
    const { tokens } = await codeFlow(
      server,
      await discover(server, fixtures.web.client_id, fixtures.web.client_secret),
      CALLBACK,
    );
    expect(tokens.refresh_token).toBeDefined();
    const vaultClient = await registerVaultApp(server);
    const app = await signInApp(server, vaultClient);
    const { fake, tokenPath } = await connectEndUser(server, app);
    const vaultToken = await app.call('POST', tokenPath, {});
    expect(vaultToken.status).toBe(200);
    const kids = (await server.latchkey.services.keys.list()).map((key) => key.kid).sort();

    // Key B, A kept to read what is stored: servers restart with both, then the rewrap runs.
    server = await restart(server, keyB, [keyA]);
    const both = { current: keyB, previous: [keyA] };
    const before = await cli(server, both, ['keys', 'rewrap', '--check', '--json']);
    expect(before.code).toBe(0);
    const check = JSON.parse(before.stdout);
    expect(check.current_key_id).toBe(keyIdOf(keyB));
    expect(Object.keys(check.remaining_by_kind).sort()).toEqual([
      'client',
      'oidc',
      'setting',
      'signingKey',
      'vaultConnection',
      'vaultIntegration',
    ]);
    // web, service and the vault app have secrets; the native and device clients are public.
    expect(check.remaining_by_kind.client).toBe(3);
    expect(check.remaining_by_key_id).toEqual({ [keyIdOf(keyA)]: check.remaining_under_previous_keys });
    expect(check.unknown_key_ids).toEqual([]);

    const run = await cli(server, both, ['keys', 'rewrap', '--json']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({
      current_key_id: keyIdOf(keyB),
      resealed: check.remaining_by_kind,
      skipped_changed: 0,
      unreadable: 0,
      remaining_under_previous_keys: 0,
      remaining_by_kind: {},
      remaining_by_key_id: {},
      unknown_key_ids: [],
    });
    expect(Object.keys(await sealedKeyIds(server.latchkey.store))).toEqual([keyIdOf(keyB)]);

    // In words: the all-clear; a second run finds nothing left to do.
    const after = await cli(server, both, ['keys', 'rewrap', '--check']);
    expect(after).toEqual({ code: 0, stdout: `${NONE_REMAINING}\n`, stderr: '' });
    const again = await cli(server, both, ['keys', 'rewrap']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(
      `current master key id: ${keyIdOf(keyB)}\n` +
        'resealed 0 values under the current master key; 0 skipped, changed or removed meanwhile by a server\n' +
        `${NONE_REMAINING}\n`,
    );

    // Key A gone.
    server = await restart(server, keyB);
    // Client secrets: client_credentials for the service and the vault app; the web app's in its refresh.
    const service = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const serviceTokens = await oauth.clientCredentialsGrant(service, {
      scope: 'read',
      resource: fixtures.api,
    });
    expect(kids).toContain(decodeProtectedHeader(serviceTokens.access_token).kid);
    const appAgain = await signInApp(server, vaultClient);

    // The refresh token, and the signing keys (the same kids as before: none was made anew).
    const web = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const refreshed = await oauth.refreshTokenGrant(web, tokens.refresh_token!);
    expect(kids).toContain(decodeProtectedHeader(refreshed.id_token!).kid);
    expect(refreshed.claims()?.sub).toBe(fixtures.user.id);
    const me = await fetch(`${server.url}/v1/users/me`, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { sub: string }).sub).toBe(fixtures.user.id);
    expect((await server.latchkey.services.keys.list()).map((key) => key.kid).sort()).toEqual(kids);

    // The vault token as stored, then a refresh at the provider with the integration's client secret.
    const stored = await appAgain.call('POST', tokenPath, {});
    expect(stored).toEqual({ status: 200, body: vaultToken.body });
    await expireConnection(server.latchkey.store, app.clientId);
    const renewed = await appAgain.call('POST', tokenPath, {});
    expect(renewed.status).toBe(200);
    expect(renewed.body.access_token).not.toBe(vaultToken.body.access_token);
    expect(fake.stats.refreshes).toBe(1);

    // The user signs in again (password, cookie keys), and an old token made under A still answers.
    const fresh = await codeFlow(server, web, CALLBACK);
    expect(fresh.tokens.claims()?.sub).toBe(fixtures.user.id);
    expect((await app.call('GET', '/vault/integrations')).status).toBe(200);
  });

  test('values under a key that is not configured are reported and left alone; --check says what remains', async () => {
    const [keyA, keyB, keyC] = [newKey(), newKey(), newKey()];
    let server = await start(keyA);
    await seed(server);
    server = await restart(server, keyB, [keyA]);
    // Read with C as the current key and B only: A's values cannot be opened by anything given.
    const lost = await cli(server, { current: keyC, previous: [keyB] }, ['keys', 'rewrap']);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toContain(`key ids ${keyIdOf(keyA)} are not configured`);
    expect(lost.stderr).toMatch(
      /^latchkey: \d+ stored values could not be opened with the configured master keys/,
    );
    // Nothing was written: with A given again the rewrap finds every value where it was.
    const check = JSON.parse(
      (await cli(server, { current: keyB, previous: [keyA] }, ['keys', 'rewrap', '--check', '--json']))
        .stdout,
    );
    expect(check.remaining_by_key_id).toEqual({ [keyIdOf(keyA)]: check.remaining_under_previous_keys });
    const plain = await cli(server, { current: keyB, previous: [keyA] }, ['keys', 'rewrap', '--check']);
    expect(plain.stdout).toMatch(
      new RegExp(
        `^${check.remaining_under_previous_keys} stored values still need a previous master key \\(.*by key id: ${keyIdOf(keyA)} ${check.remaining_under_previous_keys}\\): keep it in LATCHKEY_PREVIOUS_MASTER_KEYS and run \`latchkey keys rewrap\`\\n$`,
      ),
    );
  });
});

describe('a rewrap while a server runs', () => {
  test('never undoes what the server changed between its read and its swap', async () => {
    const [keyA, keyB] = [newKey(), newKey()];
    let server = await start(keyA);
    const fixtures = await seed(server);
    let native = await discover(server, fixtures.native.client_id);
    const { tokens } = await codeFlow(server, native, NATIVE_REDIRECT);
    // A code issued under A and not exchanged yet.
    const verifier = oauth.randomPKCECodeVerifier();
    const state = oauth.randomState();
    const callback = await signInAndAllow(
      server,
      oauth.buildAuthorizationUrl(native, {
        redirect_uri: NATIVE_REDIRECT,
        scope: 'openid',
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
    );
    const vaultClient = await registerVaultApp(server);
    let app = await signInApp(server, vaultClient);
    const connection = await connectEndUser(server, app);

    server = await restart(server, keyB, [keyA]);
    native = await discover(server, fixtures.native.client_id);
    app = await signInApp(server, vaultClient);
    const store = openBeside(server);
    const rewrap = new MasterKeyRewrap(store, new Keyring(keyB, [keyA]));
    const { locations } = await rewrap.survey();
    const expectSurveyed = (location: SealedValueLocation) => expect(locations).toContainEqual(location);

    // A refresh token the server consumes (public client: rotated) between the read and the swap.
    const refreshToken = {
      kind: 'oidc',
      model: 'RefreshToken',
      key: sha256Hex(tokens.refresh_token!),
    } as const;
    expectSurveyed(refreshToken);
    const tokenRead = ready(await rewrap.prepare(refreshToken));
    const rotated = await oauth.refreshTokenGrant(native, tokens.refresh_token!);
    // The payload is as read, so the swap goes in; consumption is another field, left alone.
    expect(await rewrap.commit(tokenRead)).toBe(true);
    const consumedToken = await store.oidc.find(refreshToken.model, refreshToken.key);
    expect(consumedToken).toMatchObject({ payload: tokenRead.replacement, consumedAt: expect.any(Number) });
    expect(await oauth.refreshTokenGrant(native, rotated.refresh_token!)).toHaveProperty('access_token');
    await expectOAuthError(oauth.refreshTokenGrant(native, tokens.refresh_token!), 'invalid_grant');

    // An authorization code exchanged between the read and the swap stays used.
    const code = {
      kind: 'oidc',
      model: 'AuthorizationCode',
      key: sha256Hex(callback.searchParams.get('code')!),
    } as const;
    expectSurveyed(code);
    const codeRead = ready(await rewrap.prepare(code));
    const exchange = () =>
      oauth.authorizationCodeGrant(native, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect((await exchange()).access_token).toBeDefined();
    expect(await rewrap.commit(codeRead)).toBe(true);
    expect(await store.oidc.find(code.model, code.key)).toMatchObject({
      payload: codeRead.replacement,
      consumedAt: expect.any(Number),
    });
    await expectOAuthError(exchange(), 'invalid_grant');

    // A vault connection refreshed between the read and the swap keeps its new tokens.
    await expireConnection(store, app.clientId);
    expectSurveyed(connection.location);
    const connectionRead = ready(await rewrap.prepare(connection.location));
    const refreshedToken = await app.call('POST', connection.tokenPath, {});
    expect(refreshedToken.status).toBe(200);
    expect(connection.fake.stats.refreshes).toBe(1);
    expect(await rewrap.commit(connectionRead)).toBe(false);
    expect(await app.call('POST', connection.tokenPath, {})).toEqual(refreshedToken);
    const record = (await store.vaultConnections.get(app.clientId, 'files', 'alice'))!;
    expect(openTokens(new Keyring(keyB), record).access_token).toBe(refreshedToken.body.access_token);

    // A client secret rotated between the read and the swap stays rotated.
    const secret = { kind: 'client', clientId: fixtures.service.client_id } as const;
    expectSurveyed(secret);
    const secretRead = ready(await rewrap.prepare(secret));
    const { client_secret: newSecret } = (await server.latchkey.services.clients.rotateSecret(
      secret.clientId,
    ))!;
    expect(await rewrap.commit(secretRead)).toBe(false);
    const withNew = await discover(server, secret.clientId, newSecret);
    expect(
      await oauth.clientCredentialsGrant(withNew, { scope: 'read', resource: fixtures.api }),
    ).toHaveProperty('access_token');
    const withOld = await discover(server, secret.clientId, fixtures.service.client_secret);
    await expectOAuthError(
      oauth.clientCredentialsGrant(withOld, { scope: 'read', resource: fixtures.api }),
      'invalid_client',
    );

    // A run finishes the rest; what the server changed counts as changed, not as resealed.
    const summary = await rewrap.run();
    expect(summary.remaining.total).toBe(0);
    expect(summary.unreadable).toBe(0);
    expect(Object.keys(await sealedKeyIds(store))).toEqual([keyIdOf(keyB)]);
  });

  test('a whole run while the server keeps refreshing leaves every used refresh token used', async () => {
    const [keyA, keyB] = [newKey(), newKey()];
    let server = await start(keyA);
    const fixtures = await seed(server);
    let native = await discover(server, fixtures.native.client_id);
    // Refresh tokens of several grants under A, each to be used while the run goes on.
    const chains: { latest: string; used: string[] }[] = [];
    for (let grant = 0; grant < 6; grant++) {
      const { tokens } = await codeFlow(server, native, NATIVE_REDIRECT);
      chains.push({ latest: tokens.refresh_token!, used: [] });
    }
    // And enough other records under A for the run to take many batches while the server works.
    const interactions = new RecordAdapter('Interaction', server.latchkey.store, new Keyring(keyA));
    for (let start = 0; start < 3000; start += 300) {
      await Promise.all(
        Array.from({ length: 300 }, (_, index) =>
          interactions.upsert(`interaction-${start + index}`, { kind: 'Interaction', index }, 600),
        ),
      );
    }

    server = await restart(server, keyB, [keyA]);
    native = await discover(server, fixtures.native.client_id);
    const rewrap = new MasterKeyRewrap(openBeside(server), new Keyring(keyB, [keyA]));
    let running = true;
    const refreshing = chains.map(async (chain) => {
      while (running || chain.used.length === 0) {
        const next = await oauth.refreshTokenGrant(native, chain.latest);
        chain.used.push(chain.latest);
        chain.latest = next.refresh_token!;
      }
    });
    const progress: string[] = [];
    const summary = await rewrap.run((step) => progress.push(`${step.kind} ${step.done}/${step.total}`));
    running = false;
    await Promise.all(refreshing);

    // Progress per batch of each kind, the bulk of it oidc records.
    expect(progress.filter((line) => line.startsWith('oidc ')).length).toBeGreaterThanOrEqual(15);
    expect(summary.resealed.oidc! + summary.skippedChanged).toBeGreaterThanOrEqual(3000 + chains.length);
    expect(summary.unreadable).toBe(0);
    expect(summary.remaining.total).toBe(0);
    for (const chain of chains) {
      for (const token of chain.used) {
        const record = await server.latchkey.store.oidc.find('RefreshToken', sha256Hex(token));
        expect(record?.consumedAt).toBeDefined();
      }
      // The latest works; a used one is refused (and, as reuse, ends its grant).
      expect(await oauth.refreshTokenGrant(native, chain.latest)).toHaveProperty('access_token');
      await expectOAuthError(oauth.refreshTokenGrant(native, chain.used[0]!), 'invalid_grant');
    }
  });
});

// The rewrap as the stores see it, on SQLite and on PostgreSQL (skipped, with the reason, where no
// server answers): values sealed as the services seal them, rewrapped, then opened under B alone.
const postgresSkip = await postgresSkipReason();
const databases = new TestDatabases();
let directory: string | undefined;
afterAll(async () => {
  await databases.dropAll();
  if (directory) await rm(directory, { recursive: true, force: true });
});
const storeTargets: { name: string; open: () => Promise<Store>; skip?: string | undefined }[] = [
  {
    name: 'sqlite',
    async open() {
      directory ??= await mkdtemp(join(tmpdir(), 'latchkey-rewrap-'));
      return openSqliteStore(join(directory, `${randomBytes(4).toString('hex')}.db`));
    },
  },
  { name: 'postgres', open: () => databases.openStore(), skip: postgresSkip },
];

describe.each(storeTargets.filter((target) => target.skip === undefined))(
  'a rewrap on the $name store',
  (target) => {
    test('reseals every kind of sealed value, in batches, and each opens under the new key alone', async () => {
      const [keyA, keyB] = [newKey(), newKey()];
      const store = await target.open();
      stores.push(store);
      const underA = new Keyring(keyA);
      await new KeyService(store, underA).ensure();
      await store.settings.put('cookie-keys', underA.seal('["cookie-key"]', 'setting:cookie-keys'));
      const now = Date.now();
      await store.clients.put({
        clientId: 'web',
        metadata: { client_name: 'Web' },
        secretSealed: underA.seal('web-secret', 'client:web'),
        createdAt: now,
        updatedAt: now,
      });
      await store.vaultIntegrations.create({
        appId: 'web',
        key: 'files',
        provider: 'oidc',
        clientId: 'upstream',
        clientSecretSealed: underA.seal('upstream-secret', 'vault-integration:web:files'),
        scopes: [],
        createdAt: now,
        updatedAt: now,
      });
      const connection = {
        appId: 'web',
        integrationKey: 'files',
        endUserId: 'alice',
        status: 'active' as const,
        tokensSealed: '',
        scopes: [],
        refreshFailures: 0,
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      connection.tokensSealed = sealTokens(underA, connection, {
        access_token: 'at-1',
        token_type: 'Bearer',
      });
      await store.vaultConnections.put(connection);
      const grants = new RecordAdapter('Grant', store, underA);
      for (let index = 0; index < 450; index++) await grants.upsert(`grant-${index}`, { index }, 600);
      // An expired record is never opened again: not counted, not rewrapped.
      await store.oidc.upsert({
        model: 'Grant',
        key: sha256Hex('expired'),
        payload: underA.seal('{}', `Grant:${sha256Hex('expired')}`),
        expiresAt: now - 1000,
      });

      const rewrap = new MasterKeyRewrap(store, new Keyring(keyB, [keyA]));
      expect(await rewrap.check()).toMatchObject({
        total: 4 + 1 + 1 + 1 + 1 + 450,
        byKind: { signingKey: 4, setting: 1, client: 1, vaultIntegration: 1, vaultConnection: 1, oidc: 450 },
      });
      const progress: string[] = [];
      const summary = await rewrap.run((step) => progress.push(`${step.kind} ${step.done}/${step.total}`));
      expect(summary).toEqual({
        resealed: {
          setting: 1,
          signingKey: 4,
          client: 1,
          vaultIntegration: 1,
          vaultConnection: 1,
          oidc: 450,
        },
        skippedChanged: 0,
        unreadable: 0,
        remaining: { total: 0, byKind: {}, byKeyId: {}, unknownKeyIds: [] },
      });
      expect(progress).toEqual([
        'setting 1/1',
        'signingKey 4/4',
        'client 1/1',
        'vaultIntegration 1/1',
        'vaultConnection 1/1',
        'oidc 200/450',
        'oidc 400/450',
        'oidc 450/450',
      ]);
      // Idempotent: a second run finds nothing to do.
      expect((await rewrap.run()).resealed).toEqual({});

      const underB = new Keyring(keyB);
      expect((await new KeyService(store, underB).privateJwks()).keys).toHaveLength(4);
      expect(underB.open((await store.settings.get('cookie-keys'))!, 'setting:cookie-keys')).toBe(
        '["cookie-key"]',
      );
      expect(underB.open((await store.clients.get('web'))!.secretSealed!, 'client:web')).toBe('web-secret');
      const integration = (await store.vaultIntegrations.get('web', 'files'))!;
      expect(underB.open(integration.clientSecretSealed!, 'vault-integration:web:files')).toBe(
        'upstream-secret',
      );
      const stored = (await store.vaultConnections.get('web', 'files', 'alice'))!;
      expect(openTokens(underB, stored).access_token).toBe('at-1');
      expect(stored.version).toBe(1);
      expect(await new RecordAdapter('Grant', store, underB).find('grant-449')).toMatchObject({ index: 449 });
    });
  },
);

for (const target of storeTargets.filter((each) => each.skip !== undefined)) {
  console.warn(`master key rewrap on ${target.name} skipped: ${target.skip}`);
  describe.skip(`a rewrap on the ${target.name} store — skipped: ${target.skip}`, () => {
    test('reseals every kind of sealed value', () => undefined);
  });
}
