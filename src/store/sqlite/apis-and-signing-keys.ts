// The authorization server's own registries in SQLite: APIs (resource servers) and signing keys.
// Loose objects (scope descriptions, public JWKs) are JSON columns; private keys arrive sealed.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ApiRecord, ApiStore, ExportEntry, SigningKeyRecord, SigningKeyStore } from '../types.js';
import { importedRecord, mapConflict, nullable } from './support.js';

type ApiRow = {
  identifier: string;
  name: string | null;
  scope: string;
  format: ApiRecord['format'];
  signing_alg: NonNullable<ApiRecord['signingAlg']> | null;
  access_token_ttl: number;
  scope_descriptions: string | null;
  user_consent_scopes: string | null;
  created_at: number;
  updated_at: number | null;
};

const API_COLUMNS = `identifier, name, scope, format, signing_alg, access_token_ttl, scope_descriptions,
  user_consent_scopes, created_at, updated_at`;
const API_VALUES = `:identifier, :name, :scope, :format, :signing_alg, :access_token_ttl, :scope_descriptions,
  :user_consent_scopes, :created_at, :updated_at`;
const API_SET = `name = :name, scope = :scope, format = :format, signing_alg = :signing_alg,
  access_token_ttl = :access_token_ttl, scope_descriptions = :scope_descriptions,
  user_consent_scopes = :user_consent_scopes, created_at = :created_at, updated_at = :updated_at`;

export class SqliteApiStore implements ApiStore {
  readonly #db: DatabaseSync;
  readonly #create: StatementSync;
  readonly #upsert: StatementSync;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #update: StatementSync;
  readonly #remove: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const insert = `INSERT INTO apis (${API_COLUMNS}) VALUES (${API_VALUES})`;
    this.#create = db.prepare(insert);
    this.#upsert = db.prepare(`${insert} ON CONFLICT (identifier) DO UPDATE SET ${API_SET}`);
    this.#get = db.prepare('SELECT * FROM apis WHERE identifier = ?');
    this.#list = db.prepare('SELECT * FROM apis ORDER BY created_at, identifier');
    this.#update = db.prepare(`UPDATE apis SET ${API_SET} WHERE identifier = :identifier`);
    this.#remove = db.prepare('DELETE FROM apis WHERE identifier = ?');
  }

  async create(api: ApiRecord): Promise<void> {
    mapConflict(
      () => this.#create.run(apiToRow(api)),
      () => `an API with identifier ${api.identifier} already exists`,
    );
  }

  async get(identifier: string): Promise<ApiRecord | undefined> {
    const row = this.#get.get(identifier) as ApiRow | undefined;
    return row && apiFromRow(row);
  }

  async list(): Promise<ApiRecord[]> {
    return (this.#list.all() as ApiRow[]).map(apiFromRow);
  }

  async update(api: ApiRecord): Promise<boolean> {
    return this.#update.run(apiToRow(api)).changes === 1;
  }

  async remove(identifier: string): Promise<boolean> {
    return this.#remove.run(identifier).changes === 1;
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT * FROM apis ORDER BY identifier').iterate()) {
      yield { kind: 'api', record: apiFromRow(row as ApiRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    this.#upsert.run(apiToRow(importedRecord<ApiRecord>('api', record, ['identifier'])));
  }
}

function apiToRow(api: ApiRecord): ApiRow {
  return {
    identifier: api.identifier,
    name: nullable(api.name),
    scope: api.scope,
    format: api.format,
    signing_alg: nullable(api.signingAlg),
    access_token_ttl: api.accessTokenTtl,
    scope_descriptions: api.scopeDescriptions === undefined ? null : JSON.stringify(api.scopeDescriptions),
    user_consent_scopes: api.userConsentScopes === undefined ? null : JSON.stringify(api.userConsentScopes),
    created_at: api.createdAt,
    updated_at: nullable(api.updatedAt),
  };
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
  if (row.scope_descriptions !== null) {
    api.scopeDescriptions = JSON.parse(row.scope_descriptions) as Record<string, string>;
  }
  if (row.user_consent_scopes !== null)
    api.userConsentScopes = JSON.parse(row.user_consent_scopes) as string[];
  if (row.updated_at !== null) api.updatedAt = row.updated_at;
  return api;
}

type SigningKeyRow = {
  kid: string;
  alg: string;
  status: SigningKeyRecord['status'];
  public_jwk: string;
  private_sealed: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  expires_at: number | null;
};

export class SqliteSigningKeyStore implements SigningKeyStore {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #list: StatementSync;
  readonly #remove: StatementSync;
  readonly #reseal: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#put = db.prepare(
      `INSERT INTO signing_keys
         (kid, alg, status, public_jwk, private_sealed, created_at, activated_at, retired_at, expires_at)
       VALUES (:kid, :alg, :status, :public_jwk, :private_sealed, :created_at, :activated_at, :retired_at, :expires_at)
       ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, status = excluded.status,
         public_jwk = excluded.public_jwk, private_sealed = excluded.private_sealed,
         created_at = excluded.created_at, activated_at = excluded.activated_at,
         retired_at = excluded.retired_at, expires_at = excluded.expires_at`,
    );
    this.#list = db.prepare('SELECT * FROM signing_keys ORDER BY created_at, kid');
    this.#remove = db.prepare('DELETE FROM signing_keys WHERE kid = ?');
    this.#reseal = db.prepare(
      'UPDATE signing_keys SET private_sealed = :replacement WHERE kid = :kid AND private_sealed = :expected',
    );
  }

  async put(key: SigningKeyRecord): Promise<void> {
    this.#put.run({
      kid: key.kid,
      alg: key.alg,
      status: key.status,
      public_jwk: JSON.stringify(key.publicJwk),
      private_sealed: key.privateSealed,
      created_at: key.createdAt,
      activated_at: nullable(key.activatedAt),
      retired_at: nullable(key.retiredAt),
      expires_at: nullable(key.expiresAt),
    });
  }

  async list(): Promise<SigningKeyRecord[]> {
    return (this.#list.all() as SigningKeyRow[]).map(signingKeyFromRow);
  }

  async remove(kid: string): Promise<boolean> {
    return this.#remove.run(kid).changes === 1;
  }

  /** Store.resealIfUnchanged for a signing key's private part. */
  async reseal(kid: string, expected: string, replacement: string): Promise<boolean> {
    return this.#reseal.run({ kid, expected, replacement }).changes === 1;
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT * FROM signing_keys ORDER BY kid').iterate()) {
      yield { kind: 'signingKey', record: signingKeyFromRow(row as SigningKeyRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<SigningKeyRecord>('signingKey', record, ['kid']));
  }
}

function signingKeyFromRow(row: SigningKeyRow): SigningKeyRecord {
  const key: SigningKeyRecord = {
    kid: row.kid,
    alg: row.alg,
    status: row.status,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    privateSealed: row.private_sealed,
    createdAt: row.created_at,
  };
  if (row.activated_at !== null) key.activatedAt = row.activated_at;
  if (row.retired_at !== null) key.retiredAt = row.retired_at;
  if (row.expires_at !== null) key.expiresAt = row.expires_at;
  return key;
}
