// The registries kept in SQLite: clients, accounts, APIs (resource servers) and signing keys. Loose
// objects (client metadata, public JWKs) are JSON columns; secrets arrive sealed.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type {
  AccountRecord,
  AccountStore,
  ApiRecord,
  ApiStore,
  ClientRecord,
  ClientStore,
  ExportEntry,
  SigningKeyRecord,
  SigningKeyStore,
} from '../types.js';
import { importedRecord, mapConflict, nullable } from './support.js';

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

type AccountRow = {
  id: string;
  email: string;
  email_verified: 0 | 1;
  name: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
};

// The UNIQUE index is on the stored value, so every way in lower-cases it first.
const normalizeEmail = (email: string) => email.toLowerCase();

function describeAccountConflict(account: Pick<AccountRecord, 'id'> & { email?: string | undefined }) {
  return (error: Error) =>
    error.message.includes('accounts.email')
      ? `an account with email ${account.email} already exists`
      : `account ${account.id} already exists`;
}

export class SqliteAccountStore implements AccountStore {
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #recent: RowCache<AccountRecord>;
  readonly #create: StatementSync;
  readonly #upsert: StatementSync;
  readonly #get: StatementSync;
  readonly #findByEmail: StatementSync;
  readonly #list: StatementSync;
  readonly #update: StatementSync;
  readonly #remove: StatementSync;

  /** `get` (every token that carries claims reads the account) goes through `batch`. */
  constructor(db: DatabaseSync, batch: StatementBatch) {
    this.#db = db;
    this.#batch = batch;
    this.#recent = new RowCache<AccountRecord>(batch, (account) => account.passwordHash.length + 300);
    const insert = `INSERT INTO accounts (id, email, email_verified, name, password_hash, created_at, updated_at)
       VALUES (:id, :email, :email_verified, :name, :password_hash, :created_at, :updated_at)`;
    this.#create = db.prepare(insert);
    this.#upsert = db.prepare(
      `${insert} ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified,
         name = excluded.name, password_hash = excluded.password_hash, created_at = excluded.created_at,
         updated_at = excluded.updated_at`,
    );
    this.#get = db.prepare('SELECT * FROM accounts WHERE id = ?');
    this.#findByEmail = db.prepare('SELECT * FROM accounts WHERE email = ?');
    this.#list = db.prepare('SELECT * FROM accounts ORDER BY created_at, id');
    // NULL means "leave as is": every account column is NOT NULL, so no change can mean NULL.
    this.#update = db.prepare(
      `UPDATE accounts SET email = coalesce(:email, email),
         email_verified = coalesce(:email_verified, email_verified), name = coalesce(:name, name),
         password_hash = coalesce(:password_hash, password_hash), updated_at = coalesce(:updated_at, updated_at)
       WHERE id = :id`,
    );
    this.#remove = db.prepare('DELETE FROM accounts WHERE id = ?');
  }

  async create(account: AccountRecord): Promise<void> {
    mapConflict(() => this.#create.run(accountToRow(account)), describeAccountConflict(account));
  }

  get(id: string): Promise<AccountRecord | undefined> {
    return this.#batch.read(() =>
      this.#recent.get(id, () => {
        const row = this.#get.get(id) as AccountRow | undefined;
        return row && accountFromRow(row);
      }),
    );
  }

  async findByEmail(email: string): Promise<AccountRecord | undefined> {
    const row = this.#findByEmail.get(normalizeEmail(email)) as AccountRow | undefined;
    return row && accountFromRow(row);
  }

  async list(): Promise<AccountRecord[]> {
    return (this.#list.all() as AccountRow[]).map(accountFromRow);
  }

  async update(id: string, changes: Partial<Omit<AccountRecord, 'id' | 'createdAt'>>): Promise<boolean> {
    this.#recent.forget(id);
    const email = changes.email === undefined ? undefined : normalizeEmail(changes.email);
    const result = mapConflict(
      () =>
        this.#update.run({
          id,
          email: nullable(email),
          email_verified: changes.emailVerified === undefined ? null : Number(changes.emailVerified),
          name: nullable(changes.name),
          password_hash: nullable(changes.passwordHash),
          updated_at: nullable(changes.updatedAt),
        }),
      describeAccountConflict({ id, email }),
    );
    return result.changes === 1;
  }

  async remove(id: string): Promise<boolean> {
    this.#recent.forget(id);
    return this.#remove.run(id).changes === 1;
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT * FROM accounts ORDER BY id').iterate()) {
      yield { kind: 'account', record: accountFromRow(row as AccountRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    const account = importedRecord<AccountRecord>('account', record, ['id', 'email']);
    this.#recent.forget(account.id);
    mapConflict(() => this.#upsert.run(accountToRow(account)), describeAccountConflict(account));
  }
}

function accountToRow(account: AccountRecord): AccountRow {
  return {
    id: account.id,
    email: normalizeEmail(account.email),
    email_verified: account.emailVerified ? 1 : 0,
    name: account.name,
    password_hash: account.passwordHash,
    created_at: account.createdAt,
    updated_at: account.updatedAt,
  };
}

function accountFromRow(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified === 1,
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

type ApiRow = {
  identifier: string;
  name: string | null;
  scope: string;
  format: ApiRecord['format'];
  signing_alg: NonNullable<ApiRecord['signingAlg']> | null;
  access_token_ttl: number;
  created_at: number;
};

export class SqliteApiStore implements ApiStore {
  readonly #db: DatabaseSync;
  readonly #create: StatementSync;
  readonly #upsert: StatementSync;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #remove: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const insert = `INSERT INTO apis (identifier, name, scope, format, signing_alg, access_token_ttl, created_at)
       VALUES (:identifier, :name, :scope, :format, :signing_alg, :access_token_ttl, :created_at)`;
    this.#create = db.prepare(insert);
    this.#upsert = db.prepare(
      `${insert} ON CONFLICT (identifier) DO UPDATE SET name = excluded.name, scope = excluded.scope,
         format = excluded.format, signing_alg = excluded.signing_alg,
         access_token_ttl = excluded.access_token_ttl, created_at = excluded.created_at`,
    );
    this.#get = db.prepare('SELECT * FROM apis WHERE identifier = ?');
    this.#list = db.prepare('SELECT * FROM apis ORDER BY created_at, identifier');
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
    created_at: api.createdAt,
  };
}

function apiFromRow(row: ApiRow): ApiRecord {
  const api: ApiRecord = {
    identifier: row.identifier,
    scope: row.scope,
    format: row.format,
    accessTokenTtl: row.access_token_ttl,
    createdAt: row.created_at,
  };
  if (row.name !== null) api.name = row.name;
  if (row.signing_alg !== null) api.signingAlg = row.signing_alg;
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
