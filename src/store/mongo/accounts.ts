// End-user accounts in MongoDB: emails lower-cased under a unique index, passwords as argon2id
// strings (hashed before they get here), mapped to the record shape of ../types.ts.
import type { Model } from 'mongoose';
import type { AccountRecord, AccountStore } from '../types.js';
import type { AccountDoc } from './models.js';
import { compact, conflictOnDuplicate, toDate } from './support.js';

export const toAccountDoc = (account: AccountRecord): AccountDoc =>
  compact({
    _id: account.id,
    email: account.email.toLowerCase(),
    emailVerified: account.emailVerified,
    name: account.name,
    passwordHash: account.passwordHash,
    disabled: account.disabled,
    createdAt: new Date(account.createdAt),
    updatedAt: new Date(account.updatedAt),
  });

// compact() drops only null and undefined: `disabled: false` and an empty name stay as they were.
const toAccountRecord = (doc: AccountDoc): AccountRecord =>
  compact({
    id: doc._id,
    email: doc.email,
    emailVerified: doc.emailVerified,
    name: doc.name,
    passwordHash: doc.passwordHash,
    disabled: doc.disabled,
    createdAt: doc.createdAt.getTime(),
    updatedAt: doc.updatedAt.getTime(),
  });

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
      disabled: changes.disabled,
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
