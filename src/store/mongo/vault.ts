// The token vault's records in MongoDB: each app's integrations and its end users' connections,
// mapped to the record shapes of ../types.ts (no `_id`, Dates back to epoch milliseconds).
// Connections are updated under an optimistic lock: one conditional write on one document.
import type { Model } from 'mongoose';
import type {
  VaultConnectionRecord,
  VaultConnectionStore,
  VaultIntegrationRecord,
  VaultIntegrationStore,
} from '../types.js';
import type { VaultConnectionDoc, VaultIntegrationDoc } from './models.js';
import { compact, conflictOnDuplicate, toDate, toEpochMs, upsertRetryingOnce } from './support.js';

// $eq everywhere: ids reach these queries from requests, and a non-string must never become an operator.
const integrationFilter = (appId: string, key: string) => ({ appId: { $eq: appId }, key: { $eq: key } });

const connectionFilter = (appId: string, integrationKey: string, endUserId: string) => ({
  appId: { $eq: appId },
  integrationKey: { $eq: integrationKey },
  endUserId: { $eq: endUserId },
});

export const toVaultIntegrationDoc = (integration: VaultIntegrationRecord): VaultIntegrationDoc =>
  compact({
    appId: integration.appId,
    key: integration.key,
    provider: integration.provider,
    clientId: integration.clientId,
    clientSecretSealed: integration.clientSecretSealed,
    scopes: integration.scopes,
    issuer: integration.issuer,
    authorizationParams: integration.authorizationParams,
    createdAt: new Date(integration.createdAt),
    updatedAt: new Date(integration.updatedAt),
  });

const toVaultIntegrationRecord = (doc: VaultIntegrationDoc): VaultIntegrationRecord =>
  compact({
    appId: doc.appId,
    key: doc.key,
    provider: doc.provider,
    clientId: doc.clientId,
    clientSecretSealed: doc.clientSecretSealed,
    scopes: doc.scopes,
    issuer: doc.issuer,
    authorizationParams: doc.authorizationParams,
    createdAt: doc.createdAt.getTime(),
    updatedAt: doc.updatedAt.getTime(),
  });

export class MongoVaultIntegrationStore implements VaultIntegrationStore {
  readonly #integrations: Model<VaultIntegrationDoc>;
  readonly #connections: Model<VaultConnectionDoc>;

  constructor(integrations: Model<VaultIntegrationDoc>, connections: Model<VaultConnectionDoc>) {
    this.#integrations = integrations;
    this.#connections = connections;
  }

  async create(integration: VaultIntegrationRecord): Promise<void> {
    await conflictOnDuplicate(
      () => `vault integration ${integration.key} already exists for app ${integration.appId}`,
      () => this.#integrations.create(toVaultIntegrationDoc(integration)),
    );
  }

  async get(appId: string, key: string): Promise<VaultIntegrationRecord | undefined> {
    const doc = await this.#integrations
      .findOne(integrationFilter(appId, key))
      .lean<VaultIntegrationDoc>()
      .exec();
    return doc ? toVaultIntegrationRecord(doc) : undefined;
  }

  async list(appId: string): Promise<VaultIntegrationRecord[]> {
    const docs = await this.#integrations
      .find({ appId: { $eq: appId } })
      .sort({ createdAt: 1, key: 1 })
      .lean<VaultIntegrationDoc[]>()
      .exec();
    return docs.map(toVaultIntegrationRecord);
  }

  async update(integration: VaultIntegrationRecord): Promise<boolean> {
    const result = await this.#integrations.replaceOne(
      integrationFilter(integration.appId, integration.key),
      toVaultIntegrationDoc(integration),
    );
    return result.matchedCount === 1;
  }

  async remove(appId: string, key: string): Promise<boolean> {
    // Two writes, not a transaction (a standalone server has none). The integration goes first so
    // that no new connection can be made to it; its connections follow, even when it was already
    // gone, so that removing again cleans up after a remove interrupted between the two.
    const removed = (await this.#integrations.deleteOne(integrationFilter(appId, key))).deletedCount === 1;
    await this.#connections.deleteMany({ appId: { $eq: appId }, integrationKey: { $eq: key } });
    return removed;
  }

  async removeByApp(appId: string): Promise<number> {
    // As remove(), for every integration of the app: integrations first, then all the app's
    // connections (those of integrations already gone too).
    const removed = (await this.#integrations.deleteMany({ appId: { $eq: appId } })).deletedCount;
    await this.#connections.deleteMany({ appId: { $eq: appId } });
    return removed;
  }

  /** Replaces or inserts by (appId, key), for import. */
  async replace(integration: VaultIntegrationRecord): Promise<void> {
    const doc = toVaultIntegrationDoc(integration);
    await upsertRetryingOnce(() =>
      this.#integrations.replaceOne(integrationFilter(doc.appId, doc.key), doc, { upsert: true }),
    );
  }

  /** Every integration of every app, streamed. */
  async *exportAll(): AsyncIterable<VaultIntegrationRecord> {
    const cursor = this.#integrations.find().sort({ appId: 1, key: 1 }).lean<VaultIntegrationDoc>().cursor();
    for await (const doc of cursor) yield toVaultIntegrationRecord(doc);
  }
}

export const toVaultConnectionDoc = (connection: VaultConnectionRecord): VaultConnectionDoc =>
  compact({
    appId: connection.appId,
    integrationKey: connection.integrationKey,
    endUserId: connection.endUserId,
    status: connection.status,
    tokensSealed: connection.tokensSealed,
    expiresAt: toDate(connection.expiresAt),
    scopes: connection.scopes,
    lastRefreshAt: toDate(connection.lastRefreshAt),
    lastError: connection.lastError && { ...connection.lastError, at: new Date(connection.lastError.at) },
    refreshFailures: connection.refreshFailures,
    nextRefreshAt: toDate(connection.nextRefreshAt),
    version: connection.version,
    createdAt: new Date(connection.createdAt),
    updatedAt: new Date(connection.updatedAt),
  });

const toVaultConnectionRecord = (doc: VaultConnectionDoc): VaultConnectionRecord =>
  compact({
    appId: doc.appId,
    integrationKey: doc.integrationKey,
    endUserId: doc.endUserId,
    status: doc.status,
    tokensSealed: doc.tokensSealed,
    expiresAt: toEpochMs(doc.expiresAt),
    scopes: doc.scopes,
    lastRefreshAt: toEpochMs(doc.lastRefreshAt),
    lastError: doc.lastError && {
      code: doc.lastError.code,
      message: doc.lastError.message,
      at: doc.lastError.at.getTime(),
    },
    refreshFailures: doc.refreshFailures,
    nextRefreshAt: toEpochMs(doc.nextRefreshAt),
    version: doc.version,
    createdAt: doc.createdAt.getTime(),
    updatedAt: doc.updatedAt.getTime(),
  });

export class MongoVaultConnectionStore implements VaultConnectionStore {
  readonly #connections: Model<VaultConnectionDoc>;

  constructor(connections: Model<VaultConnectionDoc>) {
    this.#connections = connections;
  }

  async put(connection: VaultConnectionRecord): Promise<void> {
    const doc = toVaultConnectionDoc(connection);
    await upsertRetryingOnce(() =>
      this.#connections.replaceOne(connectionFilter(doc.appId, doc.integrationKey, doc.endUserId), doc, {
        upsert: true,
      }),
    );
  }

  async get(
    appId: string,
    integrationKey: string,
    endUserId: string,
  ): Promise<VaultConnectionRecord | undefined> {
    const doc = await this.#connections
      .findOne(connectionFilter(appId, integrationKey, endUserId))
      .lean<VaultConnectionDoc>()
      .exec();
    return doc ? toVaultConnectionRecord(doc) : undefined;
  }

  async list(
    appId: string,
    filter: { integrationKey?: string; endUserId?: string } = {},
  ): Promise<VaultConnectionRecord[]> {
    const query = compact({
      appId: { $eq: appId },
      integrationKey: filter.integrationKey === undefined ? undefined : { $eq: filter.integrationKey },
      endUserId: filter.endUserId === undefined ? undefined : { $eq: filter.endUserId },
    });
    const docs = await this.#connections
      .find(query)
      .sort({ createdAt: 1, integrationKey: 1, endUserId: 1 })
      .lean<VaultConnectionDoc[]>()
      .exec();
    return docs.map(toVaultConnectionRecord);
  }

  async replaceIfVersion(connection: VaultConnectionRecord, expectedVersion: number): Promise<boolean> {
    checkNewVersion(connection, expectedVersion);
    // One conditional write on one document is atomic: of writers that read the same version,
    // only the first matches; the others find the version moved on and match nothing.
    const result = await this.#connections.replaceOne(
      {
        ...connectionFilter(connection.appId, connection.integrationKey, connection.endUserId),
        version: { $eq: expectedVersion },
      },
      toVaultConnectionDoc(connection),
    );
    return result.matchedCount === 1;
  }

  async remove(appId: string, integrationKey: string, endUserId: string): Promise<boolean> {
    const result = await this.#connections.deleteOne(connectionFilter(appId, integrationKey, endUserId));
    return result.deletedCount === 1;
  }

  /** Every connection of every app, streamed. */
  async *exportAll(): AsyncIterable<VaultConnectionRecord> {
    const cursor = this.#connections
      .find()
      .sort({ appId: 1, integrationKey: 1, endUserId: 1 })
      .lean<VaultConnectionDoc>()
      .cursor();
    for await (const doc of cursor) yield toVaultConnectionRecord(doc);
  }
}

/**
 * A replacement that keeps the expected version would let a later writer, holding a copy read
 * before this write, succeed too: the lock only works if every write moves the version on.
 */
function checkNewVersion(connection: VaultConnectionRecord, expectedVersion: number): void {
  if (!(connection.version > expectedVersion)) {
    throw new TypeError(
      `replaceIfVersion: the new version (${connection.version}) must be greater than the expected one (${expectedVersion})`,
    );
  }
}
