// Registered APIs (resource servers) and the client grants that give a client one API's scopes,
// in PostgreSQL. Scope lists are text[]; scope descriptions a json object.
import type { ExportSource, Statement } from './database.js';
import {
  importedRecord,
  jsonParameter,
  mapConflict,
  nullable,
  statement,
  type Database,
} from './database.js';
import type { ApiRecord, ApiStore, ClientGrantRecord, ClientGrantStore } from '../types.js';

type ApiRow = {
  identifier: string;
  name: string | null;
  scope: string;
  format: ApiRecord['format'];
  signing_alg: NonNullable<ApiRecord['signingAlg']> | null;
  access_token_ttl: number;
  scope_descriptions: Record<string, string> | null;
  user_consent_scopes: string[] | null;
  created_at: number;
  updated_at: number | null;
};

const API_COLUMNS = `identifier, name, scope, format, signing_alg, access_token_ttl, scope_descriptions,
  user_consent_scopes, created_at, updated_at`;
const API_INSERT = `INSERT INTO apis (${API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
const API_SET = `name = $2, scope = $3, format = $4, signing_alg = $5, access_token_ttl = $6,
  scope_descriptions = $7, user_consent_scopes = $8, created_at = $9, updated_at = $10`;

const API_STATEMENTS = {
  create: statement('apis.create', API_INSERT),
  upsert: statement('apis.upsert', `${API_INSERT} ON CONFLICT (identifier) DO UPDATE SET ${API_SET}`),
  get: statement('apis.get', `SELECT ${API_COLUMNS} FROM apis WHERE identifier = $1`),
  list: statement('apis.list', `SELECT ${API_COLUMNS} FROM apis ORDER BY created_at, identifier`),
  update: statement('apis.update', `UPDATE apis SET ${API_SET} WHERE identifier = $1`),
  remove: statement('apis.remove', 'DELETE FROM apis WHERE identifier = $1'),
} satisfies Record<string, Statement>;

export class PostgresApiStore implements ApiStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(api: ApiRecord): Promise<void> {
    await mapConflict(
      () => this.#db.run(API_STATEMENTS.create, apiValues(api)),
      () => `an API with identifier ${api.identifier} already exists`,
    );
  }

  async get(identifier: string): Promise<ApiRecord | undefined> {
    const row = await this.#db.row<ApiRow>(API_STATEMENTS.get, [identifier]);
    return row && apiFromRow(row);
  }

  async list(): Promise<ApiRecord[]> {
    return (await this.#db.rows<ApiRow>(API_STATEMENTS.list)).map(apiFromRow);
  }

  async update(api: ApiRecord): Promise<boolean> {
    return (await this.#db.run(API_STATEMENTS.update, apiValues(api))) === 1;
  }

  async remove(identifier: string): Promise<boolean> {
    return (await this.#db.run(API_STATEMENTS.remove, [identifier])) === 1;
  }

  async importRecord(record: unknown): Promise<void> {
    await this.#db.run(
      API_STATEMENTS.upsert,
      apiValues(importedRecord<ApiRecord>('api', record, ['identifier'])),
    );
  }
}

export const apiExport: ExportSource = {
  kind: 'api',
  query: `SELECT ${API_COLUMNS} FROM apis ORDER BY identifier`,
  fromRow: (row) => apiFromRow(row as ApiRow),
};

function apiValues(api: ApiRecord): unknown[] {
  return [
    api.identifier,
    nullable(api.name),
    api.scope,
    api.format,
    nullable(api.signingAlg),
    api.accessTokenTtl,
    jsonParameter(api.scopeDescriptions),
    nullable(api.userConsentScopes),
    api.createdAt,
    nullable(api.updatedAt),
  ];
}

function apiFromRow(row: ApiRow): ApiRecord {
  // Absent optional fields get no key at all, so records compare and serialise like the originals.
  const api: ApiRecord = {
    identifier: row.identifier,
    scope: row.scope,
    format: row.format,
    accessTokenTtl: row.access_token_ttl,
    createdAt: row.created_at,
  };
  if (row.name !== null) api.name = row.name;
  if (row.signing_alg !== null) api.signingAlg = row.signing_alg;
  if (row.scope_descriptions !== null) api.scopeDescriptions = row.scope_descriptions;
  if (row.user_consent_scopes !== null) api.userConsentScopes = row.user_consent_scopes;
  if (row.updated_at !== null) api.updatedAt = row.updated_at;
  return api;
}

type ClientGrantRow = {
  client_id: string;
  api: string;
  scopes: string[];
  created_at: number;
  updated_at: number;
};

const GRANT_COLUMNS = 'client_id, api, scopes, created_at, updated_at';

const GRANT_STATEMENTS = {
  put: statement(
    'clientGrants.put',
    `INSERT INTO client_grants (${GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (client_id, api) DO UPDATE SET scopes = excluded.scopes,
       created_at = excluded.created_at, updated_at = excluded.updated_at`,
  ),
  get: statement(
    'clientGrants.get',
    `SELECT ${GRANT_COLUMNS} FROM client_grants WHERE client_id = $1 AND api = $2`,
  ),
  listByClient: statement(
    'clientGrants.listByClient',
    `SELECT ${GRANT_COLUMNS} FROM client_grants WHERE client_id = $1 ORDER BY api`,
  ),
  listByApi: statement(
    'clientGrants.listByApi',
    `SELECT ${GRANT_COLUMNS} FROM client_grants WHERE api = $1 ORDER BY client_id`,
  ),
  remove: statement('clientGrants.remove', 'DELETE FROM client_grants WHERE client_id = $1 AND api = $2'),
  removeByClient: statement('clientGrants.removeByClient', 'DELETE FROM client_grants WHERE client_id = $1'),
  removeByApi: statement('clientGrants.removeByApi', 'DELETE FROM client_grants WHERE api = $1'),
} satisfies Record<string, Statement>;

export class PostgresClientGrantStore implements ClientGrantStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(grant: ClientGrantRecord): Promise<void> {
    await this.#db.run(GRANT_STATEMENTS.put, [
      grant.clientId,
      grant.api,
      grant.scopes,
      grant.createdAt,
      grant.updatedAt,
    ]);
  }

  async get(clientId: string, api: string): Promise<ClientGrantRecord | undefined> {
    const row = await this.#db.row<ClientGrantRow>(GRANT_STATEMENTS.get, [clientId, api]);
    return row && grantFromRow(row);
  }

  async listByClient(clientId: string): Promise<ClientGrantRecord[]> {
    return (await this.#db.rows<ClientGrantRow>(GRANT_STATEMENTS.listByClient, [clientId])).map(grantFromRow);
  }

  async listByApi(api: string): Promise<ClientGrantRecord[]> {
    return (await this.#db.rows<ClientGrantRow>(GRANT_STATEMENTS.listByApi, [api])).map(grantFromRow);
  }

  async remove(clientId: string, api: string): Promise<boolean> {
    return (await this.#db.run(GRANT_STATEMENTS.remove, [clientId, api])) === 1;
  }

  removeByClient(clientId: string): Promise<number> {
    return this.#db.run(GRANT_STATEMENTS.removeByClient, [clientId]);
  }

  removeByApi(api: string): Promise<number> {
    return this.#db.run(GRANT_STATEMENTS.removeByApi, [api]);
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<ClientGrantRecord>('clientGrant', record, ['clientId', 'api']));
  }
}

export const clientGrantExport: ExportSource = {
  kind: 'clientGrant',
  query: `SELECT ${GRANT_COLUMNS} FROM client_grants ORDER BY client_id, api`,
  fromRow: (row) => grantFromRow(row as ClientGrantRow),
};

function grantFromRow(row: ClientGrantRow): ClientGrantRecord {
  return {
    clientId: row.client_id,
    api: row.api,
    scopes: row.scopes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
