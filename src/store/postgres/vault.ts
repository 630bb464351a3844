// The token vault's records in PostgreSQL: each app's integrations (upstream providers it
// configured) and its end users' connections to them. Secrets and token sets arrive sealed.
// Connections are updated under an optimistic lock (their `version`).
import type { ExportSource, Statement } from './database.js';
import {
  importedRecord,
  jsonParameter,
  mapConflict,
  nullable,
  statement,
  type Database,
} from './database.js';
import type {
  VaultConnectionRecord,
  VaultConnectionStore,
  VaultIntegrationRecord,
  VaultIntegrationStore,
} from '../types.js';

type IntegrationRow = {
  app_id: string;
  key: string;
  provider: string;
  client_id: string;
  client_secret_sealed: string | null;
  scopes: string[];
  issuer: string | null;
  authorization_params: Record<string, string> | null;
  created_at: number;
  updated_at: number;
};

const INTEGRATION_COLUMNS = `app_id, key, provider, client_id, client_secret_sealed, scopes, issuer,
  authorization_params, created_at, updated_at`;
const INTEGRATION_INSERT = `INSERT INTO vault_integrations (${INTEGRATION_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
const INTEGRATION_SET = `provider = $3, client_id = $4, client_secret_sealed = $5, scopes = $6, issuer = $7,
  authorization_params = $8, created_at = $9, updated_at = $10`;

const INTEGRATION_STATEMENTS = {
  create: statement('vaultIntegrations.create', INTEGRATION_INSERT),
  upsert: statement(
    'vaultIntegrations.upsert',
    `${INTEGRATION_INSERT} ON CONFLICT (app_id, key) DO UPDATE SET ${INTEGRATION_SET}`,
  ),
  get: statement(
    'vaultIntegrations.get',
    `SELECT ${INTEGRATION_COLUMNS} FROM vault_integrations WHERE app_id = $1 AND key = $2`,
  ),
  list: statement(
    'vaultIntegrations.list',
    `SELECT ${INTEGRATION_COLUMNS} FROM vault_integrations WHERE app_id = $1 ORDER BY created_at, key`,
  ),
  update: statement(
    'vaultIntegrations.update',
    `UPDATE vault_integrations SET ${INTEGRATION_SET} WHERE app_id = $1 AND key = $2`,
  ),
  // One statement, so one transaction: no instance ever sees connections of a removed integration.
  // Connections go even when the integration was already gone: that cleans up after any orphan.
  remove: statement(
    'vaultIntegrations.remove',
    `WITH removed AS (DELETE FROM vault_integrations WHERE app_id = $1 AND key = $2 RETURNING key),
       connections AS (DELETE FROM vault_connections WHERE app_id = $1 AND integration_key = $2)
     SELECT count(*) AS count FROM removed`,
  ),
  // The app is going: every connection of it goes, whichever integration it was made through.
  removeByApp: statement(
    'vaultIntegrations.removeByApp',
    `WITH removed AS (DELETE FROM vault_integrations WHERE app_id = $1 RETURNING key),
       connections AS (DELETE FROM vault_connections WHERE app_id = $1)
     SELECT count(*) AS count FROM removed`,
  ),
} satisfies Record<string, Statement>;

export class PostgresVaultIntegrationStore implements VaultIntegrationStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(integration: VaultIntegrationRecord): Promise<void> {
    await mapConflict(
      () => this.#db.run(INTEGRATION_STATEMENTS.create, integrationValues(integration)),
      () => `vault integration ${integration.key} already exists for app ${integration.appId}`,
    );
  }

  async get(appId: string, key: string): Promise<VaultIntegrationRecord | undefined> {
    const row = await this.#db.row<IntegrationRow>(INTEGRATION_STATEMENTS.get, [appId, key]);
    return row && integrationFromRow(row);
  }

  async list(appId: string): Promise<VaultIntegrationRecord[]> {
    return (await this.#db.rows<IntegrationRow>(INTEGRATION_STATEMENTS.list, [appId])).map(
      integrationFromRow,
    );
  }

  async update(integration: VaultIntegrationRecord): Promise<boolean> {
    return (await this.#db.run(INTEGRATION_STATEMENTS.update, integrationValues(integration))) === 1;
  }

  async remove(appId: string, key: string): Promise<boolean> {
    const [removed] = await this.#db.returning<{ count: number }>(INTEGRATION_STATEMENTS.remove, [
      appId,
      key,
    ]);
    return removed!.count === 1;
  }

  async removeByApp(appId: string): Promise<number> {
    const [removed] = await this.#db.returning<{ count: number }>(INTEGRATION_STATEMENTS.removeByApp, [
      appId,
    ]);
    return removed!.count;
  }

  async importRecord(record: unknown): Promise<void> {
    const integration = importedRecord<VaultIntegrationRecord>('vaultIntegration', record, ['appId', 'key']);
    await this.#db.run(INTEGRATION_STATEMENTS.upsert, integrationValues(integration));
  }
}

export const vaultIntegrationExport: ExportSource = {
  kind: 'vaultIntegration',
  query: `SELECT ${INTEGRATION_COLUMNS} FROM vault_integrations ORDER BY app_id, key`,
  fromRow: (row) => integrationFromRow(row as IntegrationRow),
};

function integrationValues(integration: VaultIntegrationRecord): unknown[] {
  return [
    integration.appId,
    integration.key,
    integration.provider,
    integration.clientId,
    nullable(integration.clientSecretSealed),
    integration.scopes,
    nullable(integration.issuer),
    jsonParameter(integration.authorizationParams),
    integration.createdAt,
    integration.updatedAt,
  ];
}

function integrationFromRow(row: IntegrationRow): VaultIntegrationRecord {
  // Absent optional fields get no key at all, so records compare and serialise like the originals.
  const integration: VaultIntegrationRecord = {
    appId: row.app_id,
    key: row.key,
    provider: row.provider,
    clientId: row.client_id,
    scopes: row.scopes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.client_secret_sealed !== null) integration.clientSecretSealed = row.client_secret_sealed;
  if (row.issuer !== null) integration.issuer = row.issuer;
  if (row.authorization_params !== null) integration.authorizationParams = row.authorization_params;
  return integration;
}

type ConnectionRow = {
  app_id: string;
  integration_key: string;
  end_user_id: string;
  status: VaultConnectionRecord['status'];
  tokens_sealed: string;
  expires_at: number | null;
  scopes: string[];
  last_refresh_at: number | null;
  last_error: NonNullable<VaultConnectionRecord['lastError']> | null;
  refresh_failures: number;
  next_refresh_at: number | null;
  version: number;
  created_at: number;
  updated_at: number;
};

const CONNECTION_COLUMNS = `app_id, integration_key, end_user_id, status, tokens_sealed, expires_at, scopes,
  last_refresh_at, last_error, refresh_failures, next_refresh_at, version, created_at, updated_at`;
const CONNECTION_SET = `status = $4, tokens_sealed = $5, expires_at = $6, scopes = $7, last_refresh_at = $8,
  last_error = $9, refresh_failures = $10, next_refresh_at = $11, version = $12, created_at = $13,
  updated_at = $14`;
const CONNECTION_KEY = 'app_id = $1 AND integration_key = $2 AND end_user_id = $3';
const CONNECTION_ORDER = 'ORDER BY created_at, integration_key, end_user_id';
const SELECT_CONNECTIONS = `SELECT ${CONNECTION_COLUMNS} FROM vault_connections`;

const CONNECTION_STATEMENTS = {
  put: statement(
    'vaultConnections.put',
    `INSERT INTO vault_connections (${CONNECTION_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (app_id, integration_key, end_user_id) DO UPDATE SET ${CONNECTION_SET}`,
  ),
  get: statement('vaultConnections.get', `${SELECT_CONNECTIONS} WHERE ${CONNECTION_KEY}`),
  // One statement per filter, rather than `($2 IS NULL OR x = $2)`, so that each plans onto its index.
  listByApp: statement(
    'vaultConnections.listByApp',
    `${SELECT_CONNECTIONS} WHERE app_id = $1 ${CONNECTION_ORDER}`,
  ),
  listByIntegration: statement(
    'vaultConnections.listByIntegration',
    `${SELECT_CONNECTIONS} WHERE app_id = $1 AND integration_key = $2 ${CONNECTION_ORDER}`,
  ),
  listByEndUser: statement(
    'vaultConnections.listByEndUser',
    `${SELECT_CONNECTIONS} WHERE app_id = $1 AND end_user_id = $2 ${CONNECTION_ORDER}`,
  ),
  // The version check and the write are one statement: of two writers that read the same version,
  // in any instance, the second waits for the first's row lock, re-checks the version on the row
  // the first committed (READ COMMITTED), and changes nothing.
  replaceIfVersion: statement(
    'vaultConnections.replaceIfVersion',
    `UPDATE vault_connections SET ${CONNECTION_SET} WHERE ${CONNECTION_KEY} AND version = $15`,
  ),
  remove: statement('vaultConnections.remove', `DELETE FROM vault_connections WHERE ${CONNECTION_KEY}`),
} satisfies Record<string, Statement>;

export class PostgresVaultConnectionStore implements VaultConnectionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(connection: VaultConnectionRecord): Promise<void> {
    await this.#db.run(CONNECTION_STATEMENTS.put, connectionValues(connection));
  }

  async get(
    appId: string,
    integrationKey: string,
    endUserId: string,
  ): Promise<VaultConnectionRecord | undefined> {
    const row = await this.#db.row<ConnectionRow>(CONNECTION_STATEMENTS.get, [
      appId,
      integrationKey,
      endUserId,
    ]);
    return row && connectionFromRow(row);
  }

  async list(
    appId: string,
    filter: { integrationKey?: string; endUserId?: string } = {},
  ): Promise<VaultConnectionRecord[]> {
    const { integrationKey, endUserId } = filter;
    let rows: ConnectionRow[];
    if (integrationKey !== undefined && endUserId !== undefined) {
      rows = await this.#db.rows<ConnectionRow>(CONNECTION_STATEMENTS.get, [
        appId,
        integrationKey,
        endUserId,
      ]);
    } else if (integrationKey !== undefined) {
      rows = await this.#db.rows<ConnectionRow>(CONNECTION_STATEMENTS.listByIntegration, [
        appId,
        integrationKey,
      ]);
    } else if (endUserId !== undefined) {
      rows = await this.#db.rows<ConnectionRow>(CONNECTION_STATEMENTS.listByEndUser, [appId, endUserId]);
    } else {
      rows = await this.#db.rows<ConnectionRow>(CONNECTION_STATEMENTS.listByApp, [appId]);
    }
    return rows.map(connectionFromRow);
  }

  async replaceIfVersion(connection: VaultConnectionRecord, expectedVersion: number): Promise<boolean> {
    checkNewVersion(connection, expectedVersion);
    const values = [...connectionValues(connection), expectedVersion];
    return (await this.#db.run(CONNECTION_STATEMENTS.replaceIfVersion, values)) === 1;
  }

  async remove(appId: string, integrationKey: string, endUserId: string): Promise<boolean> {
    return (await this.#db.run(CONNECTION_STATEMENTS.remove, [appId, integrationKey, endUserId])) === 1;
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

export const vaultConnectionExport: ExportSource = {
  kind: 'vaultConnection',
  query: `${SELECT_CONNECTIONS} ORDER BY app_id, integration_key, end_user_id`,
  fromRow: (row) => connectionFromRow(row as ConnectionRow),
};

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

function connectionValues(connection: VaultConnectionRecord): unknown[] {
  return [
    connection.appId,
    connection.integrationKey,
    connection.endUserId,
    connection.status,
    connection.tokensSealed,
    nullable(connection.expiresAt),
    connection.scopes,
    nullable(connection.lastRefreshAt),
    jsonParameter(connection.lastError),
    connection.refreshFailures,
    nullable(connection.nextRefreshAt),
    connection.version,
    connection.createdAt,
    connection.updatedAt,
  ];
}

function connectionFromRow(row: ConnectionRow): VaultConnectionRecord {
  const connection: VaultConnectionRecord = {
    appId: row.app_id,
    integrationKey: row.integration_key,
    endUserId: row.end_user_id,
    status: row.status,
    tokensSealed: row.tokens_sealed,
    scopes: row.scopes,
    refreshFailures: row.refresh_failures,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.expires_at !== null) connection.expiresAt = row.expires_at;
  if (row.last_refresh_at !== null) connection.lastRefreshAt = row.last_refresh_at;
  if (row.last_error !== null) connection.lastError = row.last_error;
  if (row.next_refresh_at !== null) connection.nextRefreshAt = row.next_refresh_at;
  return connection;
}
