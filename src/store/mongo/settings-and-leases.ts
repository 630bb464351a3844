// Named settings (first writer wins) and short leases shared by every process, in MongoDB. Both
// rest on single-document atomic upserts, so several servers on one replica set agree.
import type { Model } from 'mongoose';
import type { LeaseStore, SettingStore } from '../types.js';
import type { LeaseDoc, SettingDoc } from './models.js';
import { isDuplicateKeyError } from './support.js';

export class MongoSettingStore implements SettingStore {
  readonly #settings: Model<SettingDoc>;

  constructor(settings: Model<SettingDoc>) {
    this.#settings = settings;
  }

  async get(name: string): Promise<string | undefined> {
    const doc = await this.#settings.findById(name).lean<SettingDoc>().exec();
    return doc?.value;
  }

  async putIfAbsent(name: string, value: string): Promise<string> {
    try {
      // $setOnInsert writes only when the upsert inserts; either way we get back what is stored.
      const doc = await this.#settings
        .findOneAndUpdate(
          { _id: name },
          { $setOnInsert: { value } },
          { upsert: true, returnDocument: 'after', setDefaultsOnInsert: false },
        )
        .lean<SettingDoc>()
        .exec();
      if (doc) return doc.value;
    } catch (error) {
      // Two first writers at once: the server normally retries such an upsert itself, but if the
      // loser still sees E11000, the winner's value is there to read.
      if (!isDuplicateKeyError(error)) throw error;
    }
    const stored = await this.get(name);
    if (stored === undefined) throw new Error(`setting ${name} vanished while being created`);
    return stored;
  }

  async put(name: string, value: string): Promise<void> {
    await this.#settings.replaceOne({ _id: name }, { _id: name, value }, { upsert: true });
  }
}

export class MongoLeaseStore implements LeaseStore {
  readonly #leases: Model<LeaseDoc>;

  constructor(leases: Model<LeaseDoc>) {
    this.#leases = leases;
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    try {
      // Matches when the lease is expired (TTL may not have removed it yet) or already ours, which
      // renews it; when it is missing the upsert inserts it. When someone else holds it nothing
      // matches, the upsert tries to insert a second `_id: name` and the server refuses (E11000).
      await this.#leases.updateOne(
        { _id: name, $or: [{ expiresAt: { $lte: new Date(now) } }, { owner: { $eq: owner } }] },
        { $set: { owner, expiresAt: new Date(now + ttlMs) } },
        { upsert: true },
      );
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async release(name: string, owner: string): Promise<boolean> {
    const result = await this.#leases.deleteOne({ _id: name, owner: { $eq: owner } });
    return result.deletedCount === 1;
  }

  /** Removes expired leases; returns how many went. */
  async purgeExpired(now: number): Promise<number> {
    return (await this.#leases.deleteMany({ expiresAt: { $lte: new Date(now) } })).deletedCount;
  }
}
