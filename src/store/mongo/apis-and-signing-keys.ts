// APIs (resource servers) and signing keys in MongoDB, mapped to the record shapes of ../types.ts
// (ids out of `_id`, Dates back to epoch milliseconds).
import type { Model } from 'mongoose';
import type { ApiRecord, ApiStore, SigningKeyRecord, SigningKeyStore } from '../types.js';
import type { ApiDoc, ScopeDescriptionDoc, SigningKeyDoc } from './models.js';
import { compact, conflictOnDuplicate, toDate, toEpochMs } from './support.js';

export const toApiDoc = (api: ApiRecord): ApiDoc =>
  compact({
    _id: api.identifier,
    name: api.name,
    scope: api.scope,
    format: api.format,
    signingAlg: api.signingAlg,
    accessTokenTtl: api.accessTokenTtl,
    scopeDescriptions:
      api.scopeDescriptions &&
      Object.entries(api.scopeDescriptions).map(([scope, text]): ScopeDescriptionDoc => ({ scope, text })),
    userConsentScopes: api.userConsentScopes,
    createdAt: new Date(api.createdAt),
    updatedAt: toDate(api.updatedAt),
  });

const toApiRecord = (doc: ApiDoc): ApiRecord =>
  compact({
    identifier: doc._id,
    name: doc.name,
    scope: doc.scope,
    format: doc.format,
    signingAlg: doc.signingAlg,
    accessTokenTtl: doc.accessTokenTtl,
    scopeDescriptions:
      doc.scopeDescriptions &&
      Object.fromEntries(doc.scopeDescriptions.map(({ scope, text }) => [scope, text])),
    userConsentScopes: doc.userConsentScopes,
    createdAt: doc.createdAt.getTime(),
    updatedAt: toEpochMs(doc.updatedAt),
  });

export class MongoApiStore implements ApiStore {
  readonly #apis: Model<ApiDoc>;

  constructor(apis: Model<ApiDoc>) {
    this.#apis = apis;
  }

  async create(api: ApiRecord): Promise<void> {
    await conflictOnDuplicate(
      () => `an API with identifier ${api.identifier} already exists`,
      () => this.#apis.create(toApiDoc(api)),
    );
  }

  async get(identifier: string): Promise<ApiRecord | undefined> {
    const doc = await this.#apis.findById(identifier).lean<ApiDoc>().exec();
    return doc ? toApiRecord(doc) : undefined;
  }

  async list(): Promise<ApiRecord[]> {
    const docs = await this.#apis.find().sort({ createdAt: 1, _id: 1 }).lean<ApiDoc[]>().exec();
    return docs.map(toApiRecord);
  }

  async update(api: ApiRecord): Promise<boolean> {
    // A replacement, not an upsert: fields the new record leaves out are gone, a missing API stays missing.
    const doc = toApiDoc(api);
    return (await this.#apis.replaceOne({ _id: doc._id }, doc)).matchedCount === 1;
  }

  /** Replaces or inserts by identifier, for import. */
  async replace(api: ApiRecord): Promise<void> {
    const doc = toApiDoc(api);
    await this.#apis.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  async remove(identifier: string): Promise<boolean> {
    return (await this.#apis.deleteOne({ _id: identifier })).deletedCount === 1;
  }
}

export const toSigningKeyDoc = (key: SigningKeyRecord): SigningKeyDoc =>
  compact({
    _id: key.kid,
    alg: key.alg,
    status: key.status,
    publicJwk: key.publicJwk,
    privateSealed: key.privateSealed,
    createdAt: new Date(key.createdAt),
    activatedAt: toDate(key.activatedAt),
    retiredAt: toDate(key.retiredAt),
    expiresAt: toDate(key.expiresAt),
  });

const toSigningKeyRecord = (doc: SigningKeyDoc): SigningKeyRecord =>
  compact({
    kid: doc._id,
    alg: doc.alg,
    status: doc.status,
    publicJwk: doc.publicJwk,
    privateSealed: doc.privateSealed,
    createdAt: doc.createdAt.getTime(),
    activatedAt: toEpochMs(doc.activatedAt),
    retiredAt: toEpochMs(doc.retiredAt),
    expiresAt: toEpochMs(doc.expiresAt),
  });

export class MongoSigningKeyStore implements SigningKeyStore {
  readonly #keys: Model<SigningKeyDoc>;

  constructor(keys: Model<SigningKeyDoc>) {
    this.#keys = keys;
  }

  async put(key: SigningKeyRecord): Promise<void> {
    await this.#keys.replaceOne({ _id: key.kid }, toSigningKeyDoc(key), { upsert: true });
  }

  async list(): Promise<SigningKeyRecord[]> {
    const docs = await this.#keys.find().sort({ createdAt: 1, _id: 1 }).lean<SigningKeyDoc[]>().exec();
    return docs.map(toSigningKeyRecord);
  }

  async remove(kid: string): Promise<boolean> {
    return (await this.#keys.deleteOne({ _id: kid })).deletedCount === 1;
  }
}
