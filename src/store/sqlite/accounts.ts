// End-user accounts in SQLite: emails lower-cased under a UNIQUE index, passwords as argon2id
// strings (hashed before they get here). `get` is on every ID token's path, so it is cached.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import type { AccountRecord, AccountStore, ExportEntry } from '../types.js';
import { importedRecord, mapConflict, nullable } from './support.js';

type AccountRow = {
  id: string;
  email: string;
  email_verified: 0 | 1;
  name: string;
  password_hash: string;
  /** NULL: never set (reads back without the field), as opposed to 0, explicitly enabled. */
  disabled: 0 | 1 | null;
  created_at: number;
  updated_at: number;
};

// The UNIQUE index is on the stored value, so every way in lower-cases it first.
const normalizeEmail = (email: string) => email.toLowerCase();

const flag = (value: boolean | undefined): 0 | 1 | null => (value === undefined ? null : value ? 1 : 0);

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
    const insert = `INSERT INTO accounts
         (id, email, email_verified, name, password_hash, disabled, created_at, updated_at)
       VALUES (:id, :email, :email_verified, :name, :password_hash, :disabled, :created_at, :updated_at)`;
    this.#create = db.prepare(insert);
    this.#upsert = db.prepare(
      `${insert} ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified,
         name = excluded.name, password_hash = excluded.password_hash, disabled = excluded.disabled,
         created_at = excluded.created_at, updated_at = excluded.updated_at`,
    );
    this.#get = db.prepare('SELECT * FROM accounts WHERE id = ?');
    this.#findByEmail = db.prepare('SELECT * FROM accounts WHERE email = ?');
    this.#list = db.prepare('SELECT * FROM accounts ORDER BY created_at, id');
    // NULL means "leave as is": no change can mean NULL, since every other column is NOT NULL
    // and `disabled` is only ever set to true or false (NULL is "never set").
    this.#update = db.prepare(
      `UPDATE accounts SET email = coalesce(:email, email),
         email_verified = coalesce(:email_verified, email_verified), name = coalesce(:name, name),
         password_hash = coalesce(:password_hash, password_hash), disabled = coalesce(:disabled, disabled),
         updated_at = coalesce(:updated_at, updated_at)
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
          email_verified: flag(changes.emailVerified),
          name: nullable(changes.name),
          password_hash: nullable(changes.passwordHash),
          disabled: flag(changes.disabled),
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
    disabled: flag(account.disabled),
    created_at: account.createdAt,
    updated_at: account.updatedAt,
  };
}

function accountFromRow(row: AccountRow): AccountRecord {
  const account: AccountRecord = {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified === 1,
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  // Absent when never set, so that a record reads back exactly as it was written.
  if (row.disabled !== null) account.disabled = row.disabled === 1;
  return account;
}
