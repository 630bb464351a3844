// Registered clients and the grants of APIs that an admin gave them, in SQLite. Client metadata is
// a JSON column and the client secret arrives sealed; a grant's scopes are a JSON array.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type {
  ClientGrantRecord,
  ClientGrantStore,
  ClientRecord,
  ClientStore,
  ExportEntry,
} from '../types.js';
import { importedRecord, nullable } from './support.js';

type ClientRow = {
  client_id: string;
  metadata: string;
  secret_sealed: string | null;
  created_at: number;
  updated_at: number;
};

export class SqliteClientStore implements ClientStore {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #remove: StatementSync;
  readonly #reseal: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#put = db.prepare(
      `INSERT INTO clients (client_id, metadata, secret_sealed, created_at, updated_at)
       VALUES (:client_id, :metadata, :secret_sealed, :created_at, :updated_at)
       ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata,
         secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    );
    this.#get = db.prepare('SELECT * FROM clients WHERE client_id = ?');
    this.#list = db.prepare('SELECT * FROM clients ORDER BY created_at, client_id');
    this.#remove = db.prepare('DELETE FROM clients WHERE client_id = ?');
    this.#reseal = db.prepare(
      'UPDATE clients SET secret_sealed = :replacement WHERE client_id = :client_id AND secret_sealed = :expected',
    );
  }

  async put(client: ClientRecord): Promise<void> {
    this.#put.run({
      client_id: client.clientId,
      metadata: JSON.stringify(client.metadata),
      secret_sealed: nullable(client.secretSealed),
      created_at: client.createdAt,
      updated_at: client.updatedAt,
    });
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const row = this.#get.get(clientId) as ClientRow | undefined;
    return row && clientFromRow(row);
  }

  async list(): Promise<ClientRecord[]> {
    return (this.#list.all() as ClientRow[]).map(clientFromRow);
  }

  async remove(clientId: string): Promise<boolean> {
    return this.#remove.run(clientId).changes === 1;
  }

  /** Store.resealIfUnchanged for a client's secret. */
  async reseal(clientId: string, expected: string, replacement: string): Promise<boolean> {
    return this.#reseal.run({ client_id: clientId, expected, replacement }).changes === 1;
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT * FROM clients ORDER BY client_id').iterate()) {
      yield { kind: 'client', record: clientFromRow(row as ClientRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<ClientRecord>('client', record, ['clientId']));
  }
}

function clientFromRow(row: ClientRow): ClientRecord {
  const client: ClientRecord = {
    clientId: row.client_id,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.secret_sealed !== null) client.secretSealed = row.secret_sealed;
  return client;
}

type ClientGrantRow = {
  client_id: string;
  api: string;
  scopes: string;
  created_at: number;
  updated_at: number;
};

export class SqliteClientGrantStore implements ClientGrantStore {
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #recent: RowCache<ClientGrantRecord>;
  readonly #put: StatementSync;
  readonly #get: StatementSync;
  readonly #listByClient: StatementSync;
  readonly #listByApi: StatementSync;
  readonly #remove: StatementSync;
  readonly #removeByClient: StatementSync;
  readonly #removeByApi: StatementSync;

  /** `get` (every token a client asks for an API checks its grant) goes through `batch`. */
  constructor(db: DatabaseSync, batch: StatementBatch) {
    this.#db = db;
    this.#batch = batch;
    this.#recent = new RowCache<ClientGrantRecord>(
      batch,
      (grant) => grant.api.length + grant.scopes.join(' ').length + 200,
    );
    this.#put = db.prepare(
      `INSERT INTO client_grants (client_id, api, scopes, created_at, updated_at)
       VALUES (:client_id, :api, :scopes, :created_at, :updated_at)
       ON CONFLICT (client_id, api) DO UPDATE SET scopes = excluded.scopes,
         created_at = excluded.created_at, updated_at = excluded.updated_at`,
    );
    this.#get = db.prepare('SELECT * FROM client_grants WHERE client_id = ? AND api = ?');
    this.#listByClient = db.prepare('SELECT * FROM client_grants WHERE client_id = ? ORDER BY api');
    this.#listByApi = db.prepare('SELECT * FROM client_grants WHERE api = ? ORDER BY client_id');
    this.#remove = db.prepare('DELETE FROM client_grants WHERE client_id = ? AND api = ?');
    this.#removeByClient = db.prepare('DELETE FROM client_grants WHERE client_id = ?');
    this.#removeByApi = db.prepare('DELETE FROM client_grants WHERE api = ?');
  }

  async put(grant: ClientGrantRecord): Promise<void> {
    this.#recent.forget(grantId(grant.clientId, grant.api));
    this.#put.run(grantToRow(grant));
  }

  get(clientId: string, api: string): Promise<ClientGrantRecord | undefined> {
    return this.#batch.read(() =>
      this.#recent.get(grantId(clientId, api), () => {
        const row = this.#get.get(clientId, api) as ClientGrantRow | undefined;
        return row && grantFromRow(row);
      }),
    );
  }

  async listByClient(clientId: string): Promise<ClientGrantRecord[]> {
    return (this.#listByClient.all(clientId) as ClientGrantRow[]).map(grantFromRow);
  }

  async listByApi(api: string): Promise<ClientGrantRecord[]> {
    return (this.#listByApi.all(api) as ClientGrantRow[]).map(grantFromRow);
  }

  async remove(clientId: string, api: string): Promise<boolean> {
    this.#recent.forget(grantId(clientId, api));
    return this.#remove.run(clientId, api).changes === 1;
  }

  async removeByClient(clientId: string): Promise<number> {
    // Any number of grants: forget them all rather than look each up.
    this.#recent.clear();
    return Number(this.#removeByClient.run(clientId).changes);
  }

  async removeByApi(api: string): Promise<number> {
    this.#recent.clear();
    return Number(this.#removeByApi.run(api).changes);
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT * FROM client_grants ORDER BY client_id, api').iterate()) {
      yield { kind: 'clientGrant', record: grantFromRow(row as ClientGrantRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<ClientGrantRecord>('clientGrant', record, ['clientId', 'api']));
  }
}

function grantId(clientId: string, api: string): string {
  return `${clientId}\u0000${api}`;
}

function grantToRow(grant: ClientGrantRecord): ClientGrantRow {
  return {
    client_id: grant.clientId,
    api: grant.api,
    scopes: JSON.stringify(grant.scopes),
    created_at: grant.createdAt,
    updated_at: grant.updatedAt,
  };
}

function grantFromRow(row: ClientGrantRow): ClientGrantRecord {
  return {
    clientId: row.client_id,
    api: row.api,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
