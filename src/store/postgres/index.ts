// The PostgreSQL store, chosen by DATABASE_URL=postgres://… (or postgresql://…): for several
// Latchkey instances on one database. It implements the same Store contract as the SQLite store,
// through a pool of DATABASE_POOL_SIZE connections, and migrates its schema when it opens.
import type pg from 'pg';
import type { ExportEntry, ExportKind, SealedValueLocation, Store } from '../types.js';
import { apiExport, clientGrantExport, PostgresApiStore, PostgresClientGrantStore } from './apis.js';
import { PostgresCounterStore } from './counters.js';
import { createPool, Database, type ExportSource } from './database.js';
import {
  accountExport,
  clientExport,
  PostgresAccountStore,
  PostgresClientStore,
  PostgresSigningKeyStore,
  signingKeyExport,
} from './entities.js';
import { oidcExport, PostgresOidcRecordStore } from './oidc-records.js';
import { resealIfUnchanged } from './reseal.js';
import { migrate } from './schema.js';
import { PostgresLeaseStore, PostgresSettingStore, settingExport } from './settings-and-leases.js';
import {
  PostgresVaultConnectionStore,
  PostgresVaultIntegrationStore,
  vaultConnectionExport,
  vaultIntegrationExport,
} from './vault.js';

export { SCHEMA_VERSION } from './schema.js';

/** How often the store deletes expired records and leases on its own. */
const PURGE_INTERVAL_MS = 60_000;

/** Rows exportAll fetches per round trip from its cursor. */
const EXPORT_BATCH = 500;

/**
 * The order exportAll writes tables in: small configuration first, integrations before their
 * connections (so that an import never holds a connection alone), the bulk (OIDC records) last.
 */
const EXPORT_SOURCES: readonly ExportSource[] = [
  settingExport,
  signingKeyExport,
  apiExport,
  clientExport,
  clientGrantExport,
  accountExport,
  vaultIntegrationExport,
  vaultConnectionExport,
  oidcExport,
];

export interface PostgresStoreOptions {
  /** Most connections the store's pool opens (DATABASE_POOL_SIZE; default 10). */
  poolSize?: number;
  /** How long to wait for a connection before an operation fails (default 10 s). */
  connectionTimeoutMillis?: number;
  /** Delete expired records every minute (default true). */
  purgeInBackground?: boolean;
}

/**
 * Opens the store on the database at `url`, migrating its schema first (under an advisory lock:
 * several instances starting at once migrate once). Closes the pool again if that fails.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const pool = createPool(url, {
    poolSize: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis,
  });
  let migrated: number[];
  try {
    migrated = await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return new PostgresStore(pool, migrated, options.purgeInBackground ?? true);
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly oidc: PostgresOidcRecordStore;
  readonly clients: PostgresClientStore;
  readonly accounts: PostgresAccountStore;
  readonly apis: PostgresApiStore;
  readonly clientGrants: PostgresClientGrantStore;
  readonly signingKeys: PostgresSigningKeyStore;
  readonly settings: PostgresSettingStore;
  readonly leases: PostgresLeaseStore;
  readonly counters: PostgresCounterStore;
  readonly vaultIntegrations: PostgresVaultIntegrationStore;
  readonly vaultConnections: PostgresVaultConnectionStore;
  /** The schema versions this open applied (empty when the database was up to date). */
  readonly migrated: readonly number[];
  readonly #pool: pg.Pool;
  readonly #db: Database;
  readonly #purgeTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(pool: pg.Pool, migrated: readonly number[], purgeInBackground: boolean) {
    this.#pool = pool;
    this.migrated = migrated;
    const db = new Database(pool);
    this.#db = db;
    this.oidc = new PostgresOidcRecordStore(db);
    this.clients = new PostgresClientStore(db);
    this.accounts = new PostgresAccountStore(db);
    this.apis = new PostgresApiStore(db);
    this.clientGrants = new PostgresClientGrantStore(db);
    this.signingKeys = new PostgresSigningKeyStore(db);
    this.settings = new PostgresSettingStore(db);
    this.leases = new PostgresLeaseStore(db);
    this.counters = new PostgresCounterStore(db);
    this.vaultIntegrations = new PostgresVaultIntegrationStore(db);
    this.vaultConnections = new PostgresVaultConnectionStore(db);
    if (purgeInBackground) {
      // Reads already skip expired rows; the purge only keeps the tables from growing. unref(): an
      // open store must not keep a CLI command or a test run alive.
      this.#purgeTimer = setInterval(() => this.#purgeInBackground(), PURGE_INTERVAL_MS);
      this.#purgeTimer.unref();
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async purgeExpired(now: number = Date.now()): Promise<number> {
    return (
      (await this.oidc.purgeExpired(now)) +
      (await this.leases.purgeExpired(now)) +
      (await this.counters.purgeExpired(now))
    );
  }

  /**
   * Every table read in one REPEATABLE READ transaction, so the export is one consistent snapshot
   * even while instances keep writing; rows come from server-side cursors, a batch at a time, so
   * memory stays flat however many tokens are stored.
   */
  async *exportAll(): AsyncIterable<ExportEntry> {
    const client = await this.#pool.connect();
    let inTransaction = false;
    let broken = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      inTransaction = true;
      for (const source of EXPORT_SOURCES) {
        await client.query(`DECLARE export_rows NO SCROLL CURSOR FOR ${source.query}`);
        for (;;) {
          const { rows } = await client.query(`FETCH ${EXPORT_BATCH} FROM export_rows`);
          for (const row of rows) yield { kind: source.kind, record: source.fromRow(row) };
          if (rows.length < EXPORT_BATCH) break;
        }
        await client.query('CLOSE export_rows');
      }
      await client.query('COMMIT');
      inTransaction = false;
    } catch (error) {
      // A connection left in a failed transaction is closed rather than pooled.
      broken = true;
      throw error;
    } finally {
      // Reached with the transaction open when the reader stops early (return() on the generator).
      if (inTransaction && !broken) await client.query('ROLLBACK').catch(() => (broken = true));
      client.release(broken);
    }
  }

  async importEntry(entry: ExportEntry): Promise<void> {
    const kind: ExportKind = entry.kind;
    switch (kind) {
      case 'oidc':
        return this.oidc.importRecord(entry.record);
      case 'client':
        return this.clients.importRecord(entry.record);
      case 'clientGrant':
        return this.clientGrants.importRecord(entry.record);
      case 'account':
        return this.accounts.importRecord(entry.record);
      case 'api':
        return this.apis.importRecord(entry.record);
      case 'signingKey':
        return this.signingKeys.importRecord(entry.record);
      case 'setting':
        return this.settings.importRecord(entry.record);
      case 'vaultIntegration':
        return this.vaultIntegrations.importRecord(entry.record);
      case 'vaultConnection':
        return this.vaultConnections.importRecord(entry.record);
      default: {
        const unknown: never = kind;
        throw new TypeError(`import: unknown record kind ${String(unknown)}`);
      }
    }
  }

  resealIfUnchanged(location: SealedValueLocation, expected: string, replacement: string): Promise<boolean> {
    return resealIfUnchanged(this.#db, location, expected, replacement);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#purgeTimer);
    await this.#pool.end();
  }

  #purgeInBackground(): void {
    this.purgeExpired().catch((error: unknown) => {
      // Typically the database restarting or failing over; the next run catches up. The store has
      // no logger of its own, and a failed purge must not take the process down.
      process.emitWarning(`PostgreSQL store: purging expired records failed: ${(error as Error).message}`, {
        code: 'LATCHKEY_STORE_PURGE',
      });
    });
  }
}
