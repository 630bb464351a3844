// The store contract (DESIGN.md, "Storage"): one suite, run against every Store implementation, so
// that the server behaves the same on the embedded SQLite file, on PostgreSQL and on MongoDB.
// PostgreSQL runs where a server answers at POSTGRES_URL (default the local one, see
// support/postgres.ts), MongoDB where MONGODB_URI points at a server; each is reported as skipped,
// with the reason, elsewhere.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { postgresTarget } from './support/postgres.js';
import {
  StoreConflictError,
  type AccountRecord,
  type ApiRecord,
  type ClientGrantRecord,
  type ClientRecord,
  type ExportEntry,
  type OidcRecord,
  type SigningKeyRecord,
  type Store,
  type VaultConnectionRecord,
  type VaultIntegrationRecord,
} from '../src/store/types.js';

interface StoreTarget {
  name: string;
  /** A new, empty store. */
  open(): Promise<Store>;
  /** Removes whatever the runs left behind (files, databases). */
  cleanup?(): Promise<void>;
  /** Set when this store cannot run here; the suite then reports it as skipped with this reason. */
  skipReason?: string;
}

function sqliteTarget(): StoreTarget {
  let directory: string | undefined;
  return {
    name: 'sqlite',
    async open() {
      directory ??= await mkdtemp(join(tmpdir(), 'latchkey-store-contract-'));
      return openSqliteStore(join(directory, `${randomUUID()}.db`));
    },
    async cleanup() {
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}

function mongodbTarget(uri: string | undefined): StoreTarget {
  if (!uri) {
    return {
      name: 'mongodb',
      open: unavailable,
      skipReason: 'MONGODB_URI is not set (no MongoDB server on this machine)',
    };
  }
  // A database per store opened, named after this run, so that runs (and tests) never collide.
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const databases: string[] = [];
  return {
    name: 'mongodb',
    async open() {
      // Imported here so that this suite does not depend on the MongoDB store unless it runs it.
      const { openMongoStore } = await import('../src/store/mongo/index.js');
      const database = `latchkey_contract_${run}_${databases.length}`;
      databases.push(database);
      return openMongoStore(withDatabase(uri, database), { serverSelectionTimeoutMS: 5000 });
    },
    async cleanup() {
      if (databases.length === 0) return;
      const { default: mongoose } = await import('mongoose');
      const connection = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000 }).asPromise();
      try {
        for (const database of databases) await connection.useDb(database).dropDatabase();
      } finally {
        await connection.close();
      }
    },
  };
}

async function unavailable(): Promise<Store> {
  throw new Error('this store is not available here');
}

/**
 * `uri` with its database replaced. Credentials keep authenticating against the database they
 * belonged to: without an explicit authSource, MongoDB would look the user up in the new one.
 */
function withDatabase(uri: string, database: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(uri);
  if (!match) throw new TypeError('MONGODB_URI is not a mongodb:// or mongodb+srv:// connection string');
  const [, scheme, authority, originalDatabase, query] = match;
  const options = new URLSearchParams(query ?? '');
  if (authority!.includes('@') && !options.has('authSource'))
    options.set('authSource', originalDatabase || 'admin');
  const search = options.toString();
  return `${scheme}${authority}/${database}${search ? `?${search}` : ''}`;
}

const MONGODB_URI = process.env.MONGODB_URI || undefined;
const targets: StoreTarget[] = [sqliteTarget(), await postgresTarget(), mongodbTarget(MONGODB_URI)];

// Fixtures. Names are unique per call so that tests sharing a store never see each other's rows.

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${(sequence += 1)}-${randomBytes(4).toString('hex')}`;
const inOneMinute = () => Date.now() + 60_000;
const aSecondAgo = () => Date.now() - 1000;

function oidcRecord(overrides: Partial<OidcRecord> = {}): OidcRecord {
  return {
    model: unique('Model'),
    key: randomBytes(32).toString('hex'),
    payload: unique('sealed'),
    ...overrides,
  };
}

function clientRecord(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: unique('client'),
    metadata: {
      client_name: 'Example app',
      redirect_uris: ['https://app.example/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      'urn:latchkey:first_party': false,
      nested: { logo: { width: 64, dark: null } },
    },
    secretSealed: unique('sealed-secret'),
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function accountRecord(overrides: Partial<AccountRecord> = {}): AccountRecord {
  return {
    id: unique('account'),
    email: `${unique('user')}@example.com`,
    emailVerified: true,
    name: 'Ada Lovelace',
    passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function apiRecord(overrides: Partial<ApiRecord> = {}): ApiRecord {
  return {
    identifier: `https://${unique('api')}.example/`,
    name: 'Example API',
    scope: 'read write',
    format: 'jwt',
    signingAlg: 'ES256',
    accessTokenTtl: 600,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

function clientGrantRecord(overrides: Partial<ClientGrantRecord> = {}): ClientGrantRecord {
  return {
    clientId: unique('client'),
    api: `https://${unique('api')}.example/`,
    scopes: ['orders:read', 'orders:write'],
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function signingKeyRecord(overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid: unique('kid'),
    alg: 'RS256',
    status: 'active',
    publicJwk: { kty: 'RSA', n: 'sXch...', e: 'AQAB', use: 'sig' },
    privateSealed: unique('sealed-private-jwk'),
    createdAt: 1_700_000_000_000,
    activatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function vaultIntegrationRecord(overrides: Partial<VaultIntegrationRecord> = {}): VaultIntegrationRecord {
  return {
    appId: unique('app'),
    key: unique('google-drive'),
    provider: 'google',
    clientId: unique('upstream-client'),
    clientSecretSealed: unique('sealed-upstream-secret'),
    scopes: ['openid', 'https://www.googleapis.com/auth/drive.readonly'],
    issuer: 'https://accounts.google.com',
    authorizationParams: { access_type: 'offline', prompt: 'consent' },
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** A connection with every optional field set; pass `undefined` to leave one out. */
function vaultConnectionRecord(overrides: Partial<VaultConnectionRecord> = {}): VaultConnectionRecord {
  return {
    appId: unique('app'),
    integrationKey: unique('github'),
    endUserId: unique('end-user'),
    status: 'active',
    tokensSealed: unique('sealed-token-set'),
    expiresAt: 1_700_003_600_000,
    scopes: ['repo', 'read:user'],
    lastRefreshAt: 1_700_000_100_000,
    lastError: {
      code: 'upstream_unavailable',
      message: 'HTTP 503 from the token endpoint',
      at: 1_700_000_050_000,
    },
    refreshFailures: 1,
    nextRefreshAt: 1_700_000_200_000,
    version: 1,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** The same connection as a later writer would save it: a change, and the version moved on. */
const nextVersionOf = (connection: VaultConnectionRecord, changes: Partial<VaultConnectionRecord> = {}) => ({
  ...connection,
  tokensSealed: unique('sealed-token-set'),
  updatedAt: connection.updatedAt + 1000,
  ...changes,
  version: connection.version + 1,
});

async function collect(entries: AsyncIterable<ExportEntry>): Promise<ExportEntry[]> {
  const all: ExportEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

function identity({ kind, record }: ExportEntry): string {
  const r = record as Record<string, string>;
  const id = {
    oidc: `${r.model}/${r.key}`,
    client: r.clientId,
    clientGrant: `${r.clientId}/${r.api}`,
    account: r.id,
    api: r.identifier,
    signingKey: r.kid,
    setting: r.name,
    vaultIntegration: `${r.appId}/${r.key}`,
    vaultConnection: `${r.appId}/${r.integrationKey}/${r.endUserId}`,
  };
  return `${kind}:${id[kind]}`;
}

const sortedByIdentity = (entries: ExportEntry[]) =>
  [...entries].sort((a, b) => (identity(a) < identity(b) ? -1 : identity(a) > identity(b) ? 1 : 0));

describe.each(targets.filter((target) => target.skipReason === undefined))('$name store', (target) => {
  // One store for the tests that only touch their own uniquely named rows; tests that need an
  // empty store (purge counts, export) open their own.
  let store: Store;
  const opened: Store[] = [];
  const openFresh = async () => {
    const fresh = await target.open();
    opened.push(fresh);
    return fresh;
  };

  beforeAll(async () => {
    store = await openFresh();
  });

  afterAll(async () => {
    await Promise.all(opened.map((each) => each.close()));
    await target.cleanup?.();
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  describe('oidc records', () => {
    it('finds an upserted record exactly as it was stored', async () => {
      const record = oidcRecord({
        grantId: unique('grant'),
        uid: unique('uid'),
        userCode: randomBytes(32).toString('hex'),
        expiresAt: inOneMinute(),
        consumedAt: 1_700_000_000,
        accountId: unique('account'),
        clientId: unique('client'),
      });
      await store.oidc.upsert(record);

      expect(await store.oidc.find(record.model, record.key)).toEqual(record);
      expect(await store.oidc.find(record.model, 'unknown-key')).toBeUndefined();
      expect(await store.oidc.find(unique('OtherModel'), record.key)).toBeUndefined();
    });

    it('keeps nothing of the old record on upsert', async () => {
      const original = oidcRecord({
        grantId: unique('grant'),
        uid: unique('uid'),
        consumedAt: 1_700_000_000,
      });
      await store.oidc.upsert(original);
      const replacement: OidcRecord = { model: original.model, key: original.key, payload: unique('sealed') };
      await store.oidc.upsert(replacement);

      expect(await store.oidc.find(original.model, original.key)).toEqual(replacement);
      expect(await store.oidc.findByUid(original.model, original.uid!)).toBeUndefined();
      expect(await store.oidc.count(original.model)).toBe(1);
    });

    it('never serves or counts an expired record, even before a purge', async () => {
      const model = unique('DeviceCode');
      const expired = oidcRecord({
        model,
        uid: unique('uid'),
        userCode: randomBytes(32).toString('hex'),
        expiresAt: aSecondAgo(),
      });
      const live = oidcRecord({ model, expiresAt: inOneMinute() });
      const forever = oidcRecord({ model });
      for (const record of [expired, live, forever]) await store.oidc.upsert(record);

      expect(await store.oidc.find(model, expired.key)).toBeUndefined();
      expect(await store.oidc.findByUid(model, expired.uid!)).toBeUndefined();
      expect(await store.oidc.findByUserCode(model, expired.userCode!)).toBeUndefined();
      expect(await store.oidc.consume(model, expired.key, 1_700_000_000)).toBe(false);
      expect(await store.oidc.count(model)).toBe(2);
      expect(await store.oidc.find(model, live.key)).toEqual(live);
      expect(await store.oidc.find(model, forever.key)).toEqual(forever);
    });

    it('purgeExpired removes expired records and leases and says how many went', async () => {
      const fresh = await openFresh();
      const model = unique('AccessToken');
      const expired = [
        oidcRecord({ model, expiresAt: aSecondAgo() }),
        oidcRecord({ model, expiresAt: aSecondAgo() }),
      ];
      const live = oidcRecord({ model, expiresAt: inOneMinute() });
      const forever = oidcRecord({ model });
      for (const record of [...expired, live, forever]) await fresh.oidc.upsert(record);

      expect(await fresh.purgeExpired()).toBe(2);
      expect(await fresh.purgeExpired()).toBe(0);
      expect(await fresh.oidc.count(model)).toBe(2);

      // `now` decides what counts as expired: two minutes on, the live record and the lease are due.
      expect(await fresh.leases.acquire(unique('lease'), 'worker-a', 60_000)).toBe(true);
      expect(await fresh.purgeExpired(Date.now() + 120_000)).toBe(2);
      expect(await fresh.oidc.find(model, live.key)).toBeUndefined();
      expect(await fresh.oidc.find(model, forever.key)).toEqual(forever);
    });

    it('findByUid finds a session by uid, within its model only', async () => {
      const uid = unique('uid');
      const session = oidcRecord({ model: 'Session', uid, expiresAt: inOneMinute() });
      await store.oidc.upsert(session);

      expect(await store.oidc.findByUid('Session', uid)).toEqual(session);
      expect(await store.oidc.findByUid('Interaction', uid)).toBeUndefined();
      expect(await store.oidc.findByUid('Session', unique('uid'))).toBeUndefined();
    });

    it('findByUserCode finds a device code by user code, within its model only', async () => {
      const userCode = randomBytes(32).toString('hex');
      const deviceCode = oidcRecord({ model: 'DeviceCode', userCode, grantId: unique('grant') });
      await store.oidc.upsert(deviceCode);

      expect(await store.oidc.findByUserCode('DeviceCode', userCode)).toEqual(deviceCode);
      expect(await store.oidc.findByUserCode('AuthorizationCode', userCode)).toBeUndefined();
      expect(await store.oidc.findByUserCode('DeviceCode', randomBytes(32).toString('hex'))).toBeUndefined();
    });

    it('findByAccountId lists the live grants of one account, within its model only', async () => {
      const accountId = unique('account');
      const grants = [
        oidcRecord({ model: 'Grant', accountId, grantId: unique('grant'), expiresAt: inOneMinute() }),
        oidcRecord({ model: 'Grant', accountId, grantId: unique('grant') }),
      ];
      for (const grant of grants) await store.oidc.upsert(grant);
      await store.oidc.upsert(oidcRecord({ model: 'Grant', accountId, expiresAt: Date.now() - 1000 }));
      await store.oidc.upsert(oidcRecord({ model: 'Grant', accountId: unique('account') }));
      await store.oidc.upsert(oidcRecord({ model: 'Session', accountId }));

      const found = await store.oidc.findByAccountId('Grant', accountId);
      expect(found.map((record) => record.key).sort()).toEqual(grants.map((record) => record.key).sort());
      expect(found.find((record) => record.key === grants[0]!.key)).toEqual(grants[0]);
      expect(await store.oidc.findByAccountId('Grant', unique('account'))).toEqual([]);
    });

    it('consume succeeds exactly once among concurrent callers and records when', async () => {
      const code = oidcRecord({ model: 'AuthorizationCode', expiresAt: inOneMinute() });
      await store.oidc.upsert(code);

      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.oidc.consume(code.model, code.key, 1_700_000_123)),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.oidc.find(code.model, code.key)).toEqual({ ...code, consumedAt: 1_700_000_123 });
      expect(await store.oidc.consume(code.model, code.key, 1_700_000_999)).toBe(false);
      expect(await store.oidc.consume(code.model, 'unknown-key', 1_700_000_999)).toBe(false);
    });

    it('destroy removes one record', async () => {
      const model = unique('Grant');
      const doomed = oidcRecord({ model });
      const kept = oidcRecord({ model });
      await store.oidc.upsert(doomed);
      await store.oidc.upsert(kept);

      await store.oidc.destroy(model, doomed.key);
      await store.oidc.destroy(model, 'unknown-key');

      expect(await store.oidc.find(model, doomed.key)).toBeUndefined();
      expect(await store.oidc.find(model, kept.key)).toEqual(kept);
    });

    it('revokeByGrantId removes every record of the grant, of any model, and nothing else', async () => {
      const grantId = unique('grant');
      const revoked = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Grant'].map((model) =>
        oidcRecord({ model, grantId, expiresAt: inOneMinute() }),
      );
      const otherGrant = oidcRecord({ model: 'AccessToken', grantId: unique('grant') });
      const noGrant = oidcRecord({ model: 'AccessToken' });
      for (const record of [...revoked, otherGrant, noGrant]) await store.oidc.upsert(record);

      await store.oidc.revokeByGrantId(grantId);

      for (const record of revoked) expect(await store.oidc.find(record.model, record.key)).toBeUndefined();
      expect(await store.oidc.find(otherGrant.model, otherGrant.key)).toEqual(otherGrant);
      expect(await store.oidc.find(noGrant.model, noGrant.key)).toEqual(noGrant);
    });

    it('revokeByClientId removes every record of the client, of any model, says how many, and leaves the rest', async () => {
      const clientId = unique('client');
      const accountId = unique('account');
      const revoked = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Grant', 'ClientCredentials'].map(
        (model) =>
          oidcRecord({ model, clientId, accountId, grantId: unique('grant'), expiresAt: inOneMinute() }),
      );
      const otherClient = oidcRecord({ model: 'AccessToken', clientId: unique('client'), accountId });
      const noClient = oidcRecord({ model: 'Session', accountId });
      for (const record of [...revoked, otherClient, noClient]) await store.oidc.upsert(record);
      // Read once first, so that a store remembering rows must forget them on revoke.
      for (const record of revoked) expect(await store.oidc.find(record.model, record.key)).toEqual(record);

      expect(await store.oidc.revokeByClientId(clientId)).toBe(revoked.length);

      for (const record of revoked) expect(await store.oidc.find(record.model, record.key)).toBeUndefined();
      expect(await store.oidc.findByAccountId('Grant', accountId)).toEqual([]);
      expect(await store.oidc.find(otherClient.model, otherClient.key)).toEqual(otherClient);
      expect(await store.oidc.find(noClient.model, noClient.key)).toEqual(noClient);
      expect(await store.oidc.revokeByClientId(clientId)).toBe(0);
      expect(await store.oidc.revokeByClientId(unique('client'))).toBe(0);
    });

    it('revokeByAccountId removes every record of the account, of any model, says how many, and leaves the rest', async () => {
      const accountId = unique('account');
      const clientId = unique('client');
      const revoked = [
        oidcRecord({ model: 'Session', accountId, uid: unique('uid'), expiresAt: inOneMinute() }),
        ...['Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode'].map((model) =>
          oidcRecord({ model, accountId, clientId, grantId: unique('grant') }),
        ),
      ];
      const otherAccount = oidcRecord({ model: 'Grant', accountId: unique('account'), clientId });
      const noAccount = oidcRecord({ model: 'ClientCredentials', clientId });
      for (const record of [...revoked, otherAccount, noAccount]) await store.oidc.upsert(record);
      for (const record of revoked) expect(await store.oidc.find(record.model, record.key)).toEqual(record);

      expect(await store.oidc.revokeByAccountId(accountId)).toBe(revoked.length);

      for (const record of revoked) expect(await store.oidc.find(record.model, record.key)).toBeUndefined();
      expect(await store.oidc.findByUid('Session', revoked[0]!.uid!)).toBeUndefined();
      expect(await store.oidc.findByAccountId('Grant', accountId)).toEqual([]);
      expect(await store.oidc.find(otherAccount.model, otherAccount.key)).toEqual(otherAccount);
      expect(await store.oidc.find(noAccount.model, noAccount.key)).toEqual(noAccount);
      expect(await store.oidc.revokeByAccountId(accountId)).toBe(0);
    });

    it('counts the live records of one model', async () => {
      const model = unique('Session');
      for (let index = 0; index < 3; index += 1) await store.oidc.upsert(oidcRecord({ model }));
      await store.oidc.upsert(oidcRecord({ model: unique('Session') }));

      expect(await store.oidc.count(model)).toBe(3);
      expect(await store.oidc.count(unique('Empty'))).toBe(0);
    });
  });

  describe('clients', () => {
    it('puts, gets, replaces, lists and removes clients', async () => {
      const confidential = clientRecord();
      const publicClient = clientRecord({
        secretSealed: undefined,
        metadata: { token_endpoint_auth_method: 'none' },
      });
      await store.clients.put(confidential);
      await store.clients.put(publicClient);

      expect(await store.clients.get(confidential.clientId)).toEqual(confidential);
      expect(await store.clients.get(publicClient.clientId)).toEqual(publicClient);
      expect(await store.clients.get(unique('client'))).toBeUndefined();

      // A rotated secret or new metadata replaces the record; a dropped secret is gone.
      const updated: ClientRecord = {
        ...confidential,
        metadata: { client_name: 'Renamed' },
        secretSealed: undefined,
        updatedAt: 1_800_000_000_000,
      };
      await store.clients.put(updated);
      expect(await store.clients.get(confidential.clientId)).toEqual(updated);
      expect((await store.clients.get(confidential.clientId))?.secretSealed).toBeUndefined();

      const ids = [confidential.clientId, publicClient.clientId];
      const listed = (await store.clients.list()).filter((client) => ids.includes(client.clientId));
      expect(listed).toHaveLength(2);
      expect(listed).toEqual(expect.arrayContaining([updated, publicClient]));

      expect(await store.clients.remove(confidential.clientId)).toBe(true);
      expect(await store.clients.remove(confidential.clientId)).toBe(false);
      expect(await store.clients.get(confidential.clientId)).toBeUndefined();
      expect(await store.clients.get(publicClient.clientId)).toEqual(publicClient);
    });
  });

  describe('client grants', () => {
    it('puts, gets and replaces the grant of one API to one client', async () => {
      const grant = clientGrantRecord();
      await store.clientGrants.put(grant);

      expect(await store.clientGrants.get(grant.clientId, grant.api)).toEqual(grant);
      expect(
        await store.clientGrants.get(grant.clientId, `https://${unique('api')}.example/`),
      ).toBeUndefined();
      expect(await store.clientGrants.get(unique('client'), grant.api)).toBeUndefined();

      // Put again for the same (client, API): the grant is replaced, not added.
      const narrowed: ClientGrantRecord = { ...grant, scopes: ['orders:read'], updatedAt: 1_800_000_000_000 };
      await store.clientGrants.put(narrowed);
      expect(await store.clientGrants.get(grant.clientId, grant.api)).toEqual(narrowed);
      expect(await store.clientGrants.listByClient(grant.clientId)).toEqual([narrowed]);
      expect(await store.clientGrants.listByApi(grant.api)).toEqual([narrowed]);
    });

    it("lists a client's grants in API order and an API's grants in client order", async () => {
      const clientId = unique('client');
      const otherClientId = unique('client');
      const apis = ['https://c.example/', 'https://a.example/', 'https://b.example/'].map(
        (origin) => `${origin}${unique('api')}`,
      );
      for (const api of apis) await store.clientGrants.put(clientGrantRecord({ clientId, api }));
      await store.clientGrants.put(clientGrantRecord({ clientId: otherClientId, api: apis[0] }));

      const byClient = await store.clientGrants.listByClient(clientId);
      expect(byClient.map((grant) => grant.api)).toEqual([...apis].sort());
      expect(byClient.every((grant) => grant.clientId === clientId)).toBe(true);

      const api = `https://${unique('api')}.example/`;
      const clientIds = ['client-z', 'client-x', 'client-y'].map((prefix) => unique(prefix));
      for (const each of clientIds) await store.clientGrants.put(clientGrantRecord({ clientId: each, api }));
      const byApi = await store.clientGrants.listByApi(api);
      expect(byApi.map((grant) => grant.clientId)).toEqual([...clientIds].sort());
      expect(byApi.every((grant) => grant.api === api)).toBe(true);

      expect(await store.clientGrants.listByClient(unique('client'))).toEqual([]);
      expect(await store.clientGrants.listByApi(`https://${unique('api')}.example/`)).toEqual([]);
    });

    it('removes one grant, all of a client, or all for an API, and says how many went', async () => {
      const [first, second, third] = [unique('client'), unique('client'), unique('client')];
      const [orders, billing] = [
        `https://${unique('orders')}.example/`,
        `https://${unique('billing')}.example/`,
      ];
      const grant = (clientId: string, api: string) => clientGrantRecord({ clientId, api });
      for (const [clientId, api] of [
        [first, orders],
        [first, billing],
        [second, orders],
        [second, billing],
        [third, orders],
        [third, billing],
      ] as const) {
        await store.clientGrants.put(grant(clientId, api));
      }
      // Read once first, so that a store remembering rows must forget them on removal.
      expect(await store.clientGrants.get(second, orders)).toBeDefined();
      expect(await store.clientGrants.get(third, billing)).toBeDefined();

      expect(await store.clientGrants.remove(first, orders)).toBe(true);
      expect(await store.clientGrants.remove(first, orders)).toBe(false);
      expect(await store.clientGrants.get(first, orders)).toBeUndefined();
      expect(await store.clientGrants.get(first, billing)).toBeDefined();

      expect(await store.clientGrants.removeByClient(second)).toBe(2);
      expect(await store.clientGrants.removeByClient(second)).toBe(0);
      expect(await store.clientGrants.get(second, orders)).toBeUndefined();
      expect(await store.clientGrants.listByClient(second)).toEqual([]);

      expect(await store.clientGrants.removeByApi(billing)).toBe(2);
      expect(await store.clientGrants.removeByApi(billing)).toBe(0);
      expect(await store.clientGrants.get(third, billing)).toBeUndefined();
      expect(await store.clientGrants.listByApi(billing)).toEqual([]);

      expect(await store.clientGrants.listByApi(orders)).toEqual([grant(third, orders)]);
      expect(await store.clientGrants.listByClient(first)).toEqual([]);
    });
  });

  describe('accounts', () => {
    it('creates an account and finds it by id and, ignoring case, by email', async () => {
      const account = accountRecord({ emailVerified: false });
      await store.accounts.create(account);

      expect(await store.accounts.get(account.id)).toEqual(account);
      expect(await store.accounts.findByEmail(account.email.toUpperCase())).toEqual(account);
      expect(await store.accounts.findByEmail(`${unique('nobody')}@example.com`)).toBeUndefined();
      expect(await store.accounts.get(unique('account'))).toBeUndefined();
      expect((await store.accounts.list()).filter((each) => each.id === account.id)).toEqual([account]);
    });

    it('stores emails lower-cased', async () => {
      const local = unique('Grace');
      const account = accountRecord({ email: `${local}@Example.COM` });
      await store.accounts.create(account);

      const stored = await store.accounts.get(account.id);
      expect(stored?.email).toBe(`${local}@example.com`.toLowerCase());
      expect(await store.accounts.findByEmail(`${local}@example.com`)).toEqual(stored);
    });

    it('refuses a second account with the same email, in any case', async () => {
      const first = accountRecord();
      await store.accounts.create(first);

      await expect(
        store.accounts.create(accountRecord({ email: first.email.toUpperCase() })),
      ).rejects.toBeInstanceOf(StoreConflictError);
      expect((await store.accounts.findByEmail(first.email))?.id).toBe(first.id);
    });

    it('updates only the fields given, and refuses an email that is taken', async () => {
      const account = accountRecord();
      const other = accountRecord();
      await store.accounts.create(account);
      await store.accounts.create(other);

      const changes = { name: 'Ada King', passwordHash: '$argon2id$v=19$new', updatedAt: 1_800_000_000_000 };
      expect(await store.accounts.update(account.id, changes)).toBe(true);
      expect(await store.accounts.get(account.id)).toEqual({ ...account, ...changes });

      expect(await store.accounts.update(account.id, { emailVerified: false })).toBe(true);
      expect((await store.accounts.get(account.id))?.emailVerified).toBe(false);

      await expect(store.accounts.update(account.id, { email: other.email })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect((await store.accounts.get(account.id))?.email).toBe(account.email);
      expect(await store.accounts.update(unique('account'), { name: 'Nobody' })).toBe(false);
    });

    it('keeps whether an account is disabled, and leaves the field out when it was never set', async () => {
      const account = accountRecord();
      const enabled = accountRecord({ disabled: false });
      const disabled = accountRecord({ disabled: true });
      for (const each of [account, enabled, disabled]) await store.accounts.create(each);

      const stored = await store.accounts.get(account.id);
      expect(stored).toEqual(account);
      expect(stored).not.toHaveProperty('disabled');
      expect(await store.accounts.get(enabled.id)).toEqual(enabled);
      expect((await store.accounts.get(enabled.id))?.disabled).toBe(false);
      expect(await store.accounts.findByEmail(disabled.email)).toEqual(disabled);
      const ids = [account.id, enabled.id, disabled.id];
      const listed = (await store.accounts.list()).filter((each) => ids.includes(each.id));
      expect(listed).toEqual(expect.arrayContaining([account, enabled, disabled]));

      // Read first, so that a store remembering the account must forget it on update.
      expect(await store.accounts.update(account.id, { disabled: true, updatedAt: 1_800_000_000_000 })).toBe(
        true,
      );
      expect(await store.accounts.get(account.id)).toEqual({
        ...account,
        disabled: true,
        updatedAt: 1_800_000_000_000,
      });
      // An update that does not name the field leaves it as it was.
      expect(await store.accounts.update(account.id, { name: 'Ada King' })).toBe(true);
      expect((await store.accounts.get(account.id))?.disabled).toBe(true);
      expect(await store.accounts.update(account.id, { disabled: false })).toBe(true);
      expect((await store.accounts.get(account.id))?.disabled).toBe(false);
      expect(await store.accounts.update(disabled.id, { disabled: false })).toBe(true);
      expect((await store.accounts.findByEmail(disabled.email))?.disabled).toBe(false);
    });

    it('removes an account', async () => {
      const account = accountRecord();
      await store.accounts.create(account);

      expect(await store.accounts.remove(account.id)).toBe(true);
      expect(await store.accounts.remove(account.id)).toBe(false);
      expect(await store.accounts.get(account.id)).toBeUndefined();
      expect(await store.accounts.findByEmail(account.email)).toBeUndefined();
      // The email is free again.
      await expect(store.accounts.create(accountRecord({ email: account.email }))).resolves.toBeUndefined();
    });
  });

  describe('apis', () => {
    it('creates, gets, lists and removes APIs, and refuses a duplicate identifier', async () => {
      const full = apiRecord();
      const minimal = apiRecord({ name: undefined, signingAlg: undefined, format: 'opaque' });
      await store.apis.create(full);
      await store.apis.create(minimal);

      expect(await store.apis.get(full.identifier)).toEqual(full);
      expect(await store.apis.get(minimal.identifier)).toEqual(minimal);
      expect(await store.apis.get(`https://${unique('api')}.example/`)).toBeUndefined();
      await expect(store.apis.create(apiRecord({ identifier: full.identifier }))).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await store.apis.get(full.identifier)).toEqual(full);

      const ids = [full.identifier, minimal.identifier];
      const listed = (await store.apis.list()).filter((api) => ids.includes(api.identifier));
      expect(listed).toHaveLength(2);
      expect(listed).toEqual(expect.arrayContaining([full, minimal]));

      expect(await store.apis.remove(full.identifier)).toBe(true);
      expect(await store.apis.remove(full.identifier)).toBe(false);
      expect(await store.apis.get(full.identifier)).toBeUndefined();
    });

    it('keeps scope descriptions, user-consent scopes and the update time, and leaves them out when unset', async () => {
      const described = apiRecord({
        scope: 'orders:read orders:write stats.read',
        // Scope names are the operator's: a `.` or a leading `$` must survive any store.
        scopeDescriptions: {
          'orders:read': 'See your orders',
          'orders:write': 'Place orders for you',
          'stats.read': 'Read statistics',
          $special: 'A scope with a dollar',
        },
        userConsentScopes: ['orders:read', 'stats.read'],
        updatedAt: 1_700_000_100_000,
      });
      const empty = apiRecord({ scopeDescriptions: {}, userConsentScopes: [] });
      const plain = apiRecord();
      for (const api of [described, empty, plain]) await store.apis.create(api);

      expect(await store.apis.get(described.identifier)).toEqual(described);
      expect(await store.apis.get(empty.identifier)).toEqual(empty);
      const storedPlain = await store.apis.get(plain.identifier);
      expect(storedPlain).toEqual(plain);
      expect(Object.keys(storedPlain!).sort()).toEqual(
        ['accessTokenTtl', 'createdAt', 'format', 'identifier', 'name', 'scope', 'signingAlg'].sort(),
      );
      const ids = [described.identifier, empty.identifier];
      expect((await store.apis.list()).filter((api) => ids.includes(api.identifier))).toEqual(
        expect.arrayContaining([described, empty]),
      );
    });

    it('updates an API by replacing the whole record, and reports a missing one', async () => {
      const api = apiRecord();
      await store.apis.create(api);

      const updated: ApiRecord = {
        ...api,
        name: 'Orders API',
        scope: 'orders:read orders:write',
        format: 'opaque',
        signingAlg: undefined,
        accessTokenTtl: 3600,
        scopeDescriptions: { 'orders:read': 'See your orders' },
        userConsentScopes: ['orders:read'],
        updatedAt: 1_800_000_000_000,
      };
      expect(await store.apis.update(updated)).toBe(true);
      const stored = await store.apis.get(api.identifier);
      expect(stored).toEqual(updated);
      expect(stored).not.toHaveProperty('signingAlg');

      // Fields the new record leaves out are gone.
      const cleared: ApiRecord = { ...api, name: undefined, updatedAt: 1_800_000_001_000 };
      expect(await store.apis.update(cleared)).toBe(true);
      const storedCleared = await store.apis.get(api.identifier);
      expect(storedCleared).toEqual(cleared);
      for (const field of ['name', 'scopeDescriptions', 'userConsentScopes']) {
        expect(storedCleared).not.toHaveProperty(field);
      }

      // No upsert: an API that does not exist stays missing.
      const missing = apiRecord();
      expect(await store.apis.update(missing)).toBe(false);
      expect(await store.apis.get(missing.identifier)).toBeUndefined();
    });
  });

  describe('signing keys', () => {
    it('puts, replaces by kid, lists and removes signing keys', async () => {
      const active = signingKeyRecord();
      const next = signingKeyRecord({ status: 'next', alg: 'ES256', activatedAt: undefined });
      await store.signingKeys.put(active);
      await store.signingKeys.put(next);
      const ours = async () =>
        (await store.signingKeys.list()).filter((key) => [active.kid, next.kid].includes(key.kid));

      expect(await ours()).toHaveLength(2);
      expect(await ours()).toEqual(expect.arrayContaining([active, next]));

      const retired: SigningKeyRecord = {
        ...active,
        status: 'retired',
        retiredAt: 1_800_000_000_000,
        expiresAt: 1_800_086_400_000,
      };
      await store.signingKeys.put(retired);
      expect(await ours()).toEqual(expect.arrayContaining([retired, next]));
      expect(await ours()).toHaveLength(2);

      expect(await store.signingKeys.remove(active.kid)).toBe(true);
      expect(await store.signingKeys.remove(active.kid)).toBe(false);
      expect(await ours()).toEqual([next]);
    });
  });

  describe('settings', () => {
    it('keeps the first value written by putIfAbsent; put overwrites', async () => {
      const name = unique('cookie-keys');
      expect(await store.settings.get(name)).toBeUndefined();

      expect(await store.settings.putIfAbsent(name, 'first')).toBe('first');
      expect(await store.settings.putIfAbsent(name, 'second')).toBe('first');
      expect(await store.settings.get(name)).toBe('first');

      await store.settings.put(name, 'third');
      expect(await store.settings.get(name)).toBe('third');
    });

    it('gives every concurrent putIfAbsent caller the same winning value', async () => {
      const name = unique('cookie-keys');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, index) => store.settings.putIfAbsent(name, `value-${index}`)),
      );

      expect(new Set(results).size).toBe(1);
      expect(await store.settings.get(name)).toBe(results[0]);
    });
  });

  describe('leases', () => {
    it('is held by one owner at a time, renewed by its owner, released only by its owner', async () => {
      const name = unique('key-rotation');
      expect(await store.leases.acquire(name, 'worker-a', 60_000)).toBe(true);
      expect(await store.leases.acquire(name, 'worker-b', 60_000)).toBe(false);
      expect(await store.leases.acquire(name, 'worker-a', 60_000)).toBe(true);

      expect(await store.leases.release(name, 'worker-b')).toBe(false);
      expect(await store.leases.acquire(name, 'worker-b', 60_000)).toBe(false);
      expect(await store.leases.release(name, 'worker-a')).toBe(true);
      expect(await store.leases.release(name, 'worker-a')).toBe(false);

      expect(await store.leases.acquire(name, 'worker-b', 60_000)).toBe(true);
    });

    it('lets another owner take an expired lease', async () => {
      const name = unique('refresh');
      // A lease long enough that a loaded machine still asks again before it ends.
      expect(await store.leases.acquire(name, 'worker-a', 1000)).toBe(true);
      expect(await store.leases.acquire(name, 'worker-b', 60_000)).toBe(false);

      await sleep(1100);

      expect(await store.leases.acquire(name, 'worker-b', 60_000)).toBe(true);
      expect(await store.leases.release(name, 'worker-a')).toBe(false);
      expect(await store.leases.acquire(name, 'worker-a', 60_000)).toBe(false);
    });

    it('grants a contended lease to exactly one of many concurrent owners', async () => {
      const name = unique('refresh');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, index) => store.leases.acquire(name, `worker-${index}`, 60_000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('counters', () => {
    it('counts hits within a window, then starts a new window at 1', async () => {
      const key = unique('login');
      const now = Date.now();
      expect(await store.counters.hit(key, 60_000, now)).toEqual({ count: 1, resetAt: now + 60_000 });
      // A later hit with another window length keeps the window it found.
      expect(await store.counters.hit(key, 5_000, now + 10)).toEqual({ count: 2, resetAt: now + 60_000 });
      expect(await store.counters.hit(key, 60_000, now + 59_999)).toEqual({
        count: 3,
        resetAt: now + 60_000,
      });

      expect(await store.counters.hit(key, 1_000, now + 60_000)).toEqual({ count: 1, resetAt: now + 61_000 });
    });

    it('takes a hit back within the window only, never below 0, and resets', async () => {
      const key = unique('login');
      const now = Date.now();
      await store.counters.hit(key, 60_000, now);
      await store.counters.hit(key, 60_000, now);
      await store.counters.decrement(key, now);
      expect((await store.counters.hit(key, 60_000, now)).count).toBe(2);

      await store.counters.decrement(key, now);
      await store.counters.decrement(key, now);
      await store.counters.decrement(key, now);
      expect((await store.counters.hit(key, 60_000, now)).count).toBe(1);
      // After the window, nothing is taken back: the next hit starts afresh.
      await store.counters.decrement(key, now + 60_000);
      expect((await store.counters.hit(key, 60_000, now + 60_000)).count).toBe(1);

      await store.counters.reset(key);
      await store.counters.reset(unique('never-hit'));
      expect((await store.counters.hit(key, 60_000, now)).count).toBe(1);
    });

    it('gives each of many concurrent hits a count of its own', async () => {
      const key = unique('burst');
      const states = await Promise.all(Array.from({ length: 50 }, () => store.counters.hit(key, 60_000)));
      expect(states.map((state) => state.count).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, index) => index + 1),
      );
      expect(new Set(states.map((state) => state.resetAt)).size).toBe(1);
    });

    it('purgeExpired removes counters whose window has ended', async () => {
      const fresh = await openFresh();
      const now = Date.now();
      await fresh.counters.hit(unique('ended'), 1_000, now - 5_000);
      await fresh.counters.hit(unique('ended'), 1_000, now - 5_000);
      const live = unique('live');
      await fresh.counters.hit(live, 60_000, now);

      expect(await fresh.purgeExpired(now)).toBe(2);
      expect((await fresh.counters.hit(live, 60_000, now)).count).toBe(2);
    });
  });

  describe('vault', () => {
    describe('integrations', () => {
      it('creates, gets and lists integrations, each app seeing only its own', async () => {
        const appId = unique('app');
        const otherAppId = unique('app');
        const full = vaultIntegrationRecord({ appId });
        const minimal = vaultIntegrationRecord({
          appId,
          provider: 'github',
          clientSecretSealed: undefined,
          issuer: undefined,
          authorizationParams: undefined,
          scopes: [],
          createdAt: 1_700_000_001_000,
        });
        // The same key in another app is another app's integration.
        const sameKeyElsewhere = vaultIntegrationRecord({
          appId: otherAppId,
          key: full.key,
          provider: 'slack',
        });
        for (const integration of [minimal, full, sameKeyElsewhere]) {
          await store.vaultIntegrations.create(integration);
        }

        expect(await store.vaultIntegrations.get(appId, full.key)).toEqual(full);
        const storedMinimal = await store.vaultIntegrations.get(appId, minimal.key);
        expect(storedMinimal).toEqual(minimal);
        // Exactly the record's fields: no store artefacts (`_id`, `__v`), no nulls for absent ones.
        expect(Object.keys(storedMinimal!).sort()).toEqual(
          ['appId', 'clientId', 'createdAt', 'key', 'provider', 'scopes', 'updatedAt'].sort(),
        );
        expect(await store.vaultIntegrations.get(otherAppId, full.key)).toEqual(sameKeyElsewhere);
        expect(await store.vaultIntegrations.get(otherAppId, minimal.key)).toBeUndefined();
        expect(await store.vaultIntegrations.get(appId, unique('unknown'))).toBeUndefined();

        expect(await store.vaultIntegrations.list(appId)).toEqual([full, minimal]);
        expect(await store.vaultIntegrations.list(otherAppId)).toEqual([sameKeyElsewhere]);
        expect(await store.vaultIntegrations.list(unique('app'))).toEqual([]);
      });

      it('refuses a second integration with the same key in one app', async () => {
        const integration = vaultIntegrationRecord();
        await store.vaultIntegrations.create(integration);

        await expect(
          store.vaultIntegrations.create(
            vaultIntegrationRecord({ appId: integration.appId, key: integration.key }),
          ),
        ).rejects.toBeInstanceOf(StoreConflictError);
        expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(integration);
        expect(await store.vaultIntegrations.list(integration.appId)).toHaveLength(1);
      });

      it('updates an existing integration and reports a missing one', async () => {
        const integration = vaultIntegrationRecord();
        await store.vaultIntegrations.create(integration);

        const updated: VaultIntegrationRecord = {
          ...integration,
          clientId: unique('upstream-client'),
          clientSecretSealed: undefined,
          scopes: ['openid'],
          authorizationParams: {},
          updatedAt: 1_800_000_000_000,
        };
        expect(await store.vaultIntegrations.update(updated)).toBe(true);
        const stored = await store.vaultIntegrations.get(integration.appId, integration.key);
        expect(stored).toEqual(updated);
        expect(stored?.clientSecretSealed).toBeUndefined();
        expect(stored?.authorizationParams).toEqual({});

        // No upsert: an integration that does not exist, or exists only in another app, stays missing.
        const missing = vaultIntegrationRecord();
        expect(await store.vaultIntegrations.update(missing)).toBe(false);
        expect(await store.vaultIntegrations.get(missing.appId, missing.key)).toBeUndefined();
        const otherApp = { ...updated, appId: unique('app') };
        expect(await store.vaultIntegrations.update(otherApp)).toBe(false);
        expect(await store.vaultIntegrations.list(otherApp.appId)).toEqual([]);
      });

      it('removes an integration together with its connections, and nothing else', async () => {
        const integration = vaultIntegrationRecord();
        const { appId, key } = integration;
        const sibling = vaultIntegrationRecord({ appId });
        const sameKeyElsewhere = vaultIntegrationRecord({ key });
        for (const each of [integration, sibling, sameKeyElsewhere])
          await store.vaultIntegrations.create(each);
        const doomed = [
          vaultConnectionRecord({ appId, integrationKey: key }),
          vaultConnectionRecord({ appId, integrationKey: key }),
        ];
        const kept = [
          vaultConnectionRecord({ appId, integrationKey: sibling.key, endUserId: doomed[0]!.endUserId }),
          vaultConnectionRecord({ appId: sameKeyElsewhere.appId, integrationKey: key }),
        ];
        for (const connection of [...doomed, ...kept]) await store.vaultConnections.put(connection);

        expect(await store.vaultIntegrations.remove(appId, key)).toBe(true);
        expect(await store.vaultIntegrations.remove(appId, key)).toBe(false);

        expect(await store.vaultIntegrations.get(appId, key)).toBeUndefined();
        expect(await store.vaultIntegrations.list(appId)).toEqual([sibling]);
        expect(await store.vaultConnections.list(appId, { integrationKey: key })).toEqual([]);
        for (const connection of doomed) {
          expect(
            await store.vaultConnections.get(
              connection.appId,
              connection.integrationKey,
              connection.endUserId,
            ),
          ).toBeUndefined();
        }
        for (const connection of kept) {
          expect(
            await store.vaultConnections.get(
              connection.appId,
              connection.integrationKey,
              connection.endUserId,
            ),
          ).toEqual(connection);
        }
        expect(await store.vaultIntegrations.get(sameKeyElsewhere.appId, key)).toEqual(sameKeyElsewhere);
      });

      it("removeByApp removes every integration of the app and their connections, and no other app's", async () => {
        const appId = unique('app');
        const integrations = [vaultIntegrationRecord({ appId }), vaultIntegrationRecord({ appId })];
        const elsewhere = vaultIntegrationRecord({ key: integrations[0]!.key });
        for (const each of [...integrations, elsewhere]) await store.vaultIntegrations.create(each);
        const doomed = integrations.map((integration) =>
          vaultConnectionRecord({ appId, integrationKey: integration.key }),
        );
        const kept = vaultConnectionRecord({
          appId: elsewhere.appId,
          integrationKey: elsewhere.key,
          endUserId: doomed[0]!.endUserId,
        });
        for (const connection of [...doomed, kept]) await store.vaultConnections.put(connection);
        // Read once first, so that a store remembering rows must forget them on removal.
        for (const integration of integrations) {
          expect(await store.vaultIntegrations.get(appId, integration.key)).toEqual(integration);
        }
        for (const connection of doomed) {
          expect(
            await store.vaultConnections.get(appId, connection.integrationKey, connection.endUserId),
          ).toEqual(connection);
        }

        expect(await store.vaultIntegrations.removeByApp(appId)).toBe(2);
        expect(await store.vaultIntegrations.removeByApp(appId)).toBe(0);

        expect(await store.vaultIntegrations.list(appId)).toEqual([]);
        expect(await store.vaultConnections.list(appId)).toEqual([]);
        for (const integration of integrations) {
          expect(await store.vaultIntegrations.get(appId, integration.key)).toBeUndefined();
        }
        for (const connection of doomed) {
          expect(
            await store.vaultConnections.get(appId, connection.integrationKey, connection.endUserId),
          ).toBeUndefined();
        }
        expect(await store.vaultIntegrations.list(elsewhere.appId)).toEqual([elsewhere]);
        expect(await store.vaultConnections.list(elsewhere.appId)).toEqual([kept]);
        expect(await store.vaultIntegrations.removeByApp(unique('app'))).toBe(0);
      });
    });

    describe('connections', () => {
      it('puts, gets and replaces connections', async () => {
        const full = vaultConnectionRecord();
        const minimal = vaultConnectionRecord({
          status: 'needs_reauth',
          expiresAt: undefined,
          scopes: [],
          lastRefreshAt: undefined,
          lastError: undefined,
          refreshFailures: 0,
          nextRefreshAt: undefined,
        });
        await store.vaultConnections.put(full);
        await store.vaultConnections.put(minimal);

        expect(await store.vaultConnections.get(full.appId, full.integrationKey, full.endUserId)).toEqual(
          full,
        );
        const storedMinimal = await store.vaultConnections.get(
          minimal.appId,
          minimal.integrationKey,
          minimal.endUserId,
        );
        expect(storedMinimal).toEqual(minimal);
        expect(Object.keys(storedMinimal!).sort()).toEqual(
          [
            'appId',
            'createdAt',
            'endUserId',
            'integrationKey',
            'refreshFailures',
            'scopes',
            'status',
            'tokensSealed',
            'updatedAt',
            'version',
          ].sort(),
        );
        expect(
          await store.vaultConnections.get(unique('app'), full.integrationKey, full.endUserId),
        ).toBeUndefined();
        expect(
          await store.vaultConnections.get(full.appId, full.integrationKey, unique('end-user')),
        ).toBeUndefined();

        // put replaces the whole record, whatever its version: fields left out are gone.
        const replaced: VaultConnectionRecord = {
          ...full,
          status: 'revoked',
          lastError: undefined,
          nextRefreshAt: undefined,
          version: 7,
        };
        await store.vaultConnections.put(replaced);
        const stored = await store.vaultConnections.get(full.appId, full.integrationKey, full.endUserId);
        expect(stored).toEqual(replaced);
        expect(stored?.lastError).toBeUndefined();
        expect(await store.vaultConnections.list(full.appId)).toEqual([replaced]);
      });

      it("lists an app's connections by integration and by end user, never another app's", async () => {
        const appId = unique('app');
        const otherAppId = unique('app');
        const [github, slack, alice, bob] = [
          unique('github'),
          unique('slack'),
          unique('alice'),
          unique('bob'),
        ];
        const aliceGithub = vaultConnectionRecord({
          appId,
          integrationKey: github,
          endUserId: alice,
          createdAt: 1_700_000_001_000,
        });
        const aliceSlack = vaultConnectionRecord({
          appId,
          integrationKey: slack,
          endUserId: alice,
          createdAt: 1_700_000_002_000,
        });
        const bobGithub = vaultConnectionRecord({
          appId,
          integrationKey: github,
          endUserId: bob,
          createdAt: 1_700_000_003_000,
        });
        const elsewhere = vaultConnectionRecord({
          appId: otherAppId,
          integrationKey: github,
          endUserId: alice,
        });
        for (const connection of [bobGithub, elsewhere, aliceSlack, aliceGithub]) {
          await store.vaultConnections.put(connection);
        }

        expect(await store.vaultConnections.list(appId)).toEqual([aliceGithub, aliceSlack, bobGithub]);
        expect(await store.vaultConnections.list(appId, {})).toEqual([aliceGithub, aliceSlack, bobGithub]);
        expect(await store.vaultConnections.list(appId, { integrationKey: github })).toEqual([
          aliceGithub,
          bobGithub,
        ]);
        expect(await store.vaultConnections.list(appId, { endUserId: alice })).toEqual([
          aliceGithub,
          aliceSlack,
        ]);
        expect(
          await store.vaultConnections.list(appId, { integrationKey: github, endUserId: alice }),
        ).toEqual([aliceGithub]);
        expect(await store.vaultConnections.list(appId, { integrationKey: slack, endUserId: bob })).toEqual(
          [],
        );

        expect(await store.vaultConnections.list(otherAppId)).toEqual([elsewhere]);
        expect(await store.vaultConnections.list(otherAppId, { endUserId: alice })).toEqual([elsewhere]);
        expect(await store.vaultConnections.list(otherAppId, { integrationKey: slack })).toEqual([]);
        expect(await store.vaultConnections.list(otherAppId, { endUserId: bob })).toEqual([]);
        expect(await store.vaultConnections.list(unique('app'))).toEqual([]);
      });

      it('removes one connection', async () => {
        const connection = vaultConnectionRecord();
        const { appId, integrationKey, endUserId } = connection;
        const neighbour = vaultConnectionRecord({ appId, integrationKey });
        await store.vaultConnections.put(connection);
        await store.vaultConnections.put(neighbour);

        expect(await store.vaultConnections.remove(unique('app'), integrationKey, endUserId)).toBe(false);
        expect(await store.vaultConnections.remove(appId, integrationKey, endUserId)).toBe(true);
        expect(await store.vaultConnections.remove(appId, integrationKey, endUserId)).toBe(false);
        expect(await store.vaultConnections.get(appId, integrationKey, endUserId)).toBeUndefined();
        expect(await store.vaultConnections.list(appId)).toEqual([neighbour]);
      });

      it('replaceIfVersion replaces only the version it was given', async () => {
        const connection = vaultConnectionRecord({ version: 3 });
        const { appId, integrationKey, endUserId } = connection;
        await store.vaultConnections.put(connection);

        const refreshed = nextVersionOf(connection, { lastError: undefined, refreshFailures: 0 });
        expect(await store.vaultConnections.replaceIfVersion(refreshed, 3)).toBe(true);
        expect(await store.vaultConnections.get(appId, integrationKey, endUserId)).toEqual(refreshed);

        // A writer that read version 3 before the refresh is too late now.
        const stale = nextVersionOf(connection, { status: 'needs_reauth' });
        expect(await store.vaultConnections.replaceIfVersion(stale, 3)).toBe(false);
        expect(await store.vaultConnections.get(appId, integrationKey, endUserId)).toEqual(refreshed);

        // A connection that is gone stays gone.
        const removed = vaultConnectionRecord();
        expect(await store.vaultConnections.replaceIfVersion(nextVersionOf(removed), removed.version)).toBe(
          false,
        );
        expect(
          await store.vaultConnections.get(removed.appId, removed.integrationKey, removed.endUserId),
        ).toBeUndefined();
      });

      it('refuses a replacement that does not move the version on', async () => {
        const connection = vaultConnectionRecord({ version: 4 });
        await store.vaultConnections.put(connection);

        await expect(store.vaultConnections.replaceIfVersion(connection, 4)).rejects.toBeInstanceOf(
          TypeError,
        );
        expect(
          await store.vaultConnections.get(connection.appId, connection.integrationKey, connection.endUserId),
        ).toEqual(connection);
      });

      it('lets exactly one of 20 concurrent replaceIfVersion calls with the same version win', async () => {
        const connection = vaultConnectionRecord();
        await store.vaultConnections.put(connection);
        const attempts = Array.from({ length: 20 }, (_, index) =>
          nextVersionOf(connection, { tokensSealed: `sealed-by-writer-${index}` }),
        );

        const results = await Promise.all(
          attempts.map((attempt) => store.vaultConnections.replaceIfVersion(attempt, connection.version)),
        );

        expect(results.filter(Boolean)).toHaveLength(1);
        expect(
          await store.vaultConnections.get(connection.appId, connection.integrationKey, connection.endUserId),
        ).toEqual(attempts[results.indexOf(true)]);
      });
    });
  });

  // Re-encrypting under a new master key (`latchkey keys rewrap`) while servers run: a
  // compare-and-swap of the one sealed field, which never undoes what a server wrote meanwhile.
  describe('resealIfUnchanged', () => {
    it('swaps an oidc payload only while it is unchanged, keeping consumedAt and every other field', async () => {
      const token = oidcRecord({
        model: 'RefreshToken',
        grantId: unique('grant'),
        uid: unique('uid'),
        userCode: randomBytes(32).toString('hex'),
        accountId: unique('account'),
        clientId: unique('client'),
        expiresAt: inOneMinute(),
      });
      await store.oidc.upsert(token);
      const location = { kind: 'oidc', model: token.model, key: token.key } as const;
      // Read once (a store may remember it), then consumed by a server.
      expect(await store.oidc.find(token.model, token.key)).toEqual(token);
      expect(await store.oidc.consume(token.model, token.key, 1_700_000_321)).toBe(true);

      expect(await store.resealIfUnchanged(location, unique('sealed'), 'resealed')).toBe(false);
      expect(await store.resealIfUnchanged(location, token.payload, 'resealed')).toBe(true);
      const consumed = { ...token, payload: 'resealed', consumedAt: 1_700_000_321 };
      expect(await store.oidc.find(token.model, token.key)).toEqual(consumed);
      // Still consumed: a second consume loses, as it did before the swap.
      expect(await store.oidc.consume(token.model, token.key, 1_700_000_999)).toBe(false);

      // A swap from the old text again (a second, stale rewrap) changes nothing.
      expect(await store.resealIfUnchanged(location, token.payload, 'stale')).toBe(false);
      expect(await store.oidc.find(token.model, token.key)).toEqual(consumed);
      expect(
        await store.resealIfUnchanged({ kind: 'oidc', model: token.model, key: 'unknown-key' }, 'x', 'y'),
      ).toBe(false);
    });

    it('never overwrites an oidc record saved again meanwhile', async () => {
      const session = oidcRecord({ model: 'Session', expiresAt: inOneMinute() });
      await store.oidc.upsert(session);
      const savedAgain = { ...session, payload: unique('sealed'), accountId: unique('account') };
      await store.oidc.upsert(savedAgain);

      const location = { kind: 'oidc', model: session.model, key: session.key } as const;
      expect(await store.resealIfUnchanged(location, session.payload, 'resealed')).toBe(false);
      expect(await store.oidc.find(session.model, session.key)).toEqual(savedAgain);
    });

    it("swaps a client's secret alone, and never undoes a rotated one", async () => {
      const client = clientRecord();
      await store.clients.put(client);
      const location = { kind: 'client', clientId: client.clientId } as const;
      expect(await store.resealIfUnchanged(location, client.secretSealed!, 'resealed')).toBe(true);
      expect(await store.clients.get(client.clientId)).toEqual({ ...client, secretSealed: 'resealed' });

      const rotated = { ...client, secretSealed: unique('sealed-secret'), updatedAt: client.updatedAt + 1 };
      await store.clients.put(rotated);
      expect(await store.resealIfUnchanged(location, 'resealed', 'stale')).toBe(false);
      expect(await store.clients.get(client.clientId)).toEqual(rotated);

      const publicClient = clientRecord({ secretSealed: undefined });
      await store.clients.put(publicClient);
      expect(
        await store.resealIfUnchanged({ kind: 'client', clientId: publicClient.clientId }, '', 'resealed'),
      ).toBe(false);
      expect(await store.clients.get(publicClient.clientId)).toEqual(publicClient);
    });

    it("swaps a signing key's private part and a setting's value alone, only while unchanged", async () => {
      const key = signingKeyRecord();
      await store.signingKeys.put(key);
      const keyLocation = { kind: 'signingKey', kid: key.kid } as const;
      expect(await store.resealIfUnchanged(keyLocation, 'other', 'resealed')).toBe(false);
      expect(await store.resealIfUnchanged(keyLocation, key.privateSealed, 'resealed')).toBe(true);
      expect((await store.signingKeys.list()).find((each) => each.kid === key.kid)).toEqual({
        ...key,
        privateSealed: 'resealed',
      });

      const name = unique('cookie-keys');
      await store.settings.put(name, 'sealed-cookie-keys');
      const settingLocation = { kind: 'setting', name } as const;
      expect(await store.resealIfUnchanged(settingLocation, 'sealed-cookie-keys', 'resealed')).toBe(true);
      expect(await store.settings.get(name)).toBe('resealed');
      expect(await store.resealIfUnchanged(settingLocation, 'sealed-cookie-keys', 'stale')).toBe(false);
      expect(await store.settings.get(name)).toBe('resealed');
      expect(await store.resealIfUnchanged({ kind: 'setting', name: unique('none') }, 'a', 'b')).toBe(false);
    });

    it("swaps a vault integration's client secret alone, only while unchanged", async () => {
      const integration = vaultIntegrationRecord();
      await store.vaultIntegrations.create(integration);
      const location = { kind: 'vaultIntegration', appId: integration.appId, key: integration.key } as const;
      expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(integration);

      expect(await store.resealIfUnchanged(location, integration.clientSecretSealed!, 'resealed')).toBe(true);
      const resealed = { ...integration, clientSecretSealed: 'resealed' };
      expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(resealed);

      const changed = {
        ...resealed,
        clientSecretSealed: unique('sealed'),
        updatedAt: integration.updatedAt + 1,
      };
      expect(await store.vaultIntegrations.update(changed)).toBe(true);
      expect(await store.resealIfUnchanged(location, 'resealed', 'stale')).toBe(false);
      expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(changed);
    });

    it("swaps a vault connection's token set alone, keeping its version, and never undoes a refresh", async () => {
      const connection = vaultConnectionRecord();
      await store.vaultConnections.put(connection);
      const { appId, integrationKey, endUserId } = connection;
      const location = { kind: 'vaultConnection', appId, integrationKey, endUserId } as const;
      // Read by a server about to refresh (and maybe remembered by the store).
      const readByServer = await store.vaultConnections.get(appId, integrationKey, endUserId);
      expect(readByServer).toEqual(connection);

      expect(await store.resealIfUnchanged(location, connection.tokensSealed, 'resealed')).toBe(true);
      expect(await store.vaultConnections.get(appId, integrationKey, endUserId)).toEqual({
        ...connection,
        tokensSealed: 'resealed',
      });

      // The server's refresh, from the copy it read before the swap, still wins: same version.
      const refreshed = nextVersionOf(readByServer!);
      expect(await store.vaultConnections.replaceIfVersion(refreshed, readByServer!.version)).toBe(true);
      // And a swap from what the rewrap read before the refresh never brings the old tokens back.
      expect(await store.resealIfUnchanged(location, 'resealed', 'stale')).toBe(false);
      expect(await store.resealIfUnchanged(location, connection.tokensSealed, 'stale')).toBe(false);
      expect(await store.vaultConnections.get(appId, integrationKey, endUserId)).toEqual(refreshed);
    });
  });

  describe('export and import', () => {
    it('moves every kind of record to a fresh store unchanged', async () => {
      const source = await openFresh();
      const consumed = oidcRecord({
        model: 'AuthorizationCode',
        grantId: 'grant-1',
        expiresAt: inOneMinute(),
        consumedAt: 1_700_000_500,
      });
      const session = oidcRecord({ model: 'Session', uid: 'uid-1', expiresAt: inOneMinute() });
      const deviceCode = oidcRecord({ model: 'DeviceCode', userCode: 'c0de', grantId: 'grant-1' });
      const client = clientRecord();
      const publicClient = clientRecord({ secretSealed: undefined });
      const account = accountRecord();
      const disabledAccount = accountRecord({ disabled: true });
      const accessToken = oidcRecord({
        model: 'AccessToken',
        grantId: 'grant-2',
        clientId: client.clientId,
        accountId: account.id,
        expiresAt: inOneMinute(),
      });
      const api = apiRecord({
        scopeDescriptions: { read: 'Read your data', 'write.all': 'Change your data' },
        userConsentScopes: ['read'],
        updatedAt: 1_700_000_100_000,
      });
      const minimalApi = apiRecord({ name: undefined, signingAlg: undefined });
      const grant = clientGrantRecord({ clientId: client.clientId, api: api.identifier });
      const publicGrant = clientGrantRecord({
        clientId: publicClient.clientId,
        api: api.identifier,
        scopes: ['read'],
      });
      const key = signingKeyRecord({
        status: 'retired',
        retiredAt: 1_800_000_000_000,
        expiresAt: 1_900_000_000_000,
      });
      const integration = vaultIntegrationRecord();
      const minimalIntegration = vaultIntegrationRecord({
        appId: integration.appId,
        clientSecretSealed: undefined,
        issuer: undefined,
        authorizationParams: undefined,
      });
      const connection = vaultConnectionRecord({ appId: integration.appId, integrationKey: integration.key });
      const minimalConnection = vaultConnectionRecord({
        appId: integration.appId,
        integrationKey: integration.key,
        expiresAt: undefined,
        lastRefreshAt: undefined,
        lastError: undefined,
        nextRefreshAt: undefined,
      });

      for (const record of [consumed, session, deviceCode, accessToken]) await source.oidc.upsert(record);
      await source.clients.put(client);
      await source.clients.put(publicClient);
      await source.accounts.create(account);
      await source.accounts.create(disabledAccount);
      await source.apis.create(api);
      await source.apis.create(minimalApi);
      await source.clientGrants.put(grant);
      await source.clientGrants.put(publicGrant);
      await source.signingKeys.put(key);
      await source.settings.put('cookie-keys', 'sealed-cookie-keys');
      await source.vaultIntegrations.create(integration);
      await source.vaultIntegrations.create(minimalIntegration);
      await source.vaultConnections.put(connection);
      await source.vaultConnections.put(minimalConnection);

      const expected: ExportEntry[] = [
        ...[consumed, session, deviceCode, accessToken].map((record) => ({ kind: 'oidc' as const, record })),
        { kind: 'client', record: client },
        { kind: 'client', record: publicClient },
        { kind: 'clientGrant', record: grant },
        { kind: 'clientGrant', record: publicGrant },
        { kind: 'account', record: account },
        { kind: 'account', record: disabledAccount },
        { kind: 'api', record: api },
        { kind: 'api', record: minimalApi },
        { kind: 'signingKey', record: key },
        { kind: 'setting', record: { name: 'cookie-keys', value: 'sealed-cookie-keys' } },
        { kind: 'vaultIntegration', record: integration },
        { kind: 'vaultIntegration', record: minimalIntegration },
        { kind: 'vaultConnection', record: connection },
        { kind: 'vaultConnection', record: minimalConnection },
      ];
      const exported = await collect(source.exportAll());
      expect(sortedByIdentity(exported)).toEqual(sortedByIdentity(expected));

      const copy = await openFresh();
      for (const entry of exported) await copy.importEntry(entry);
      expect(sortedByIdentity(await collect(copy.exportAll()))).toEqual(sortedByIdentity(expected));

      // The copy works as a store, not only as a list of rows.
      expect(await copy.oidc.findByUid('Session', 'uid-1')).toEqual(session);
      expect(await copy.oidc.findByUserCode('DeviceCode', 'c0de')).toEqual(deviceCode);
      expect(await copy.oidc.consume(consumed.model, consumed.key, 1_700_000_999)).toBe(false);
      expect(await copy.accounts.findByEmail(account.email)).toEqual(account);
      await expect(copy.accounts.create(accountRecord({ email: account.email }))).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await copy.accounts.findByEmail(disabledAccount.email)).toEqual(disabledAccount);
      expect(await copy.apis.get(api.identifier)).toEqual(api);
      expect(await copy.settings.putIfAbsent('cookie-keys', 'other')).toBe('sealed-cookie-keys');
      await copy.oidc.revokeByGrantId('grant-1');
      expect(await copy.oidc.find(deviceCode.model, deviceCode.key)).toBeUndefined();
      expect(await copy.clientGrants.get(client.clientId, api.identifier)).toEqual(grant);
      expect(await copy.clientGrants.listByApi(api.identifier)).toEqual(
        [grant, publicGrant].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)),
      );
      expect(await copy.oidc.findByAccountId('AccessToken', account.id)).toEqual([accessToken]);
      expect(await copy.oidc.revokeByClientId(client.clientId)).toBe(1);
      expect(await copy.vaultIntegrations.list(integration.appId)).toEqual(
        expect.arrayContaining([integration, minimalIntegration]),
      );
      expect(
        await copy.vaultConnections.list(integration.appId, { endUserId: connection.endUserId }),
      ).toEqual([connection]);
      const refreshed = nextVersionOf(connection);
      expect(await copy.vaultConnections.replaceIfVersion(refreshed, connection.version)).toBe(true);
      expect(await copy.vaultConnections.replaceIfVersion(refreshed, connection.version)).toBe(false);
      await expect(copy.vaultIntegrations.create(integration)).rejects.toBeInstanceOf(StoreConflictError);

      // Importing again replaces rather than duplicates or conflicts.
      for (const entry of exported) await copy.importEntry(entry);
      expect(await copy.accounts.list()).toHaveLength(2);
      expect(await copy.accounts.list()).toEqual(expect.arrayContaining([account, disabledAccount]));
      expect(await copy.clientGrants.listByApi(api.identifier)).toHaveLength(2);
      expect(await copy.oidc.find(deviceCode.model, deviceCode.key)).toEqual(deviceCode);
      expect(await copy.vaultIntegrations.list(integration.appId)).toHaveLength(2);
      expect(await copy.vaultConnections.list(integration.appId)).toEqual(
        expect.arrayContaining([connection, minimalConnection]),
      );
      expect(await copy.vaultConnections.list(integration.appId)).toHaveLength(2);
    });
  });
});

// The reason is printed twice on purpose: the warning shows in any reporter, the title in the list of skips.
for (const { name, skipReason } of targets) {
  if (skipReason === undefined) continue;
  console.warn(`${name} store contract skipped: ${skipReason}`);
  describe.skip(`${name} store — skipped: ${skipReason}`, () => {
    it('passes the store contract', () => undefined);
  });
}

/** Takes a SQLite database of schema version 4 back to version 3, as a build of version 3 made it. */
const UNDO_VERSION_4 = `
  DROP TABLE client_grants;
  DROP INDEX oidc_records_client_id;
  DROP INDEX oidc_records_account;
  ALTER TABLE oidc_records DROP COLUMN client_id;
  CREATE INDEX oidc_records_account_id ON oidc_records (model, account_id) WHERE account_id IS NOT NULL;
  ALTER TABLE apis DROP COLUMN scope_descriptions;
  ALTER TABLE apis DROP COLUMN user_consent_scopes;
  ALTER TABLE apis DROP COLUMN updated_at;
  ALTER TABLE accounts DROP COLUMN disabled;
  PRAGMA user_version = 3;
`;

describe('sqlite store on one file shared by two processes', () => {
  let directory: string;
  const opened: Store[] = [];
  const open = (path: string) => {
    const store = openSqliteStore(path);
    opened.push(store);
    return store;
  };

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'latchkey-sqlite-'));
  });

  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
    await rm(directory, { recursive: true, force: true });
  });

  it('shows each handle the writes of the other, and keeps consume and leases exclusive', async () => {
    const path = join(directory, 'shared.db');
    const first = open(path);
    const second = open(path);

    const code = oidcRecord({ model: 'AuthorizationCode', expiresAt: inOneMinute() });
    await first.oidc.upsert(code);
    expect(await second.oidc.find(code.model, code.key)).toEqual(code);
    expect(await second.oidc.consume(code.model, code.key, 1_700_000_000)).toBe(true);
    expect(await first.oidc.consume(code.model, code.key, 1_700_000_001)).toBe(false);

    expect(await first.settings.putIfAbsent('cookie-keys', 'from-first')).toBe('from-first');
    expect(await second.settings.putIfAbsent('cookie-keys', 'from-second')).toBe('from-first');

    expect(await first.leases.acquire('key-rotation', 'process-1', 60_000)).toBe(true);
    expect(await second.leases.acquire('key-rotation', 'process-2', 60_000)).toBe(false);
    expect(await second.leases.release('key-rotation', 'process-2')).toBe(false);
    expect(await first.leases.release('key-rotation', 'process-1')).toBe(true);
    expect(await second.leases.acquire('key-rotation', 'process-2', 60_000)).toBe(true);
  });

  it('counts the hits of both handles on one counter, each once', async () => {
    const path = join(directory, 'counters.db');
    const handles = [open(path), open(path)];
    const states = await Promise.all(
      Array.from({ length: 40 }, (_, index) => handles[index % 2]!.counters.hit('login:burst', 60_000)),
    );
    expect(states.map((state) => state.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, index) => index + 1),
    );
  });

  it('lets exactly one of two handles win a replaceIfVersion race on one connection', async () => {
    const path = join(directory, 'vault.db');
    const handles = [open(path), open(path)];
    const connection = vaultConnectionRecord();
    const { appId, integrationKey, endUserId } = connection;
    await handles[0]!.vaultConnections.put(connection);

    // Both handles read version 1, then race to save their own refresh of it.
    const attempts = Array.from({ length: 10 }, (_, index) =>
      nextVersionOf(connection, { tokensSealed: `sealed-by-handle-${index % 2}-writer-${index}` }),
    );
    const results = await Promise.all(
      attempts.map((attempt, index) =>
        handles[index % 2]!.vaultConnections.replaceIfVersion(attempt, connection.version),
      ),
    );

    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = attempts[results.indexOf(true)];
    for (const handle of handles)
      expect(await handle.vaultConnections.get(appId, integrationKey, endUserId)).toEqual(winner);
  });

  it('removes an integration and its connections for every handle at once', async () => {
    const path = join(directory, 'vault.db');
    const [first, second] = [open(path), open(path)];
    const integration = vaultIntegrationRecord();
    await first.vaultIntegrations.create(integration);
    await expect(second.vaultIntegrations.create(integration)).rejects.toBeInstanceOf(StoreConflictError);
    await second.vaultConnections.put(
      vaultConnectionRecord({ appId: integration.appId, integrationKey: integration.key }),
    );

    expect(await first.vaultIntegrations.remove(integration.appId, integration.key)).toBe(true);
    expect(await second.vaultIntegrations.get(integration.appId, integration.key)).toBeUndefined();
    expect(await second.vaultConnections.list(integration.appId)).toEqual([]);
  });

  it('upgrades a database made before the vault tables existed, keeping its data', async () => {
    const path = join(directory, 'before-vault.db');
    const account = accountRecord();
    const earlier = openSqliteStore(path);
    await earlier.accounts.create(account);
    await earlier.close();
    // Back to schema version 2, exactly as a build without the vault left it: version 3 only adds tables.
    const database = new DatabaseSync(path);
    database.exec(UNDO_VERSION_4);
    database.exec('DROP TABLE vault_connections; DROP TABLE vault_integrations; PRAGMA user_version = 2;');
    database.close();

    const store = open(path);
    expect(await store.accounts.get(account.id)).toEqual(account);
    const integration = vaultIntegrationRecord();
    await store.vaultIntegrations.create(integration);
    expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(integration);
    const connection = vaultConnectionRecord({ appId: integration.appId, integrationKey: integration.key });
    await store.vaultConnections.put(connection);
    expect(await store.vaultConnections.list(integration.appId, { endUserId: connection.endUserId })).toEqual(
      [connection],
    );
  });

  it('upgrades a database of schema version 3 to 4, keeping its data and ending with the schema of a new one', async () => {
    const path = join(directory, 'version-3.db');
    const account = accountRecord();
    const api = apiRecord();
    const accountId = unique('account');
    const grant = oidcRecord({
      model: 'Grant',
      grantId: unique('grant'),
      accountId,
      expiresAt: inOneMinute(),
    });
    const integration = vaultIntegrationRecord();
    const earlier = openSqliteStore(path);
    await earlier.accounts.create(account);
    await earlier.apis.create(api);
    await earlier.oidc.upsert(grant);
    await earlier.vaultIntegrations.create(integration);
    await earlier.close();
    // Back to schema version 3, exactly as a build before client grants left it.
    const database = new DatabaseSync(path);
    database.exec(UNDO_VERSION_4);
    database.close();

    const store = open(path);
    // What was there reads back as it was written: the new fields are absent, not null.
    const storedAccount = await store.accounts.get(account.id);
    expect(storedAccount).toEqual(account);
    expect(storedAccount).not.toHaveProperty('disabled');
    const storedApi = await store.apis.get(api.identifier);
    expect(storedApi).toEqual(api);
    expect(Object.keys(storedApi!).sort()).toEqual(Object.keys(api).sort());
    expect(await store.oidc.find(grant.model, grant.key)).toEqual(grant);
    expect(await store.oidc.findByAccountId('Grant', accountId)).toEqual([grant]);
    expect(await store.vaultIntegrations.get(integration.appId, integration.key)).toEqual(integration);

    // And the new features work on it.
    expect(await store.accounts.update(account.id, { disabled: true })).toBe(true);
    expect((await store.accounts.get(account.id))?.disabled).toBe(true);
    const updatedApi: ApiRecord = { ...api, userConsentScopes: ['read'], updatedAt: 1_800_000_000_000 };
    expect(await store.apis.update(updatedApi)).toBe(true);
    expect(await store.apis.get(api.identifier)).toEqual(updatedApi);
    const clientGrant = clientGrantRecord({ api: api.identifier });
    await store.clientGrants.put(clientGrant);
    expect(await store.clientGrants.listByApi(api.identifier)).toEqual([clientGrant]);
    const token = oidcRecord({ model: 'AccessToken', clientId: clientGrant.clientId, accountId });
    await store.oidc.upsert(token);
    expect(await store.oidc.revokeByClientId(clientGrant.clientId)).toBe(1);
    expect(await store.oidc.revokeByAccountId(accountId)).toBe(1);
    expect(await store.oidc.find(grant.model, grant.key)).toBeUndefined();

    const schemaOf = (file: string) => {
      const handle = new DatabaseSync(file, { readOnly: true });
      try {
        return {
          version: handle.prepare('PRAGMA user_version').get(),
          objects: handle.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name').all(),
        };
      } finally {
        handle.close();
      }
    };
    const freshPath = join(directory, 'version-4.db');
    await openSqliteStore(freshPath).close();
    expect(schemaOf(path)).toEqual(schemaOf(freshPath));
  });

  it('serves lookups by client, by account and by API from indexes, never a scan or a sort', async () => {
    const path = join(directory, 'indexes.db');
    await openSqliteStore(path).close();
    const database = new DatabaseSync(path, { readOnly: true });
    const plan = (sql: string) =>
      (database.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((step) => step.detail)
        .join('; ');
    try {
      expect(plan("DELETE FROM oidc_records WHERE client_id = 'c'")).toMatch(
        /^SEARCH oidc_records USING INDEX oidc_records_client_id/,
      );
      expect(plan("DELETE FROM oidc_records WHERE account_id = 'a'")).toMatch(
        /^SEARCH oidc_records USING INDEX oidc_records_account /,
      );
      expect(plan("SELECT * FROM oidc_records WHERE model = 'Grant' AND account_id = 'a'")).toMatch(
        /^SEARCH oidc_records USING INDEX oidc_records_account \(account_id=\? AND model=\?\)$/,
      );
      expect(plan("SELECT * FROM client_grants WHERE api = 'x' ORDER BY client_id")).toMatch(
        /^SEARCH client_grants USING INDEX client_grants_api \(api=\?\)$/,
      );
      expect(plan("SELECT * FROM client_grants WHERE client_id = 'c' ORDER BY api")).toMatch(
        /^SEARCH client_grants USING (PRIMARY KEY|INDEX sqlite_autoindex_client_grants_1) \(client_id=\?\)$/,
      );
    } finally {
      database.close();
    }
  });

  it('creates missing directories, uses WAL, and keeps its data across reopening', async () => {
    const path = join(directory, 'nested', 'data', 'latchkey.db');
    const store = openSqliteStore(path);
    const account = accountRecord();
    await store.accounts.create(account);
    await store.close();

    const journal = new DatabaseSync(path, { readOnly: true });
    expect(journal.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    journal.close();

    const reopened = open(path);
    expect(await reopened.accounts.get(account.id)).toEqual(account);
  });

  it('refuses a database written by a newer schema', async () => {
    const path = join(directory, 'newer.db');
    const database = new DatabaseSync(path);
    database.exec('PRAGMA user_version = 999');
    database.close();

    expect(() => openSqliteStore(path)).toThrow(/schema version 999 is newer/);
  });

  it('runs in memory', async () => {
    const store = open(':memory:');
    await store.settings.put('name', 'value');
    expect(await store.settings.get('name')).toBe('value');
  });
});
