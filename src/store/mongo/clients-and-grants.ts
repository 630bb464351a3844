// Registered clients and the grants of APIs that an admin gave them, in MongoDB: each store maps
// its documents to the record shapes of ../types.ts (ids out of `_id`, Dates back to epoch ms).
import type { Model } from 'mongoose';
import type { ClientGrantRecord, ClientGrantStore, ClientRecord, ClientStore } from '../types.js';
import type { ClientDoc, ClientGrantDoc } from './models.js';
import { compact, upsertRetryingOnce } from './support.js';

export const toClientDoc = (client: ClientRecord): ClientDoc =>
  compact({
    _id: client.clientId,
    metadata: client.metadata,
    secretSealed: client.secretSealed,
    createdAt: new Date(client.createdAt),
    updatedAt: new Date(client.updatedAt),
  });

const toClientRecord = (doc: ClientDoc): ClientRecord =>
  compact({
    clientId: doc._id,
    metadata: doc.metadata,
    secretSealed: doc.secretSealed,
    createdAt: doc.createdAt.getTime(),
    updatedAt: doc.updatedAt.getTime(),
  });

export class MongoClientStore implements ClientStore {
  readonly #clients: Model<ClientDoc>;

  constructor(clients: Model<ClientDoc>) {
    this.#clients = clients;
  }

  async put(client: ClientRecord): Promise<void> {
    await this.#clients.replaceOne({ _id: client.clientId }, toClientDoc(client), { upsert: true });
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const doc = await this.#clients.findById(clientId).lean<ClientDoc>().exec();
    return doc ? toClientRecord(doc) : undefined;
  }

  async list(): Promise<ClientRecord[]> {
    const docs = await this.#clients.find().sort({ createdAt: 1, _id: 1 }).lean<ClientDoc[]>().exec();
    return docs.map(toClientRecord);
  }

  async remove(clientId: string): Promise<boolean> {
    return (await this.#clients.deleteOne({ _id: clientId })).deletedCount === 1;
  }
}

// $eq everywhere: ids reach these queries from requests, and a non-string must never become an operator.
const grantFilter = (clientId: string, api: string) => ({ clientId: { $eq: clientId }, api: { $eq: api } });

const toClientGrantDoc = (grant: ClientGrantRecord): ClientGrantDoc => ({
  clientId: grant.clientId,
  api: grant.api,
  scopes: grant.scopes,
  createdAt: new Date(grant.createdAt),
  updatedAt: new Date(grant.updatedAt),
});

const toClientGrantRecord = (doc: ClientGrantDoc): ClientGrantRecord => ({
  clientId: doc.clientId,
  api: doc.api,
  scopes: doc.scopes,
  createdAt: doc.createdAt.getTime(),
  updatedAt: doc.updatedAt.getTime(),
});

export class MongoClientGrantStore implements ClientGrantStore {
  readonly #grants: Model<ClientGrantDoc>;

  constructor(grants: Model<ClientGrantDoc>) {
    this.#grants = grants;
  }

  async put(grant: ClientGrantRecord): Promise<void> {
    await upsertRetryingOnce(() =>
      this.#grants.replaceOne(grantFilter(grant.clientId, grant.api), toClientGrantDoc(grant), {
        upsert: true,
      }),
    );
  }

  async get(clientId: string, api: string): Promise<ClientGrantRecord | undefined> {
    const doc = await this.#grants.findOne(grantFilter(clientId, api)).lean<ClientGrantDoc>().exec();
    return doc ? toClientGrantRecord(doc) : undefined;
  }

  async listByClient(clientId: string): Promise<ClientGrantRecord[]> {
    const docs = await this.#grants
      .find({ clientId: { $eq: clientId } })
      .sort({ api: 1 })
      .lean<ClientGrantDoc[]>()
      .exec();
    return docs.map(toClientGrantRecord);
  }

  async listByApi(api: string): Promise<ClientGrantRecord[]> {
    const docs = await this.#grants
      .find({ api: { $eq: api } })
      .sort({ clientId: 1 })
      .lean<ClientGrantDoc[]>()
      .exec();
    return docs.map(toClientGrantRecord);
  }

  async remove(clientId: string, api: string): Promise<boolean> {
    return (await this.#grants.deleteOne(grantFilter(clientId, api))).deletedCount === 1;
  }

  async removeByClient(clientId: string): Promise<number> {
    return (await this.#grants.deleteMany({ clientId: { $eq: clientId } })).deletedCount;
  }

  async removeByApi(api: string): Promise<number> {
    return (await this.#grants.deleteMany({ api: { $eq: api } })).deletedCount;
  }

  /** Every grant of every client, streamed. */
  async *exportAll(): AsyncIterable<ClientGrantRecord> {
    const cursor = this.#grants.find().sort({ clientId: 1, api: 1 }).lean<ClientGrantDoc>().cursor();
    for await (const doc of cursor) yield toClientGrantRecord(doc);
  }
}
