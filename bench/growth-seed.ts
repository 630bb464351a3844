// Fills the store with many live tokens and grants before a growth scenario, fast: rows are built by
// Latchkey's own adapter (hashed ids, sealed payloads, index fields, exactly as the server writes
// them) and inserted on a second SQLite connection in large transactions, which is ~4x faster
// than one autocommitted upsert per row. Columns are read from the table itself, so a column added
// to the schema (and to OidcRecord) is filled without a change here.
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { AdapterPayload } from 'oidc-provider';
import type { Keyring } from '../src/store/encryption.js';
import { RecordAdapter } from '../src/store/oidc-adapter.js';
import type { OidcRecord, Store } from '../src/store/types.js';
import { API_SCOPE } from './fixtures.js';

const BATCH_ROWS = 20_000;
const LIFETIME_SECONDS = 24 * 3600;
/** Grants spread over this many made-up accounts (no account holds an absurd number of grants). */
const ACCOUNTS = 10_000;
/** Each group of rows: a grant and one token of each kind issued under it. */
const MODELS = ['Grant', 'AccessToken', 'RefreshToken', 'ClientCredentials'] as const;

export interface GrowthSeedOptions {
  databasePath: string;
  keyring: Keyring;
  rows: number;
  clientId: string;
}

/** Inserts `rows` oidc records (a quarter each grants, access, refresh and client credentials tokens). */
export async function seedGrowthRows(options: GrowthSeedOptions): Promise<number> {
  const db = new DatabaseSync(options.databasePath);
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    // Keyed by SHA-256, every insert lands on a random page: a large cache keeps them in memory.
    db.exec('PRAGMA cache_size = -262144');
    const columns = (db.prepare('PRAGMA table_info(oidc_records)').all() as { name: string }[]).map(
      (column) => column.name,
    );
    const insert = db.prepare(
      `INSERT OR REPLACE INTO oidc_records (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    );
    const fieldOf = columns.map((column) =>
      column.replace(/_([a-z])/g, (_all, letter: string) => letter.toUpperCase()),
    );
    const write = (record: OidcRecord) => {
      const values = fieldOf.map((field) => (record as unknown as Record<string, unknown>)[field] ?? null);
      insert.run(...(values as (string | number | null)[]));
    };
    // The adapter hands each record to `store.oidc.upsert`: here, to the bulk insert.
    const capture = { oidc: { upsert: async (record: OidcRecord) => write(record) } } as unknown as Store;
    const adapters = new Map(
      MODELS.map((model) => [model, new RecordAdapter(model, capture, options.keyring)]),
    );

    let written = 0;
    let grantId = '';
    while (written < options.rows) {
      const batch = Math.min(BATCH_ROWS, options.rows - written);
      db.exec('BEGIN');
      try {
        // One draw of randomness per batch: randomBytes per row costs more than the insert.
        const entropy = randomBytes(batch * 32);
        for (let index = written; index < written + batch; index++) {
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
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
      written += batch;
    }
    // Fold the WAL into the database file, so the server does not start with a huge WAL to search.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return written;
  } finally {
    db.close();
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
