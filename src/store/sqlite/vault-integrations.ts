// The token vault's integrations in SQLite: each app's configuration of the upstream providers it
// uses. Scopes and authorization parameters are JSON columns; the client secret arrives sealed.
// Removing integrations removes their connections (./vault-connections.ts) in the same transaction.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type { ExportEntry, VaultIntegrationRecord, VaultIntegrationStore } from '../types.js';
import { importedRecord, mapConflict, nullable } from './support.js';
import type { SqliteVaultConnectionStore } from './vault-connections.js';

type IntegrationRow = {
  app_id: string;
  key: string;
  provider: string;
  client_id: string;
  client_secret_sealed: string | null;
  scopes: string;
  issuer: string | null;
  authorization_params: string | null;
  created_at: number;
  updated_at: number;
};

const INTEGRATION_VALUES = `(:app_id, :key, :provider, :client_id, :client_secret_sealed, :scopes, :issuer,
  :authorization_params, :created_at, :updated_at)`;
const INTEGRATION_COLUMNS = `(app_id, key, provider, client_id, client_secret_sealed, scopes, issuer,
  authorization_params, created_at, updated_at)`;
const INTEGRATION_SET = `provider = :provider, client_id = :client_id,
  client_secret_sealed = :client_secret_sealed, scopes = :scopes, issuer = :issuer,
  authorization_params = :authorization_params, created_at = :created_at, updated_at = :updated_at`;

export class SqliteVaultIntegrationStore implements VaultIntegrationStore {
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #recent: RowCache<VaultIntegrationRecord>;
  readonly #connections: SqliteVaultConnectionStore;
  readonly #create: StatementSync;
  readonly #upsert: StatementSync;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #update: StatementSync;
  readonly #remove: StatementSync;
  readonly #removeConnections: StatementSync;
  readonly #removeByApp: StatementSync;
  readonly #removeAppConnections: StatementSync;
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #reseal: StatementSync;

  /**
   * `get` (every token and proxy call reads its integration) goes through `batch`. `connections`:
   * removing an integration removes its connections, which that store must then forget.
   */
  constructor(db: DatabaseSync, batch: StatementBatch, connections: SqliteVaultConnectionStore) {
    this.#db = db;
    this.#batch = batch;
    this.#connections = connections;
    this.#recent = new RowCache<VaultIntegrationRecord>(batch, () => 2000);
    const insert = `INSERT INTO vault_integrations ${INTEGRATION_COLUMNS} VALUES ${INTEGRATION_VALUES}`;
    this.#create = db.prepare(insert);
    this.#upsert = db.prepare(`${insert} ON CONFLICT (app_id, key) DO UPDATE SET ${INTEGRATION_SET}`);
    this.#get = db.prepare('SELECT * FROM vault_integrations WHERE app_id = ? AND key = ?');
    this.#list = db.prepare('SELECT * FROM vault_integrations WHERE app_id = ? ORDER BY created_at, key');
    this.#update = db.prepare(
      `UPDATE vault_integrations SET ${INTEGRATION_SET} WHERE app_id = :app_id AND key = :key`,
    );
    this.#remove = db.prepare('DELETE FROM vault_integrations WHERE app_id = ? AND key = ?');
    this.#removeConnections = db.prepare(
      'DELETE FROM vault_connections WHERE app_id = ? AND integration_key = ?',
    );
    this.#removeByApp = db.prepare('DELETE FROM vault_integrations WHERE app_id = ?');
    this.#removeAppConnections = db.prepare('DELETE FROM vault_connections WHERE app_id = ?');
    // IMMEDIATE: take the write lock up front rather than fail to upgrade a read lock mid-way.
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#reseal = db.prepare(
      `UPDATE vault_integrations SET client_secret_sealed = :replacement
       WHERE app_id = :app_id AND key = :key AND client_secret_sealed = :expected`,
    );
  }

  async create(integration: VaultIntegrationRecord): Promise<void> {
    mapConflict(
      () => this.#create.run(integrationToRow(integration)),
      () => `vault integration ${integration.key} already exists for app ${integration.appId}`,
    );
  }

  get(appId: string, key: string): Promise<VaultIntegrationRecord | undefined> {
    return this.#batch.read(() =>
      this.#recent.get(integrationId(appId, key), () => {
        const row = this.#get.get(appId, key) as IntegrationRow | undefined;
        return row && integrationFromRow(row);
      }),
    );
  }

  async list(appId: string): Promise<VaultIntegrationRecord[]> {
    return (this.#list.all(appId) as IntegrationRow[]).map(integrationFromRow);
  }

  async update(integration: VaultIntegrationRecord): Promise<boolean> {
    this.#recent.forget(integrationId(integration.appId, integration.key));
    return this.#update.run(integrationToRow(integration)).changes === 1;
  }

  async remove(appId: string, key: string): Promise<boolean> {
    // One transaction, so that no other process ever sees connections of a removed integration.
    // Connections go even when the integration was already gone: that cleans up after any orphan.
    this.#recent.forget(integrationId(appId, key));
    this.#connections.forgetAll();
    return this.#inTransaction(() => {
      const removed = this.#remove.run(appId, key).changes === 1;
      this.#removeConnections.run(appId, key);
      return removed;
    });
  }

  async removeByApp(appId: string): Promise<number> {
    // As remove(), for every integration of the app at once: the app's connections go too, those
    // of integrations already gone included.
    this.#recent.clear();
    this.#connections.forgetAll();
    return this.#inTransaction(() => {
      const removed = Number(this.#removeByApp.run(appId).changes);
      this.#removeAppConnections.run(appId);
      return removed;
    });
  }

  /** Store.resealIfUnchanged for an integration's client secret. */
  async reseal(appId: string, key: string, expected: string, replacement: string): Promise<boolean> {
    this.#recent.forget(integrationId(appId, key));
    return this.#reseal.run({ app_id: appId, key, expected, replacement }).changes === 1;
  }

  #inTransaction<T>(work: () => T): T {
    this.#begin.run();
    try {
      const result = work();
      this.#commit.run();
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#rollback.run();
      throw error;
    }
  }

  *exportEntries(): Generator<ExportEntry> {
    const rows = this.#db.prepare('SELECT * FROM vault_integrations ORDER BY app_id, key').iterate();
    for (const row of rows)
      yield { kind: 'vaultIntegration', record: integrationFromRow(row as IntegrationRow) };
  }

  async importRecord(record: unknown): Promise<void> {
    const integration = importedRecord<VaultIntegrationRecord>('vaultIntegration', record, ['appId', 'key']);
    this.#recent.forget(integrationId(integration.appId, integration.key));
    this.#upsert.run(integrationToRow(integration));
  }
}

function integrationId(appId: string, key: string): string {
  return `${appId}\u0000${key}`;
}

function integrationToRow(integration: VaultIntegrationRecord): IntegrationRow {
  return {
    app_id: integration.appId,
    key: integration.key,
    provider: integration.provider,
    client_id: integration.clientId,
    client_secret_sealed: nullable(integration.clientSecretSealed),
    scopes: JSON.stringify(integration.scopes),
    issuer: nullable(integration.issuer),
    authorization_params:
      integration.authorizationParams === undefined ? null : JSON.stringify(integration.authorizationParams),
    created_at: integration.createdAt,
    updated_at: integration.updatedAt,
  };
}

function integrationFromRow(row: IntegrationRow): VaultIntegrationRecord {
  // Absent optional fields get no key at all, so records compare and serialise like the originals.
  const integration: VaultIntegrationRecord = {
    appId: row.app_id,
    key: row.key,
    provider: row.provider,
    clientId: row.client_id,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.client_secret_sealed !== null) integration.clientSecretSealed = row.client_secret_sealed;
  if (row.issuer !== null) integration.issuer = row.issuer;
  if (row.authorization_params !== null) {
    integration.authorizationParams = JSON.parse(row.authorization_params) as Record<string, string>;
  }
  return integration;
}
