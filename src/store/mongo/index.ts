// The MongoDB store (mongoose), chosen by DATABASE_URL=mongodb://…: for deployments on a replica
// set that outgrow one machine. It implements the same Store contract as the SQLite store.
import type { Connection } from 'mongoose';
import type {
  AccountRecord,
  ApiRecord,
  ClientGrantRecord,
  ClientRecord,
  ExportEntry,
  OidcRecord,
  SealedValueLocation,
  SettingRecord,
  SigningKeyRecord,
  Store,
  VaultConnectionRecord,
  VaultIntegrationRecord,
} from '../types.js';
import { connectMongo } from './connection.js';
import { MongoAccountStore, toAccountDoc } from './accounts.js';
import { MongoApiStore, MongoSigningKeyStore } from './apis-and-signing-keys.js';
import { MongoClientGrantStore, MongoClientStore } from './clients-and-grants.js';
import { MongoCounterStore } from './counters.js';
import { createIndexes, createModels, type MongoModels, type SettingDoc } from './models.js';
import { MongoOidcRecordStore } from './oidc-records.js';
import { resealIfUnchanged } from './reseal.js';
import { MongoLeaseStore, MongoSettingStore } from './settings-and-leases.js';
import { conflictOnDuplicate } from './support.js';
import { MongoVaultConnectionStore, MongoVaultIntegrationStore } from './vault.js';

export interface MongoStoreOptions {
  /** How long to look for a usable server before giving up (default 5000 ms). */
  serverSelectionTimeoutMS?: number;
  /**
   * Create missing indexes at open (default true). Cheap when they exist, and without them emails
   * are not unique and expired records are never removed. Set false when the server's database
   * user may not create indexes; then run `latchkey db migrate` with one that may.
   */
  ensureIndexes?: boolean;
}

class MongoStore implements Store {
  readonly kind = 'mongodb';
  readonly oidc: MongoOidcRecordStore;
  readonly clients: MongoClientStore;
  readonly accounts: MongoAccountStore;
  readonly apis: MongoApiStore;
  readonly clientGrants: MongoClientGrantStore;
  readonly signingKeys: MongoSigningKeyStore;
  readonly settings: MongoSettingStore;
  readonly leases: MongoLeaseStore;
  readonly counters: MongoCounterStore;
  readonly vaultIntegrations: MongoVaultIntegrationStore;
  readonly vaultConnections: MongoVaultConnectionStore;
  readonly #connection: Connection;
  readonly #models: MongoModels;

  constructor(connection: Connection) {
    this.#connection = connection;
    this.#models = createModels(connection);
    this.oidc = new MongoOidcRecordStore(this.#models.oidc);
    this.clients = new MongoClientStore(this.#models.clients);
    this.accounts = new MongoAccountStore(this.#models.accounts);
    this.apis = new MongoApiStore(this.#models.apis);
    this.clientGrants = new MongoClientGrantStore(this.#models.clientGrants);
    this.signingKeys = new MongoSigningKeyStore(this.#models.signingKeys);
    this.settings = new MongoSettingStore(this.#models.settings);
    this.leases = new MongoLeaseStore(this.#models.leases);
    this.counters = new MongoCounterStore(this.#models.counters);
    this.vaultIntegrations = new MongoVaultIntegrationStore(
      this.#models.vaultIntegrations,
      this.#models.vaultConnections,
    );
    this.vaultConnections = new MongoVaultConnectionStore(this.#models.vaultConnections);
  }

  async ping(): Promise<void> {
    const db = this.#connection.db;
    if (!db) throw new Error('MongoDB connection is not open');
    await db.admin().ping();
  }

  async purgeExpired(now = Date.now()): Promise<number> {
    return (
      (await this.oidc.purgeExpired(now)) +
      (await this.leases.purgeExpired(now)) +
      (await this.counters.purgeExpired(now))
    );
  }

  async *exportAll(): AsyncIterable<ExportEntry> {
    // Small configuration first, the bulk (OIDC records, streamed from a cursor) last.
    for await (const doc of this.#models.settings.find().sort({ _id: 1 }).lean<SettingDoc>().cursor()) {
      const record: SettingRecord = { name: doc._id, value: doc.value };
      yield { kind: 'setting', record };
    }
    for (const record of await this.signingKeys.list()) yield { kind: 'signingKey', record };
    for (const record of await this.apis.list()) yield { kind: 'api', record };
    for (const record of await this.accounts.list()) yield { kind: 'account', record };
    for (const record of await this.clients.list()) yield { kind: 'client', record };
    // After the clients and APIs they join, as integrations come before their connections.
    for await (const record of this.clientGrants.exportAll()) yield { kind: 'clientGrant', record };
    // Integrations before their connections, so that an import never holds a connection alone.
    for await (const record of this.vaultIntegrations.exportAll()) yield { kind: 'vaultIntegration', record };
    for await (const record of this.vaultConnections.exportAll()) yield { kind: 'vaultConnection', record };
    for await (const record of this.oidc.exportAll()) yield { kind: 'oidc', record };
  }

  async importEntry(entry: ExportEntry): Promise<void> {
    switch (entry.kind) {
      case 'oidc':
        return this.oidc.upsert(importedRecord<OidcRecord>(entry, ['model', 'key', 'payload']));
      case 'client':
        return this.clients.put(importedRecord<ClientRecord>(entry, ['clientId']));
      case 'clientGrant':
        return this.clientGrants.put(importedRecord<ClientGrantRecord>(entry, ['clientId', 'api']));
      case 'account': {
        // Replace by id; a different account that already owns the email is a conflict.
        const doc = toAccountDoc(importedRecord<AccountRecord>(entry, ['id', 'email']));
        await conflictOnDuplicate(
          () => `an account with email ${doc.email} already exists`,
          () => this.#models.accounts.replaceOne({ _id: doc._id }, doc, { upsert: true }),
        );
        return;
      }
      case 'api':
        return this.apis.replace(importedRecord<ApiRecord>(entry, ['identifier']));
      case 'signingKey':
        return this.signingKeys.put(importedRecord<SigningKeyRecord>(entry, ['kid']));
      case 'setting': {
        const { name, value } = importedRecord<SettingRecord>(entry, ['name', 'value']);
        return this.settings.put(name, value);
      }
      case 'vaultIntegration':
        return this.vaultIntegrations.replace(
          importedRecord<VaultIntegrationRecord>(entry, ['appId', 'key']),
        );
      case 'vaultConnection':
        return this.vaultConnections.put(
          importedRecord<VaultConnectionRecord>(entry, ['appId', 'integrationKey', 'endUserId']),
        );
      default: {
        const kind: never = entry.kind;
        throw new TypeError(`import: unknown record kind ${String(kind)}`);
      }
    }
  }

  resealIfUnchanged(location: SealedValueLocation, expected: string, replacement: string): Promise<boolean> {
    return resealIfUnchanged(this.#models, location, expected, replacement);
  }

  async close(): Promise<void> {
    await this.#connection.close();
  }

  async createIndexes(): Promise<void> {
    await createIndexes(this.#models);
  }
}

export async function openMongoStore(uri: string, options: MongoStoreOptions = {}): Promise<Store> {
  const connection = await connectMongo(uri, { serverSelectionTimeoutMS: options.serverSelectionTimeoutMS });
  const store = new MongoStore(connection);
  if (options.ensureIndexes ?? true) {
    try {
      await store.createIndexes();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }
  return store;
}

/** Creates the MongoDB store's indexes (`latchkey db migrate`); idempotent. */
export async function migrateMongoStore(store: Store): Promise<void> {
  if (!(store instanceof MongoStore))
    throw new TypeError('migrateMongoStore needs a store opened by openMongoStore');
  await store.createIndexes();
}

/**
 * The little an imported record needs before it reaches a query: an object whose identity fields
 * are strings (so none can smuggle in a query operator). Full validation is the importer's (zod).
 */
function importedRecord<T>(entry: ExportEntry, identity: readonly (keyof T & string)[]): T {
  const { kind, record } = entry;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TypeError(`import: a ${kind} record must be an object`);
  }
  for (const field of identity) {
    if (typeof (record as Record<string, unknown>)[field] !== 'string') {
      throw new TypeError(`import: a ${kind} record needs a string ${field}`);
    }
  }
  return record as T;
}
