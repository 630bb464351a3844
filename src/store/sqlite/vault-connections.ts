// The token vault's connections in SQLite: an app's end users' token sets at each of its
// integrations. Scopes and the last error are JSON columns; token sets arrive sealed. Connections
// are updated under an optimistic lock (their `version`).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type { ExportEntry, VaultConnectionRecord, VaultConnectionStore } from '../types.js';
import { importedRecord, nullable } from './support.js';

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
  readonly #reseal: StatementSync;

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
    // The token set alone: the version stays, since the tokens in it are the same ones (a refresh
    // that read the connection before still wins its replaceIfVersion, with its new tokens).
    this.#reseal = db.prepare(
      `UPDATE vault_connections SET tokens_sealed = :replacement
       WHERE ${CONNECTION_KEY} AND tokens_sealed = :expected`,
    );
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

  /** Store.resealIfUnchanged for a connection's token set. */
  async reseal(
    appId: string,
    integrationKey: string,
    endUserId: string,
    expected: string,
    replacement: string,
  ): Promise<boolean> {
    this.#recent.forget(connectionId(appId, integrationKey, endUserId));
    const result = this.#reseal.run({
      app_id: appId,
      integration_key: integrationKey,
      end_user_id: endUserId,
      expected,
      replacement,
    });
    return result.changes === 1;
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

function connectionId(appId: string, integrationKey: string, endUserId: string): string {
  return `${appId}\u0000${integrationKey}\u0000${endUserId}`;
}
