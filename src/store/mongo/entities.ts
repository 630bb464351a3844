// Registered clients, accounts, APIs and signing keys in MongoDB: each store maps its documents
// to the record shapes of ../types.ts (ids out of `_id`, Dates back to epoch milliseconds).
import type { Model } from 'mongoose';
import {
  StoreConflictError,
  type AccountRecord,
  type AccountStore,
  type ApiRecord,
  type ApiStore,
  type ClientRecord,
  type ClientStore,
  type SigningKeyRecord,
  type SigningKeyStore,
} from '../types.js';
import {
  compact,
  isDuplicateKeyError,
  toDate,
  toEpochMs,
  type AccountDoc,
  type ApiDoc,
  type ClientDoc,
  type SigningKeyDoc,
} from './models.js';

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

export const toAccountDoc = (account: AccountRecord): AccountDoc => ({
  _id: account.id,
  email: account.email.toLowerCase(),
  emailVerified: account.emailVerified,
  name: account.name,
  passwordHash: account.passwordHash,
  createdAt: new Date(account.createdAt),
  updatedAt: new Date(account.updatedAt),
});

const toAccountRecord = (doc: AccountDoc): AccountRecord => ({
  id: doc._id,
  email: doc.email,
  emailVerified: doc.emailVerified,
  name: doc.name,
  passwordHash: doc.passwordHash,
  createdAt: doc.createdAt.getTime(),
  updatedAt: doc.updatedAt.getTime(),
});

/**
 * Runs a write, turning a duplicate key into the store's conflict error. `describe` is given the
 * field whose unique index refused the write (`_id` or, for accounts, `email`).
 */
export async function conflictOnDuplicate<T>(
  describe: (field: string) => string,
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    const keyPattern = (error as { keyPattern?: Record<string, unknown> }).keyPattern;
    throw new StoreConflictError(describe(Object.keys(keyPattern ?? { _id: 1 })[0] ?? '_id'));
  }
}

export class MongoAccountStore implements AccountStore {
  readonly #accounts: Model<AccountDoc>;

  constructor(accounts: Model<AccountDoc>) {
    this.#accounts = accounts;
  }

  async create(account: AccountRecord): Promise<void> {
    const taken = (field: string) =>
      field === 'email'
        ? `an account with email ${account.email} already exists`
        : `account ${account.id} already exists`;
    await conflictOnDuplicate(taken, () => this.#accounts.create(toAccountDoc(account)));
  }

  async get(id: string): Promise<AccountRecord | undefined> {
    const doc = await this.#accounts.findById(id).lean<AccountDoc>().exec();
    return doc ? toAccountRecord(doc) : undefined;
  }

  async findByEmail(email: string): Promise<AccountRecord | undefined> {
    // toLowerCase() also refuses a non-string (say `email[$ne]=` from a form) before it reaches a query.
    const doc = await this.#accounts
      .findOne({ email: { $eq: email.toLowerCase() } })
      .lean<AccountDoc>()
      .exec();
    return doc ? toAccountRecord(doc) : undefined;
  }

  async list(): Promise<AccountRecord[]> {
    const docs = await this.#accounts.find().sort({ createdAt: 1, _id: 1 }).lean<AccountDoc[]>().exec();
    return docs.map(toAccountRecord);
  }

  async update(id: string, changes: Partial<Omit<AccountRecord, 'id' | 'createdAt'>>): Promise<boolean> {
    const set = compact({
      email: changes.email?.toLowerCase(),
      emailVerified: changes.emailVerified,
      name: changes.name,
      passwordHash: changes.passwordHash,
      updatedAt: toDate(changes.updatedAt),
    });
    // MongoDB rejects an empty $set; with nothing to change the answer is whether the account exists.
    if (Object.keys(set).length === 0) return (await this.#accounts.countDocuments({ _id: id })) === 1;
    const result = await conflictOnDuplicate(
      () => `an account with email ${changes.email} already exists`,
      () => this.#accounts.updateOne({ _id: id }, { $set: set }),
    );
    return result.matchedCount === 1;
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#accounts.deleteOne({ _id: id })).deletedCount === 1;
  }
}

export const toApiDoc = (api: ApiRecord): ApiDoc =>
  compact({
    _id: api.identifier,
    name: api.name,
    scope: api.scope,
    format: api.format,
    signingAlg: api.signingAlg,
    accessTokenTtl: api.accessTokenTtl,
    createdAt: new Date(api.createdAt),
  });

const toApiRecord = (doc: ApiDoc): ApiRecord =>
  compact({
    identifier: doc._id,
    name: doc.name,
    scope: doc.scope,
    format: doc.format,
    signingAlg: doc.signingAlg,
    accessTokenTtl: doc.accessTokenTtl,
    createdAt: doc.createdAt.getTime(),
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
