// The token vault's records in SQLite: each app's integrations (upstream providers it configured)
// and its end users' connections to them. Arrays and objects are JSON columns; secrets and token
// sets arrive sealed. Connections are updated under an optimistic lock (their `version`).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type {
  ExportEntry,
  VaultConnectionRecord,
  VaultConnectionStore,
  VaultIntegrationRecord,
  VaultIntegrationStore,
} from '../types.js';
import { importedRecord, mapConflict, nullable } from './support.js';

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
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;

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
    // IMMEDIATE: take the write lock up front rather than fail to upgrade a read lock mid-way.
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
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
    this.#begin.run();
    try {
      const removed = this.#remove.run(appId, key).changes === 1;
      this.#removeConnections.run(appId, key);
      this.#commit.run();
      return removed;
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

function connectionId(appId: string, integrationKey: string, endUserId: string): string {
  return `${appId}\u0000${integrationKey}\u0000${endUserId}`;
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

type ConnectionRow = {
  app_id: string;
  integration_key: string;
  end_user_id: string;
  status: VaultConnectionRecord['status'];
  tokens_sealed: string;
  expires_at: number | null;
  scopes: string;
  last_refresh_at: number | null;
  last_error: string | null;
  refresh_failures: number;
  next_refresh_at: number | null;
  version: number;
  created_at: number;
  updated_at: number;
};

const CONNECTION_SET = `status = :status, tokens_sealed = :tokens_sealed, expires_at = :expires_at,
  scopes = :scopes, last_refresh_at = :last_refresh_at, last_error = :last_error,
  refresh_failures = :refresh_failures, next_refresh_at = :next_refresh_at, version = :version,
  created_at = :created_at, updated_at = :updated_at`;
const CONNECTION_KEY =
  'app_id = :app_id AND integration_key = :integration_key AND end_user_id = :end_user_id';
const CONNECTION_ORDER = 'ORDER BY created_at, integration_key, end_user_id';

export class SqliteVaultConnectionStore implements VaultConnectionStore {
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #recent: RowCache<VaultConnectionRecord>;
  readonly #put: StatementSync;
  readonly #get: StatementSync;
  readonly #listByApp: StatementSync;
  readonly #listByIntegration: StatementSync;
  readonly #listByEndUser: StatementSync;
  readonly #replaceIfVersion: StatementSync;
  readonly #remove: StatementSync;

  /** `get` (the token API and every proxy call read the connection) goes through `batch`. */
  constructor(db: DatabaseSync, batch: StatementBatch) {
    this.#db = db;
    this.#batch = batch;
    this.#recent = new RowCache<VaultConnectionRecord>(
      batch,
      (connection) => connection.tokensSealed.length + 500,
    );
    this.#put = db.prepare(
      `INSERT INTO vault_connections (app_id, integration_key, end_user_id, status, tokens_sealed,
         expires_at, scopes, last_refresh_at, last_error, refresh_failures, next_refresh_at, version,
         created_at, updated_at)
       VALUES (:app_id, :integration_key, :end_user_id, :status, :tokens_sealed, :expires_at, :scopes,
         :last_refresh_at, :last_error, :refresh_failures, :next_refresh_at, :version, :created_at, :updated_at)
       ON CONFLICT (app_id, integration_key, end_user_id) DO UPDATE SET ${CONNECTION_SET}`,
    );
    this.#get = db.prepare(`SELECT * FROM vault_connections WHERE ${CONNECTION_KEY}`);
    // One statement per filter, rather than `(:x IS NULL OR x = :x)`, so that each can use its index.
    this.#listByApp = db.prepare(
      `SELECT * FROM vault_connections WHERE app_id = :app_id ${CONNECTION_ORDER}`,
    );
    this.#listByIntegration = db.prepare(
      `SELECT * FROM vault_connections WHERE app_id = :app_id AND integration_key = :integration_key
       ${CONNECTION_ORDER}`,
    );
    this.#listByEndUser = db.prepare(
      `SELECT * FROM vault_connections WHERE app_id = :app_id AND end_user_id = :end_user_id
       ${CONNECTION_ORDER}`,
    );
    // The version check and the write are one statement, so of two writers that read the same
    // version (in any process sharing the file) exactly one sees a change.
    this.#replaceIfVersion = db.prepare(
      `UPDATE vault_connections SET ${CONNECTION_SET} WHERE ${CONNECTION_KEY} AND version = :expected_version`,
    );
    this.#remove = db.prepare(`DELETE FROM vault_connections WHERE ${CONNECTION_KEY}`);
  }

  async put(connection: VaultConnectionRecord): Promise<void> {
    this.#recent.forget(connectionId(connection.appId, connection.integrationKey, connection.endUserId));
    this.#put.run(connectionToRow(connection));
  }

  /** Forgets every remembered connection (their integration is being removed). */
  forgetAll(): void {
    this.#recent.clear();
  }

  get(appId: string, integrationKey: string, endUserId: string): Promise<VaultConnectionRecord | undefined> {
    return this.#batch.read(() =>
      this.#recent.get(connectionId(appId, integrationKey, endUserId), () => {
        const row = this.#get.get({
          app_id: appId,
          integration_key: integrationKey,
          end_user_id: endUserId,
        }) as ConnectionRow | undefined;
        return row && connectionFromRow(row);
      }),
    );
  }

  async list(
    appId: string,
    filter: { integrationKey?: string; endUserId?: string } = {},
  ): Promise<VaultConnectionRecord[]> {
    const { integrationKey, endUserId } = filter;
    let rows: ConnectionRow[];
    if (integrationKey !== undefined && endUserId !== undefined) {
      const row = this.#get.get({ app_id: appId, integration_key: integrationKey, end_user_id: endUserId });
      rows = row === undefined ? [] : [row as ConnectionRow];
    } else if (integrationKey !== undefined) {
      rows = this.#listByIntegration.all({
        app_id: appId,
        integration_key: integrationKey,
      }) as ConnectionRow[];
    } else if (endUserId !== undefined) {
      rows = this.#listByEndUser.all({ app_id: appId, end_user_id: endUserId }) as ConnectionRow[];
    } else {
      rows = this.#listByApp.all({ app_id: appId }) as ConnectionRow[];
    }
    return rows.map(connectionFromRow);
  }

  async replaceIfVersion(connection: VaultConnectionRecord, expectedVersion: number): Promise<boolean> {
    checkNewVersion(connection, expectedVersion);
    this.#recent.forget(connectionId(connection.appId, connection.integrationKey, connection.endUserId));
    const result = this.#replaceIfVersion.run({
      ...connectionToRow(connection),
      expected_version: expectedVersion,
    });
    return result.changes === 1;
  }

  async remove(appId: string, integrationKey: string, endUserId: string): Promise<boolean> {
    this.#recent.forget(connectionId(appId, integrationKey, endUserId));
    return (
      this.#remove.run({ app_id: appId, integration_key: integrationKey, end_user_id: endUserId }).changes ===
      1
    );
  }

  *exportEntries(): Generator<ExportEntry> {
    const rows = this.#db
      .prepare('SELECT * FROM vault_connections ORDER BY app_id, integration_key, end_user_id')
      .iterate();
    for (const row of rows)
      yield { kind: 'vaultConnection', record: connectionFromRow(row as ConnectionRow) };
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(
      importedRecord<VaultConnectionRecord>('vaultConnection', record, [
        'appId',
        'integrationKey',
        'endUserId',
      ]),
    );
  }
}

/**
 * A replacement that keeps the expected version would let a later writer, holding a copy read
 * before this write, succeed too: the lock only works if every write moves the version on.
 */
function checkNewVersion(connection: VaultConnectionRecord, expectedVersion: number): void {
  if (!(connection.version > expectedVersion)) {
    throw new TypeError(
      `replaceIfVersion: the new version (${connection.version}) must be greater than the expected one (${expectedVersion})`,
    );
  }
}

function connectionToRow(connection: VaultConnectionRecord): ConnectionRow {
  return {
    app_id: connection.appId,
    integration_key: connection.integrationKey,
    end_user_id: connection.endUserId,
    status: connection.status,
    tokens_sealed: connection.tokensSealed,
    expires_at: nullable(connection.expiresAt),
    scopes: JSON.stringify(connection.scopes),
    last_refresh_at: nullable(connection.lastRefreshAt),
    last_error: connection.lastError === undefined ? null : JSON.stringify(connection.lastError),
    refresh_failures: connection.refreshFailures,
    next_refresh_at: nullable(connection.nextRefreshAt),
    version: connection.version,
    created_at: connection.createdAt,
    updated_at: connection.updatedAt,
  };
}

function connectionFromRow(row: ConnectionRow): VaultConnectionRecord {
  const connection: VaultConnectionRecord = {
    appId: row.app_id,
    integrationKey: row.integration_key,
    endUserId: row.end_user_id,
    status: row.status,
    tokensSealed: row.tokens_sealed,
    scopes: JSON.parse(row.scopes) as string[],
    refreshFailures: row.refresh_failures,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.expires_at !== null) connection.expiresAt = row.expires_at;
  if (row.last_refresh_at !== null) connection.lastRefreshAt = row.last_refresh_at;
  if (row.last_error !== null) {
    connection.lastError = JSON.parse(row.last_error) as NonNullable<VaultConnectionRecord['lastError']>;
  }
  if (row.next_refresh_at !== null) connection.nextRefreshAt = row.next_refresh_at;
  return connection;
}
