// Opens the SQLite file with the settings that let several processes share it, and brings its
// schema up to date. The schema version lives in PRAGMA user_version.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * Each entry migrates the schema from version `index` to `index + 1`. Append, never edit: a
 * database that is already at version N has run the first N entries.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS oidc_records (
    model       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    grant_id    TEXT,
    uid         TEXT,
    user_code   TEXT,
    expires_at  INTEGER,  -- epoch ms; NULL = never expires
    consumed_at INTEGER,  -- epoch s
    PRIMARY KEY (model, key)
  );
  -- Partial indexes: most records carry none of these, and a lookup by value implies NOT NULL.
  CREATE INDEX IF NOT EXISTS oidc_records_grant_id ON oidc_records (grant_id) WHERE grant_id IS NOT NULL;
  CREATE INDEX IF NOT EXISTS oidc_records_uid ON oidc_records (model, uid) WHERE uid IS NOT NULL;
  CREATE INDEX IF NOT EXISTS oidc_records_user_code ON oidc_records (model, user_code) WHERE user_code IS NOT NULL;
  CREATE INDEX IF NOT EXISTS oidc_records_expires_at ON oidc_records (expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE IF NOT EXISTS clients (
    client_id     TEXT    PRIMARY KEY,
    metadata      TEXT    NOT NULL,  -- JSON
    secret_sealed TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );

  CREATE TABLE IF NOT EXISTS accounts (
    id             TEXT    PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,  -- lower-cased by the store
    email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    name           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  );

  CREATE TABLE IF NOT EXISTS apis (
    identifier       TEXT    PRIMARY KEY,
    name             TEXT,
    scope            TEXT    NOT NULL,
    format           TEXT    NOT NULL CHECK (format IN ('jwt', 'opaque')),
    signing_alg      TEXT,
    access_token_ttl INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
  );

  CREATE TABLE IF NOT EXISTS signing_keys (
    kid            TEXT    PRIMARY KEY,
    alg            TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    public_jwk     TEXT    NOT NULL,  -- JSON
    private_sealed TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER,
    expires_at     INTEGER
  );

  CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE IF NOT EXISTS leases (
    name       TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL  -- epoch ms
  );
  `,
  // 2: grants are listed by account (the connected-apps page).
  `
  ALTER TABLE oidc_records ADD COLUMN account_id TEXT;
  CREATE INDEX IF NOT EXISTS oidc_records_account_id ON oidc_records (model, account_id) WHERE account_id IS NOT NULL;
  `,
  // 3: the token vault's integrations (an app's upstream providers) and its end users' connections.
  // No foreign key from connections to integrations: the MongoDB store cannot have one, and both
  // stores must behave alike (removing an integration removes its connections in code).
  `
  CREATE TABLE IF NOT EXISTS vault_integrations (
    app_id               TEXT    NOT NULL,
    key                  TEXT    NOT NULL,
    provider             TEXT    NOT NULL,
    client_id            TEXT    NOT NULL,
    client_secret_sealed TEXT,
    scopes               TEXT    NOT NULL,  -- JSON array of strings
    issuer               TEXT,
    authorization_params TEXT,              -- JSON object of strings
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (app_id, key)
  );

  CREATE TABLE IF NOT EXISTS vault_connections (
    app_id           TEXT    NOT NULL,
    integration_key  TEXT    NOT NULL,
    end_user_id      TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    tokens_sealed    TEXT    NOT NULL,
    expires_at       INTEGER,           -- epoch ms; NULL = unknown / does not expire
    scopes           TEXT    NOT NULL,  -- JSON array of strings
    last_refresh_at  INTEGER,
    last_error       TEXT,              -- JSON { code, message, at }
    refresh_failures INTEGER NOT NULL,
    next_refresh_at  INTEGER,
    version          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (app_id, integration_key, end_user_id)
  );
  -- An end user's connections across the app's integrations; by integration the primary key serves.
  CREATE INDEX IF NOT EXISTS vault_connections_end_user ON vault_connections (app_id, end_user_id);
  `,
  // 4: client grants (an admin's grant of an API's scopes to a client); every OIDC record indexed
  // by its client and account, whatever its model (revoking a removed client's or account's
  // artefacts); APIs that can be updated, with scope descriptions and user-consent scopes; disabled
  // accounts. Added columns are NULL on existing rows, which reads back as "not set".
  `
  ALTER TABLE oidc_records ADD COLUMN client_id TEXT;
  CREATE INDEX IF NOT EXISTS oidc_records_client_id ON oidc_records (client_id) WHERE client_id IS NOT NULL;
  -- (account_id, model) serves both a lookup by account alone (revokeByAccountId) and one by
  -- account within a model (findByAccountId), so it replaces version 2's (model, account_id).
  DROP INDEX IF EXISTS oidc_records_account_id;
  CREATE INDEX IF NOT EXISTS oidc_records_account ON oidc_records (account_id, model) WHERE account_id IS NOT NULL;

  ALTER TABLE apis ADD COLUMN scope_descriptions TEXT;   -- JSON object, scope -> text
  ALTER TABLE apis ADD COLUMN user_consent_scopes TEXT;  -- JSON array of strings
  ALTER TABLE apis ADD COLUMN updated_at INTEGER;

  ALTER TABLE accounts ADD COLUMN disabled INTEGER CHECK (disabled IN (0, 1));  -- NULL = never set

  CREATE TABLE IF NOT EXISTS client_grants (
    client_id  TEXT    NOT NULL,
    api        TEXT    NOT NULL,  -- the API's identifier; no foreign key, as for vault connections
    scopes     TEXT    NOT NULL,  -- JSON array of strings
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, api)
  );
  -- The grants for one API, in client order; by client the primary key serves.
  CREATE INDEX IF NOT EXISTS client_grants_api ON client_grants (api, client_id);
  `,
  // 5: counters in fixed windows (login throttling, replay checks), shared by every process.
  `
  CREATE TABLE IF NOT EXISTS counters (
    key      TEXT    PRIMARY KEY,
    count    INTEGER NOT NULL,
    reset_at INTEGER NOT NULL  -- epoch ms: when the window ends
  );
  CREATE INDEX IF NOT EXISTS counters_reset_at ON counters (reset_at);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating if need be) the database at `path` and migrates it to SCHEMA_VERSION. */
/**
 * The database file is created owner-only (mode 600) before SQLite opens it: SQLite gives its -wal
 * and -shm files the database file's permissions (os_unix.c, findCreateFileMode and
 * unixOpenSharedMemory). Files an older release left readable by others are narrowed too.
 */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch (error) {
      // Not there yet (SQLite makes it with the mode above), or another user's file: leave it.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw error;
    }
  }
}

export function openDatabase(path: string): DatabaseSync {
  if (path !== ':memory:') createPrivateFile(path);
  const db = new DatabaseSync(path);
  try {
    // busy_timeout first: the statements below may already wait for another process's lock.
    db.exec('PRAGMA busy_timeout = 5000');
    // WAL lets readers in other processes go on while one writes; with WAL, synchronous=NORMAL
    // stays consistent after a crash and only risks the last commits on power loss.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function userVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  return row.user_version;
}

function migrate(db: DatabaseSync): void {
  if (userVersion(db) === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock up front, so two processes starting at once migrate in turn
  // (the second finds the work done) instead of failing to upgrade a read lock.
  db.exec('BEGIN IMMEDIATE');
  try {
    const from = userVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new Error(
        `SQLite store schema version ${from} is newer than this build supports (${SCHEMA_VERSION}); upgrade Latchkey`,
      );
    }
    for (let version = from; version < SCHEMA_VERSION; version += 1) db.exec(MIGRATIONS[version]);
    // PRAGMA takes no bound parameters; the value is our own integer.
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
