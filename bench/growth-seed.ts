// Fills the store with many live tokens and grants before a growth scenario, fast: rows are built by
// Latchkey's own adapter (hashed ids, sealed payloads, index fields, exactly as the server writes
// them) and written straight into the store's oidc_records table in large transactions, not one
// autocommitted upsert per row: on SQLite through a prepared INSERT, on PostgreSQL as one
// INSERT … SELECT FROM unnest(arrays) per few thousand rows (a round trip per batch, not per row)
// with synchronous_commit off. As PostgreSQL's "Populating a Database" advises, the table's
// secondary indexes are dropped for the load and made again after it (one sorted build each,
// instead of a million random insertions), from the definitions the database itself holds; on
// PostgreSQL the planner's statistics are then gathered, as autovacuum would have. Columns are read from the table too, so a column or an
// index added to the schema is seeded without a change here. It runs in a process of its own
// (./growth-seeder.ts), so that the server's memory figures carry nothing of the seeding.
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { AdapterPayload } from 'oidc-provider';
import pg from 'pg';
import type { Keyring } from '../src/store/encryption.js';
import { RecordAdapter } from '../src/store/oidc-adapter.js';
import type { OidcRecord, Store } from '../src/store/types.js';
import { API_SCOPE } from './fixtures.js';

/** Rows per transaction. */
const BATCH_ROWS = 20_000;
/** Rows per PostgreSQL statement (each column one array parameter). */
const POSTGRES_STATEMENT_ROWS = 5000;
const LIFETIME_SECONDS = 24 * 3600;
/** Grants spread over this many made-up accounts (no account holds an absurd number of grants). */
const ACCOUNTS = 10_000;
/** Each group of rows: a grant and one token of each kind issued under it. */
const MODELS = ['Grant', 'AccessToken', 'RefreshToken', 'ClientCredentials'] as const;

export interface GrowthSeedOptions {
  /** The store's database: a SQLite file, or a PostgreSQL URL. */
  database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  keyring: Keyring;
  rows: number;
  clientId: string;
}

/** Where a batch of records goes: in one transaction. */
interface RowWriter {
  writeBatch(records: OidcRecord[]): Promise<void>;
  finish(): Promise<void>;
  close(): Promise<void>;
}

/** Inserts `rows` oidc records (a quarter each grants, access, refresh and client credentials tokens). */
export async function seedGrowthRows(options: GrowthSeedOptions): Promise<number> {
  const writer =
    options.database.kind === 'sqlite'
      ? sqliteWriter(options.database.path)
      : await postgresWriter(options.database.url);
  try {
    // The adapter hands each record to `store.oidc.upsert`: here, to the batch being built.
    let batch: OidcRecord[] = [];
    const capture = {
      oidc: { upsert: async (record: OidcRecord) => void batch.push(record) },
    } as unknown as Store;
    const adapters = new Map(
      MODELS.map((model) => [model, new RecordAdapter(model, capture, options.keyring)]),
    );
    let written = 0;
    let grantId = '';
    while (written < options.rows) {
      const size = Math.min(BATCH_ROWS, options.rows - written);
      // One draw of randomness per batch: randomBytes per row costs more than the insert.
      const entropy = randomBytes(size * 32);
      batch = [];
      for (let index = written; index < written + size; index++) {
        const model = MODELS[index % MODELS.length]!;
        const offset = (index - written) * 32;
        const id = entropy.toString('base64url', offset, offset + 32);
        if (model === 'Grant') grantId = id;
        const payload = payloadFor(
          model,
          id,
          grantId,
          `growth-account-${index % ACCOUNTS}`,
          options.clientId,
        );
        await adapters.get(model)!.upsert(id, payload, LIFETIME_SECONDS);
      }
      await writer.writeBatch(batch);
      written += size;
    }
    await writer.finish();
    return written;
  } finally {
    await writer.close();
  }
}

/** The table's columns, as OidcRecord names them (grant_id: grantId). */
const fieldOf = (column: string) =>
  column.replace(/_([a-z])/g, (_all, letter: string) => letter.toUpperCase());
const valueOf = (record: OidcRecord, field: string) =>
  ((record as unknown as Record<string, unknown>)[field] ?? null) as string | number | null;

function sqliteWriter(path: string): RowWriter {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 5000');
  // Keyed by SHA-256, every insert lands on a random page: a large cache keeps them in memory.
  db.exec('PRAGMA cache_size = -262144');
  const columns = (db.prepare('PRAGMA table_info(oidc_records)').all() as { name: string }[]).map(
    (column) => column.name,
  );
  const fields = columns.map(fieldOf);
  const insert = db.prepare(
    `INSERT OR REPLACE INTO oidc_records (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  // Secondary indexes (the primary key's own has no SQL): dropped now, made again by finish().
  const indexes = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'oidc_records' AND sql IS NOT NULL",
    )
    .all() as { name: string; sql: string }[];
  for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);
  let indexesMade = false;
  const makeIndexes = () => {
    if (indexesMade) return;
    indexesMade = true;
    for (const index of indexes) db.exec(index.sql);
  };
  return {
    async writeBatch(records) {
      db.exec('BEGIN');
      try {
        for (const record of records) insert.run(...fields.map((field) => valueOf(record, field)));
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    async finish() {
      makeIndexes();
      // Fold the WAL into the database file, so the server does not start with a huge WAL to search.
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    },
    async close() {
      try {
        // Also when the seeding failed half-way: the store never stays without its indexes.
        makeIndexes();
      } finally {
        db.close();
      }
    },
  };
}

async function postgresWriter(url: string): Promise<RowWriter> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Seeding is the bench's set-up, not data to keep: no wait for the WAL flush at each commit.
    await client.query('SET synchronous_commit = off');
    // Room to sort each index in memory when it is made again.
    await client.query("SET maintenance_work_mem = '256MB'");
    // Secondary indexes: dropped now, made again by finish() (the primary key stays: it keeps the
    // rows unique, as the store's upsert relies on).
    const { rows: indexes } = await client.query<{ name: string; definition: string }>(
      `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
       WHERE schemaname = current_schema() AND tablename = 'oidc_records'
         AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'oidc_records'::regclass)`,
    );
    for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);
    let indexesMade = false;
    const makeIndexes = async () => {
      if (indexesMade) return;
      indexesMade = true;
      for (const index of indexes) await client.query(index.definition);
    };
    const { rows } = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'oidc_records' ORDER BY ordinal_position`,
    );
    const columns = rows.map((row) => row.column_name);
    const fields = columns.map(fieldOf);
    const arrays = rows.map(
      (row, index) => `$${index + 1}::${row.data_type === 'bigint' ? 'bigint' : 'text'}[]`,
    );
    const insert = `INSERT INTO oidc_records (${columns.join(', ')})
      SELECT * FROM unnest(${arrays.join(', ')})
      ON CONFLICT (model, key) DO NOTHING`;
    return {
      async writeBatch(records) {
        await client.query('BEGIN');
        try {
          for (let start = 0; start < records.length; start += POSTGRES_STATEMENT_ROWS) {
            const chunk = records.slice(start, start + POSTGRES_STATEMENT_ROWS);
            await client.query(
              insert,
              fields.map((field) => chunk.map((record) => valueOf(record, field))),
            );
          }
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      },
      async finish() {
        await makeIndexes();
        // What autovacuum would do on a server that had been running: statistics for the planner
        // and a visibility map, so that lookups are planned and run as they would be in service.
        await client.query('VACUUM (ANALYZE) oidc_records');
      },
      async close() {
        try {
          await makeIndexes();
        } finally {
          await client.end();
        }
      },
    };
  } catch (error) {
    await client.end();
    throw error;
  }
}

/** Payloads shaped like oidc-provider v9's own (same fields and sizes, give or take). */
function payloadFor(
  model: (typeof MODELS)[number],
  jti: string,
  grantId: string,
  accountId: string,
  clientId: string,
): AdapterPayload {
  const iat = Math.floor(Date.now() / 1000);
  const common = { iat, exp: iat + LIFETIME_SECONDS, jti, kind: model, clientId };
  switch (model) {
    case 'Grant':
      return {
        ...common,
        accountId,
        openid: { scope: 'openid profile email offline_access' },
        resources: { 'https://opaque.bench.test': API_SCOPE },
      } as AdapterPayload;
    case 'AccessToken':
      return {
        ...common,
        accountId,
        grantId,
        gty: 'authorization_code',
        scope: 'openid profile email offline_access',
        sessionUid: jti.slice(0, 21),
        sid: jti.slice(21, 42),
        expiresWithSession: false,
      } as AdapterPayload;
    case 'RefreshToken':
      return {
        ...common,
        accountId,
        grantId,
        gty: 'authorization_code',
        scope: 'openid profile email offline_access',
        sessionUid: jti.slice(0, 21),
        sid: jti.slice(21, 42),
        authTime: iat,
        iiat: iat,
        rotations: 0,
        expiresWithSession: false,
      } as AdapterPayload;
    case 'ClientCredentials':
      return { ...common, aud: 'https://opaque.bench.test', scope: 'read', extra: {} } as AdapterPayload;
  }
}
