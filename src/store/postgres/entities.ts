// The registries kept in PostgreSQL: clients, accounts and signing keys. Loose objects (client
// metadata, public JWKs) are json columns; secrets arrive sealed.
import type pg from 'pg';
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
  AccountRecord,
  AccountStore,
  ClientRecord,
  ClientStore,
  SigningKeyRecord,
  SigningKeyStore,
} from '../types.js';

type ClientRow = {
  client_id: string;
  metadata: Record<string, unknown>;
  secret_sealed: string | null;
  created_at: number;
  updated_at: number;
};

const CLIENT_COLUMNS = 'client_id, metadata, secret_sealed, created_at, updated_at';

const CLIENT_STATEMENTS = {
  put: statement(
    'clients.put',
    `INSERT INTO clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata,
       secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, updated_at = excluded.updated_at`,
  ),
  get: statement('clients.get', `SELECT ${CLIENT_COLUMNS} FROM clients WHERE client_id = $1`),
  list: statement('clients.list', `SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id`),
  remove: statement('clients.remove', 'DELETE FROM clients WHERE client_id = $1'),
} satisfies Record<string, Statement>;

export class PostgresClientStore implements ClientStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(client: ClientRecord): Promise<void> {
    await this.#db.run(CLIENT_STATEMENTS.put, [
      client.clientId,
      jsonParameter(client.metadata),
      nullable(client.secretSealed),
      client.createdAt,
      client.updatedAt,
    ]);
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const row = await this.#db.row<ClientRow>(CLIENT_STATEMENTS.get, [clientId]);
    return row && clientFromRow(row);
  }

  async list(): Promise<ClientRecord[]> {
    return (await this.#db.rows<ClientRow>(CLIENT_STATEMENTS.list)).map(clientFromRow);
  }

  async remove(clientId: string): Promise<boolean> {
    return (await this.#db.run(CLIENT_STATEMENTS.remove, [clientId])) === 1;
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<ClientRecord>('client', record, ['clientId']));
  }
}

export const clientExport: ExportSource = {
  kind: 'client',
  query: `SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY client_id`,
  fromRow: (row) => clientFromRow(row as ClientRow),
};

function clientFromRow(row: ClientRow): ClientRecord {
  const client: ClientRecord = {
    clientId: row.client_id,
    metadata: row.metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.secret_sealed !== null) client.secretSealed = row.secret_sealed;
  return client;
}

type AccountRow = {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  password_hash: string;
  disabled: boolean | null;
  created_at: number;
  updated_at: number;
};

const ACCOUNT_COLUMNS = 'id, email, email_verified, name, password_hash, disabled, created_at, updated_at';
const ACCOUNT_INSERT = `INSERT INTO accounts (${ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

const ACCOUNT_STATEMENTS = {
  create: statement('accounts.create', ACCOUNT_INSERT),
  // Import replaces by id; another account that owns the email still makes it a conflict.
  upsert: statement(
    'accounts.upsert',
    `${ACCOUNT_INSERT} ON CONFLICT (id) DO UPDATE SET email = excluded.email,
       email_verified = excluded.email_verified, name = excluded.name, password_hash = excluded.password_hash,
       disabled = excluded.disabled, created_at = excluded.created_at, updated_at = excluded.updated_at`,
  ),
  get: statement('accounts.get', `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`),
  findByEmail: statement('accounts.findByEmail', `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE email = $1`),
  list: statement('accounts.list', `SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id`),
  // NULL means "leave as is": no change can mean NULL (the columns are NOT NULL, and `disabled`
  // is only ever set to true or false).
  update: statement(
    'accounts.update',
    `UPDATE accounts SET email = coalesce($2, email), email_verified = coalesce($3::boolean, email_verified),
       name = coalesce($4, name), password_hash = coalesce($5, password_hash),
       disabled = coalesce($6::boolean, disabled), updated_at = coalesce($7::bigint, updated_at)
     WHERE id = $1`,
  ),
  remove: statement('accounts.remove', 'DELETE FROM accounts WHERE id = $1'),
} satisfies Record<string, Statement>;

// The UNIQUE index is on the stored value, so every way in lower-cases it first.
const normalizeEmail = (email: string) => email.toLowerCase();

function describeAccountConflict(account: { id: string; email?: string | undefined }) {
  return (error: pg.DatabaseError) =>
    error.constraint === 'accounts_email_key'
      ? `an account with email ${account.email} already exists`
      : `account ${account.id} already exists`;
}

export class PostgresAccountStore implements AccountStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(account: AccountRecord): Promise<void> {
    await mapConflict(
      () => this.#db.run(ACCOUNT_STATEMENTS.create, accountValues(account)),
      describeAccountConflict(account),
    );
  }

  async get(id: string): Promise<AccountRecord | undefined> {
    const row = await this.#db.row<AccountRow>(ACCOUNT_STATEMENTS.get, [id]);
    return row && accountFromRow(row);
  }

  async findByEmail(email: string): Promise<AccountRecord | undefined> {
    const row = await this.#db.row<AccountRow>(ACCOUNT_STATEMENTS.findByEmail, [normalizeEmail(email)]);
    return row && accountFromRow(row);
  }

  async list(): Promise<AccountRecord[]> {
    return (await this.#db.rows<AccountRow>(ACCOUNT_STATEMENTS.list)).map(accountFromRow);
  }

  async update(id: string, changes: Partial<Omit<AccountRecord, 'id' | 'createdAt'>>): Promise<boolean> {
    const email = changes.email === undefined ? undefined : normalizeEmail(changes.email);
    const changed = await mapConflict(
      () =>
        this.#db.run(ACCOUNT_STATEMENTS.update, [
          id,
          nullable(email),
          nullable(changes.emailVerified),
          nullable(changes.name),
          nullable(changes.passwordHash),
          nullable(changes.disabled),
          nullable(changes.updatedAt),
        ]),
      describeAccountConflict({ id, email }),
    );
    return changed === 1;
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#db.run(ACCOUNT_STATEMENTS.remove, [id])) === 1;
  }

  async importRecord(record: unknown): Promise<void> {
    const account = importedRecord<AccountRecord>('account', record, ['id', 'email']);
    await mapConflict(
      () => this.#db.run(ACCOUNT_STATEMENTS.upsert, accountValues(account)),
      describeAccountConflict(account),
    );
  }
}

export const accountExport: ExportSource = {
  kind: 'account',
  query: `SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY id`,
  fromRow: (row) => accountFromRow(row as AccountRow),
};

function accountValues(account: AccountRecord): unknown[] {
  return [
    account.id,
    normalizeEmail(account.email),
    account.emailVerified,
    account.name,
    account.passwordHash,
    nullable(account.disabled),
    account.createdAt,
    account.updatedAt,
  ];
}

function accountFromRow(row: AccountRow): AccountRecord {
  const account: AccountRecord = {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified,
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.disabled !== null) account.disabled = row.disabled;
  return account;
}

type SigningKeyRow = {
  kid: string;
  alg: string;
  status: SigningKeyRecord['status'];
  public_jwk: Record<string, unknown>;
  private_sealed: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  expires_at: number | null;
};

const SIGNING_KEY_COLUMNS =
  'kid, alg, status, public_jwk, private_sealed, created_at, activated_at, retired_at, expires_at';

const SIGNING_KEY_STATEMENTS = {
  put: statement(
    'signingKeys.put',
    `INSERT INTO signing_keys (${SIGNING_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, status = excluded.status,
       public_jwk = excluded.public_jwk, private_sealed = excluded.private_sealed,
       created_at = excluded.created_at, activated_at = excluded.activated_at,
       retired_at = excluded.retired_at, expires_at = excluded.expires_at`,
  ),
  list: statement(
    'signingKeys.list',
    `SELECT ${SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid`,
  ),
  remove: statement('signingKeys.remove', 'DELETE FROM signing_keys WHERE kid = $1'),
} satisfies Record<string, Statement>;

export class PostgresSigningKeyStore implements SigningKeyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(key: SigningKeyRecord): Promise<void> {
    await this.#db.run(SIGNING_KEY_STATEMENTS.put, [
      key.kid,
      key.alg,
      key.status,
      jsonParameter(key.publicJwk),
      key.privateSealed,
      key.createdAt,
      nullable(key.activatedAt),
      nullable(key.retiredAt),
      nullable(key.expiresAt),
    ]);
  }

  async list(): Promise<SigningKeyRecord[]> {
    return (await this.#db.rows<SigningKeyRow>(SIGNING_KEY_STATEMENTS.list)).map(signingKeyFromRow);
  }

  async remove(kid: string): Promise<boolean> {
    return (await this.#db.run(SIGNING_KEY_STATEMENTS.remove, [kid])) === 1;
  }

  async importRecord(record: unknown): Promise<void> {
    await this.put(importedRecord<SigningKeyRecord>('signingKey', record, ['kid']));
  }
}

export const signingKeyExport: ExportSource = {
  kind: 'signingKey',
  query: `SELECT ${SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY kid`,
  fromRow: (row) => signingKeyFromRow(row as SigningKeyRow),
};

function signingKeyFromRow(row: SigningKeyRow): SigningKeyRecord {
  const key: SigningKeyRecord = {
    kid: row.kid,
    alg: row.alg,
    status: row.status,
    publicJwk: row.public_jwk,
    privateSealed: row.private_sealed,
    createdAt: row.created_at,
  };
  if (row.activated_at !== null) key.activatedAt = row.activated_at;
  if (row.retired_at !== null) key.retiredAt = row.retired_at;
  if (row.expires_at !== null) key.expiresAt = row.expires_at;
  return key;
}
