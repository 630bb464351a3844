// The PostgreSQL store as several Latchkey instances use it: store handles with pools of their
// own on one database see each other's writes at once, and consume, leases and replaceIfVersion
// stay exclusive across them; instances starting together migrate once. Skipped, with the reason,
// where no PostgreSQL server answers (see support/postgres.ts).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config/index.js';
import { openStore } from '../src/store/index.js';
import { openPostgresStore, SCHEMA_VERSION, type PostgresStore } from '../src/store/postgres/index.js';
import {
  StoreConflictError,
  type OidcRecord,
  type Store,
  type VaultConnectionRecord,
  type VaultIntegrationRecord,
} from '../src/store/types.js';
import { postgresSkipReason, TestDatabases } from './support/postgres.js';

const skipReason = await postgresSkipReason();

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${(sequence += 1)}-${randomBytes(4).toString('hex')}`;
const inOneMinute = () => Date.now() + 60_000;

const oidcRecord = (overrides: Partial<OidcRecord> = {}): OidcRecord => ({
  model: 'AuthorizationCode',
  key: randomBytes(32).toString('hex'),
  payload: unique('sealed'),
  expiresAt: inOneMinute(),
  ...overrides,
});

const integrationRecord = (): VaultIntegrationRecord => ({
  appId: unique('app'),
  key: unique('github'),
  provider: 'github',
  clientId: unique('upstream-client'),
  scopes: ['repo'],
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
});

const connectionRecord = (overrides: Partial<VaultConnectionRecord> = {}): VaultConnectionRecord => ({
  appId: unique('app'),
  integrationKey: unique('github'),
  endUserId: unique('end-user'),
  status: 'active',
  tokensSealed: unique('sealed-token-set'),
  expiresAt: 1_700_003_600_000,
  scopes: ['repo'],
  refreshFailures: 0,
  version: 1,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...overrides,
});

if (skipReason !== undefined) {
  console.warn(`postgres shared-database tests skipped: ${skipReason}`);
  describe.skip(`postgres store on one database shared by two instances — skipped: ${skipReason}`, () => {
    it('shares one database between instances', () => undefined);
  });
} else {
  describe('postgres store on one database shared by two instances', () => {
    const databases = new TestDatabases();
    const opened: Store[] = [];
    let url: string;
    let first: Store;
    let second: Store;

    const open = async (databaseUrl: string) => {
      const store = await openPostgresStore(databaseUrl, { poolSize: 4 });
      opened.push(store);
      return store;
    };

    beforeAll(async () => {
      url = await databases.create();
      [first, second] = [await open(url), await open(url)];
    });

    afterAll(async () => {
      await Promise.all(opened.map((store) => store.close()));
      await databases.dropAll();
    });

    it('migrates a fresh database once when instances open it at the same time', async () => {
      const fresh = await databases.create();
      const stores = (await Promise.all([open(fresh), open(fresh), open(fresh)])) as PostgresStore[];

      const everyVersion = Array.from({ length: SCHEMA_VERSION }, (_, index) => index + 1);
      expect(stores.map((store) => store.migrated).sort((a, b) => b.length - a.length)).toEqual([
        everyVersion,
        [],
        [],
      ]);
      const client = new pg.Client({ connectionString: fresh });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>(
          'SELECT version FROM latchkey_schema_migrations ORDER BY version',
        );
        expect(rows.map((row) => row.version)).toEqual(everyVersion);
      } finally {
        await client.end();
      }
      // Each works: what one writes, the others read.
      await stores[0]!.settings.put('cookie-keys', 'sealed');
      expect(await stores[2]!.settings.get('cookie-keys')).toBe('sealed');
      // A later start finds nothing to do.
      expect(((await open(fresh)) as PostgresStore).migrated).toEqual([]);
    });

    it('shows each handle the writes of the other, and keeps consume and leases exclusive', async () => {
      const code = oidcRecord();
      await first.oidc.upsert(code);
      expect(await second.oidc.find(code.model, code.key)).toEqual(code);
      expect(await second.oidc.consume(code.model, code.key, 1_700_000_000)).toBe(true);
      expect(await first.oidc.consume(code.model, code.key, 1_700_000_001)).toBe(false);
      expect(await first.oidc.find(code.model, code.key)).toEqual({ ...code, consumedAt: 1_700_000_000 });

      const name = unique('cookie-keys');
      expect(await first.settings.putIfAbsent(name, 'from-first')).toBe('from-first');
      expect(await second.settings.putIfAbsent(name, 'from-second')).toBe('from-first');

      const lease = unique('key-rotation');
      expect(await first.leases.acquire(lease, 'process-1', 60_000)).toBe(true);
      expect(await second.leases.acquire(lease, 'process-2', 60_000)).toBe(false);
      expect(await second.leases.release(lease, 'process-2')).toBe(false);
      expect(await first.leases.release(lease, 'process-1')).toBe(true);
      expect(await second.leases.acquire(lease, 'process-2', 60_000)).toBe(true);
    });

    it('lets exactly one consume, one lease owner and one putIfAbsent win across handles racing', async () => {
      const handles = [first, second];
      const code = oidcRecord({ model: 'RefreshToken' });
      await first.oidc.upsert(code);
      const consumed = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          handles[index % 2]!.oidc.consume(code.model, code.key, 1_700_000_000 + index),
        ),
      );
      expect(consumed.filter(Boolean)).toHaveLength(1);
      expect((await second.oidc.find(code.model, code.key))?.consumedAt).toBe(
        1_700_000_000 + consumed.indexOf(true),
      );

      const lease = unique('refresh');
      const acquired = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          handles[index % 2]!.leases.acquire(lease, `worker-${index}`, 60_000),
        ),
      );
      expect(acquired.filter(Boolean)).toHaveLength(1);

      const setting = unique('cookie-keys');
      const values = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          handles[index % 2]!.settings.putIfAbsent(setting, `v${index}`),
        ),
      );
      expect(new Set(values).size).toBe(1);
    });

    it('lets exactly one of two handles win a replaceIfVersion race on one connection', async () => {
      const handles = [first, second];
      const connection = connectionRecord();
      const { appId, integrationKey, endUserId } = connection;
      await first.vaultConnections.put(connection);

      // Both handles read version 1, then race to save their own refresh of it.
      const attempts = Array.from({ length: 10 }, (_, index) => ({
        ...connection,
        tokensSealed: `sealed-by-handle-${index % 2}-writer-${index}`,
        version: connection.version + 1,
      }));
      const results = await Promise.all(
        attempts.map((attempt, index) =>
          handles[index % 2]!.vaultConnections.replaceIfVersion(attempt, connection.version),
        ),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = attempts[results.indexOf(true)];
      for (const handle of handles) {
        expect(await handle.vaultConnections.get(appId, integrationKey, endUserId)).toEqual(winner);
      }
    });

    it('removes an integration and its connections for every handle at once', async () => {
      const integration = integrationRecord();
      await first.vaultIntegrations.create(integration);
      await expect(second.vaultIntegrations.create(integration)).rejects.toBeInstanceOf(StoreConflictError);
      await second.vaultConnections.put(
        connectionRecord({ appId: integration.appId, integrationKey: integration.key }),
      );

      expect(await first.vaultIntegrations.remove(integration.appId, integration.key)).toBe(true);
      expect(await second.vaultIntegrations.get(integration.appId, integration.key)).toBeUndefined();
      expect(await second.vaultConnections.list(integration.appId)).toEqual([]);
    });

    it('keeps values exactly: epochs as numbers, JSON key order, awkward strings in lists', async () => {
      const awkward = ['a,b', 'with "quotes"', 'NULL', '{braces}', 'back\\slash', '', 'ü ✓'];
      const connection = connectionRecord({ scopes: awkward, expiresAt: 8_640_000_000_000_000 });
      await first.vaultConnections.put(connection);
      const stored = await second.vaultConnections.get(
        connection.appId,
        connection.integrationKey,
        connection.endUserId,
      );
      expect(stored).toEqual(connection);
      expect(typeof stored?.expiresAt).toBe('number');

      const metadata = { z_last: 1, a_first: { nested: [1, 'two', null] }, nul: 'a\u0000b', big: 1e21 };
      const client = {
        clientId: unique('client'),
        metadata,
        createdAt: 1_700_000_000_000,
        updatedAt: 1_700_000_000_001,
      };
      await first.clients.put(client);
      const storedClient = await second.clients.get(client.clientId);
      expect(storedClient).toEqual(client);
      expect(JSON.stringify(storedClient?.metadata)).toBe(JSON.stringify(metadata));
    });

    it('purges expired records in batches, two instances at once deleting each record once', async () => {
      const model = unique('AccessToken');
      const expiredAt = Date.now() - 1000;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // More than two purge batches' worth.
        await client.query(
          `INSERT INTO oidc_records (model, key, payload, expires_at)
           SELECT $1, 'key-' || n, 'sealed', $2 FROM generate_series(1, 12000) AS n`,
          [model, expiredAt],
        );
      } finally {
        await client.end();
      }
      const live = oidcRecord({ model });
      await first.oidc.upsert(live);

      const purged = await Promise.all([first.purgeExpired(), second.purgeExpired()]);
      expect(purged[0]! + purged[1]!).toBe(12000);
      expect(await first.purgeExpired()).toBe(0);
      expect(await second.oidc.count(model)).toBe(1);
      expect(await second.oidc.find(model, live.key)).toEqual(live);
    });

    it('finds nothing by a value PostgreSQL text cannot hold (a NUL character from a request)', async () => {
      const nul = 'client\u0000id';
      expect(await first.clients.get(nul)).toBeUndefined();
      expect(await first.clientGrants.listByClient(nul)).toEqual([]);
      expect(await first.accounts.findByEmail(`a\u0000@example.com`)).toBeUndefined();
      expect(await first.apis.get(nul)).toBeUndefined();
      expect(await first.oidc.find('Session', nul)).toBeUndefined();
      expect(await first.oidc.findByUid('Session', nul)).toBeUndefined();
      expect(await first.oidc.count(nul)).toBe(0);
      expect(await first.vaultIntegrations.get(nul, nul)).toBeUndefined();
      expect(await first.vaultConnections.list(nul)).toEqual([]);
    });

    it('serves every lookup path from an index', async () => {
      const lookups = [
        'SELECT * FROM oidc_records WHERE model = $1 AND key = $2',
        'SELECT * FROM oidc_records WHERE model = $1 AND uid = $2',
        'SELECT * FROM oidc_records WHERE model = $1 AND user_code = $2',
        'SELECT * FROM oidc_records WHERE account_id = $2 AND model = $1',
        'DELETE FROM oidc_records WHERE grant_id = $1',
        'DELETE FROM oidc_records WHERE client_id = $1',
        'DELETE FROM oidc_records WHERE account_id = $1',
        'DELETE FROM oidc_records WHERE expires_at <= $1',
        'SELECT * FROM accounts WHERE email = $1',
        'SELECT * FROM client_grants WHERE client_id = $1 ORDER BY api',
        'SELECT * FROM client_grants WHERE api = $1 ORDER BY client_id',
        'DELETE FROM leases WHERE expires_at <= $1',
        'SELECT * FROM vault_integrations WHERE app_id = $1',
        'SELECT * FROM vault_connections WHERE app_id = $1 AND integration_key = $2',
        'SELECT * FROM vault_connections WHERE app_id = $1 AND end_user_id = $2',
      ];
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // The tables are tiny, so the planner would rightly scan them: forbid that, and a plan
        // that still scans means no index serves the lookup.
        await client.query('SET enable_seqscan = off');
        for (const lookup of lookups) {
          const parameters = lookup.includes('$2') ? "'x', 'y'" : lookup.includes('<=') ? '0' : "'x'";
          const name = `lookup_${lookups.indexOf(lookup)}`;
          await client.query(`PREPARE ${name} AS ${lookup}`);
          const { rows } = await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN EXECUTE ${name}(${parameters})`,
          );
          const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
          expect({ lookup, plan }).toEqual({ lookup, plan: expect.not.stringContaining('Seq Scan') });
        }
      } finally {
        await client.end();
      }
    });

    it('refuses a database written by a newer schema', async () => {
      const newer = await databases.create();
      await (await open(newer)).close();
      const client = new pg.Client({ connectionString: newer });
      await client.connect();
      await client.query(
        `INSERT INTO latchkey_schema_migrations (version, description) VALUES (999, 'future')`,
      );
      await client.end();

      await expect(openPostgresStore(newer, { poolSize: 1 })).rejects.toThrow(
        /PostgreSQL store schema version 999 is newer than this build supports/,
      );
    });

    it('is chosen by DATABASE_URL=postgres://… with DATABASE_POOL_SIZE, and needs the master key', async () => {
      const masterKey = randomBytes(32).toString('base64');
      const config = loadConfig({
        DATABASE_URL: url,
        DATABASE_POOL_SIZE: '3',
        LATCHKEY_MASTER_KEY: masterKey,
      });
      expect(config.database).toEqual({ kind: 'postgres', url, poolSize: 3 });
      const store = await openStore(config);
      opened.push(store);
      expect(store.kind).toBe('postgres');
      await expect(store.ping()).resolves.toBeUndefined();

      const postgresql = url.replace(/^postgres:/, 'postgresql:');
      expect(loadConfig({ DATABASE_URL: postgresql, LATCHKEY_MASTER_KEY: masterKey }).database).toEqual({
        kind: 'postgres',
        url: postgresql,
        poolSize: 10,
      });
      expect(() => loadConfig({ DATABASE_URL: url })).toThrow(
        'invalid setting LATCHKEY_MASTER_KEY: required when DATABASE_URL is postgres://…',
      );
      expect(() =>
        loadConfig({ DATABASE_URL: url, DATABASE_POOL_SIZE: '0', LATCHKEY_MASTER_KEY: masterKey }),
      ).toThrow(/^invalid setting DATABASE_POOL_SIZE: /);
    });

    it('fails to open, without hanging, where no server answers', async () => {
      const nowhere = 'postgres://postgres@127.0.0.1:1/none';
      await expect(
        openPostgresStore(nowhere, { poolSize: 1, connectionTimeoutMillis: 2000 }),
      ).rejects.toThrow(/ECONNREFUSED|connect/);
    });
  });
}
