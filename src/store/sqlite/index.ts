// The embedded store: one SQLite file through node:sqlite (no addon), in WAL mode so that several
// processes on one machine can share it. Every statement is prepared once, when the store opens.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ExportEntry, SealedValueLocation, Store } from '../types.js';
import { StatementBatch } from './batch.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { SqliteAccountStore } from './accounts.js';
import { SqliteApiStore, SqliteSigningKeyStore } from './apis-and-signing-keys.js';
import { SqliteClientGrantStore, SqliteClientStore } from './clients-and-grants.js';
import { SqliteCounterStore } from './counters.js';
import { SqliteOidcRecordStore } from './oidc-records.js';
import { openDatabase } from './schema.js';
import { SqliteLeaseStore, SqliteSettingStore } from './settings-and-leases.js';
import { SqliteVaultConnectionStore } from './vault-connections.js';
import { SqliteVaultIntegrationStore } from './vault-integrations.js';

/** How often the store deletes expired records and leases on its own. */
const PURGE_INTERVAL_MS = 60_000;

export interface SqliteStoreOptions {
  /** Run WAL checkpoints on a worker thread (see ./checkpointer.ts): for servers, not CLI commands. */
  backgroundCheckpoints?: boolean;
}

/** Opens the SQLite store at `path` (`':memory:'` for a private in-memory one), creating it if need be. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  const db = openDatabase(path);
  const checkpointer =
    options.backgroundCheckpoints && path !== ':memory:' ? new BackgroundCheckpointer(db, path) : undefined;
  return new SqliteStore(db, checkpointer);
}

class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly oidc: SqliteOidcRecordStore;
  readonly clients: SqliteClientStore;
  readonly accounts: SqliteAccountStore;
  readonly apis: SqliteApiStore;
  readonly clientGrants: SqliteClientGrantStore;
  readonly signingKeys: SqliteSigningKeyStore;
  readonly settings: SqliteSettingStore;
  readonly leases: SqliteLeaseStore;
  readonly counters: SqliteCounterStore;
  readonly vaultIntegrations: SqliteVaultIntegrationStore;
  readonly vaultConnections: SqliteVaultConnectionStore;
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #ping: StatementSync;
  readonly #purgeTimer: NodeJS.Timeout;
  readonly #checkpointer: BackgroundCheckpointer | undefined;

  constructor(db: DatabaseSync, checkpointer?: BackgroundCheckpointer) {
    this.#db = db;
    this.#checkpointer = checkpointer;
    this.#batch = new StatementBatch(db);
    this.oidc = new SqliteOidcRecordStore(db, this.#batch);
    this.clients = new SqliteClientStore(db);
    this.accounts = new SqliteAccountStore(db, this.#batch);
    this.apis = new SqliteApiStore(db);
    this.clientGrants = new SqliteClientGrantStore(db, this.#batch);
    this.signingKeys = new SqliteSigningKeyStore(db);
    this.settings = new SqliteSettingStore(db);
    this.leases = new SqliteLeaseStore(db);
    this.counters = new SqliteCounterStore(db, this.#batch);
    this.vaultConnections = new SqliteVaultConnectionStore(db, this.#batch);
    this.vaultIntegrations = new SqliteVaultIntegrationStore(db, this.#batch, this.vaultConnections);
    this.#ping = db.prepare('SELECT 1');
    // Reads already skip expired rows; the purge only keeps the file from growing. unref(): an
    // open store must not keep a CLI command or a test run alive.
    this.#purgeTimer = setInterval(() => this.#purgeInBackground(), PURGE_INTERVAL_MS);
    this.#purgeTimer.unref();
  }

  async ping(): Promise<void> {
    this.#ping.get();
  }

  async purgeExpired(now: number = Date.now()): Promise<number> {
    return this.oidc.purgeExpired(now) + this.leases.purgeExpired(now) + this.counters.purgeExpired(now);
  }

  /**
   * Reads table by table, so it is a consistent copy only of a store nobody writes to meanwhile
   * (the case it exists for: moving to another store).
   */
  async *exportAll(): AsyncIterable<ExportEntry> {
    yield* this.settings.exportEntries();
    yield* this.signingKeys.exportEntries();
    yield* this.apis.exportEntries();
    yield* this.clients.exportEntries();
    // After the clients and APIs they join, as integrations come before their connections.
    yield* this.clientGrants.exportEntries();
    yield* this.accounts.exportEntries();
    // Integrations before their connections, so that an import never holds a connection alone.
    yield* this.vaultIntegrations.exportEntries();
    yield* this.vaultConnections.exportEntries();
    yield* this.oidc.exportEntries();
  }

  async importEntry(entry: ExportEntry): Promise<void> {
    switch (entry.kind) {
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
        const kind: never = entry.kind;
        throw new TypeError(`import: unknown record kind ${String(kind)}`);
      }
    }
  }

  resealIfUnchanged(location: SealedValueLocation, expected: string, replacement: string): Promise<boolean> {
    switch (location.kind) {
      case 'oidc':
        return this.oidc.reseal(location.model, location.key, expected, replacement);
      case 'client':
        return this.clients.reseal(location.clientId, expected, replacement);
      case 'signingKey':
        return this.signingKeys.reseal(location.kid, expected, replacement);
      case 'setting':
        return this.settings.reseal(location.name, expected, replacement);
      case 'vaultIntegration':
        return this.vaultIntegrations.reseal(location.appId, location.key, expected, replacement);
      case 'vaultConnection':
        return this.vaultConnections.reseal(
          location.appId,
          location.integrationKey,
          location.endUserId,
          expected,
          replacement,
        );
      default: {
        const kind: never = location;
        throw new TypeError(`reseal: unknown record kind ${String((kind as { kind: unknown }).kind)}`);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#purgeTimer);
    await this.#checkpointer?.close();
    if (!this.#db.isOpen) return;
    this.#batch.flush({ wait: true });
    this.#db.close();
  }

  #purgeInBackground(): void {
    this.purgeExpired().catch((error: unknown) => {
      // Typically SQLITE_BUSY while another process holds the write lock; the next run catches up.
      // The store has no logger of its own, and a failed purge must not take the process down.
      process.emitWarning(`SQLite store: purging expired records failed: ${(error as Error).message}`, {
        code: 'LATCHKEY_STORE_PURGE',
      });
    });
  }
}
