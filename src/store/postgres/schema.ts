// The PostgreSQL store's schema and its versioned migrations. Every instance migrates at open,
// under a session advisory lock, so that of several instances starting at once one migrates and
// the others wait, then find the work done. Applied versions are rows of latchkey_schema_migrations.
import type pg from 'pg';

interface Migration {
  /** Shown in latchkey_schema_migrations, for operators. */
  description: string;
  sql: string;
}

/**
 * Entry N (counting from 1) migrates the schema from version N - 1 to N. Append, never edit: a
 * database at version N has run the first N entries. Each runs in its own transaction together
 * with the row that records it (PostgreSQL's DDL is transactional), so a failed one leaves nothing.
 *
 * Conventions: identifiers and keys are `text COLLATE "C"` (byte order, as SQLite and MongoDB
 * sort, and cheaper to compare than a linguistic collation); epochs are BIGINT milliseconds
 * (`consumed_at`: seconds, as oidc-provider keeps it); loose objects are `json`, which keeps the
 * text as written (key order included), since the store never queries inside them; lists of
 * strings are `text[]`. NULL stands for an absent optional field.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    description:
      'oidc records, clients, client grants, accounts, APIs, signing keys, settings, leases, vault',
    sql: `
    CREATE TABLE oidc_records (
      model       text COLLATE "C" NOT NULL,
      key         text COLLATE "C" NOT NULL,  -- SHA-256 (hex) of the artefact's id
      payload     text NOT NULL,              -- sealed
      grant_id    text COLLATE "C",
      uid         text COLLATE "C",
      user_code   text COLLATE "C",           -- SHA-256 (hex) of the normalised user code
      account_id  text COLLATE "C",
      client_id   text COLLATE "C",
      expires_at  bigint,                     -- epoch ms; NULL = never expires
      consumed_at bigint,                     -- epoch s
      PRIMARY KEY (model, key)
    ) WITH (fillfactor = 90);  -- room on the page for consume's in-place (HOT) update
    -- Partial indexes: most records carry few of these, and a lookup by value implies NOT NULL.
    CREATE INDEX oidc_records_grant_id ON oidc_records (grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX oidc_records_uid ON oidc_records (model, uid) WHERE uid IS NOT NULL;
    CREATE INDEX oidc_records_user_code ON oidc_records (model, user_code) WHERE user_code IS NOT NULL;
    -- Account first: it serves findByAccountId (account and model) and revokeByAccountId (account only).
    CREATE INDEX oidc_records_account_id ON oidc_records (account_id, model) WHERE account_id IS NOT NULL;
    CREATE INDEX oidc_records_client_id ON oidc_records (client_id) WHERE client_id IS NOT NULL;
    CREATE INDEX oidc_records_expires_at ON oidc_records (expires_at) WHERE expires_at IS NOT NULL;

    CREATE TABLE clients (
      client_id     text COLLATE "C" PRIMARY KEY,
      metadata      json NOT NULL,
      secret_sealed text,
      created_at    bigint NOT NULL,
      updated_at    bigint NOT NULL
    );

    CREATE TABLE client_grants (
      client_id  text COLLATE "C" NOT NULL,
      api        text COLLATE "C" NOT NULL,  -- the API's identifier
      scopes     text[] NOT NULL,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (client_id, api)
    );
    -- By client the primary key serves; by API this one.
    CREATE INDEX client_grants_api ON client_grants (api, client_id);

    CREATE TABLE accounts (
      id             text COLLATE "C" PRIMARY KEY,
      email          text COLLATE "C" NOT NULL CONSTRAINT accounts_email_key UNIQUE,  -- lower-cased by the store
      email_verified boolean NOT NULL,
      name           text NOT NULL,
      password_hash  text NOT NULL,
      disabled       boolean,  -- NULL = never set (enabled)
      created_at     bigint NOT NULL,
      updated_at     bigint NOT NULL
    );

    CREATE TABLE apis (
      identifier          text COLLATE "C" PRIMARY KEY,
      name                text,
      scope               text NOT NULL,
      format              text NOT NULL CHECK (format IN ('jwt', 'opaque')),
      signing_alg         text,
      access_token_ttl    integer NOT NULL,
      scope_descriptions  json,    -- { scope: description }
      user_consent_scopes text[],
      created_at          bigint NOT NULL,
      updated_at          bigint
    );

    CREATE TABLE signing_keys (
      kid            text COLLATE "C" PRIMARY KEY,
      alg            text NOT NULL,
      status         text NOT NULL CHECK (status IN ('next', 'active', 'retired')),
      public_jwk     json NOT NULL,
      private_sealed text NOT NULL,
      created_at     bigint NOT NULL,
      activated_at   bigint,
      retired_at     bigint,
      expires_at     bigint
    );

    CREATE TABLE settings (
      name  text COLLATE "C" PRIMARY KEY,
      value text NOT NULL  -- sealed
    );

    CREATE TABLE leases (
      name       text COLLATE "C" PRIMARY KEY,
      owner      text NOT NULL,
      expires_at bigint NOT NULL  -- epoch ms
    );
    CREATE INDEX leases_expires_at ON leases (expires_at);

    -- No foreign key from connections to integrations: the other stores cannot have one, and all
    -- must behave alike (removing an integration removes its connections in the same statement).
    CREATE TABLE vault_integrations (
      app_id               text COLLATE "C" NOT NULL,
      key                  text COLLATE "C" NOT NULL,
      provider             text NOT NULL,
      client_id            text NOT NULL,
      client_secret_sealed text,
      scopes               text[] NOT NULL,
      issuer               text,
      authorization_params json,  -- { name: value }
      created_at           bigint NOT NULL,
      updated_at           bigint NOT NULL,
      PRIMARY KEY (app_id, key)
    );

    CREATE TABLE vault_connections (
      app_id           text COLLATE "C" NOT NULL,
      integration_key  text COLLATE "C" NOT NULL,
      end_user_id      text COLLATE "C" NOT NULL,
      status           text NOT NULL CHECK (status IN ('active', 'needs_reauth', 'revoked')),
      tokens_sealed    text NOT NULL,
      expires_at       bigint,  -- epoch ms; NULL = unknown / does not expire
      scopes           text[] NOT NULL,
      last_refresh_at  bigint,
      last_error       json,    -- { code, message, at }
      refresh_failures integer NOT NULL,
      next_refresh_at  bigint,
      version          integer NOT NULL,
      created_at       bigint NOT NULL,
      updated_at       bigint NOT NULL,
      PRIMARY KEY (app_id, integration_key, end_user_id)
    );
    -- An end user's connections across the app's integrations; by integration the primary key serves.
    CREATE INDEX vault_connections_end_user ON vault_connections (app_id, end_user_id);
    `,
  },
  {
    description: 'counters in fixed windows (login throttling, replay checks)',
    sql: `
    CREATE TABLE counters (
      key      text COLLATE "C" PRIMARY KEY,
      count    integer NOT NULL,
      reset_at bigint NOT NULL  -- epoch ms: when the window ends
    ) WITH (fillfactor = 70);  -- room on the page for each hit's in-place (HOT) update
    CREATE INDEX counters_reset_at ON counters (reset_at);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The advisory lock every instance takes to migrate; a key of its own, derived from a readable name. */
const MIGRATION_LOCK = `hashtextextended('latchkey:schema-migrations', 0)`;

/**
 * Brings the database's schema to SCHEMA_VERSION and returns the versions that this call applied
 * (none when another instance, or an earlier start, already had). Throws when the database was
 * migrated by a newer build.
 */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  let unlocked = false;
  try {
    // A session lock, not a transaction's: each migration commits on its own. Whoever waits here
    // reads the applied versions only once the migrating instance is done.
    await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      return await applyPending(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
      unlocked = true;
    }
  } finally {
    // A connection that may still hold the lock is closed (which frees it), never pooled.
    client.release(!unlocked);
  }
}

async function applyPending(client: pg.PoolClient): Promise<number[]> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS latchkey_schema_migrations (
      version     integer PRIMARY KEY,
      description text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
  const { rows } = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM latchkey_schema_migrations',
  );
  const from = rows[0]?.version ?? 0;
  if (from > SCHEMA_VERSION) {
    throw new Error(
      `PostgreSQL store schema version ${from} is newer than this build supports (${SCHEMA_VERSION}); upgrade Latchkey`,
    );
  }
  const applied: number[] = [];
  for (let version = from + 1; version <= SCHEMA_VERSION; version += 1) {
    const migration = MIGRATIONS[version - 1]!;
    await client.query('BEGIN');
    try {
      await client.query(migration.sql);
      await client.query('INSERT INTO latchkey_schema_migrations (version, description) VALUES ($1, $2)', [
        version,
        migration.description,
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    applied.push(version);
  }
  return applied;
}
