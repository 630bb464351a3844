// oidc-provider artefacts in the `oidc_records` collection. TTL deletion lags by up to a minute,
// so every read and count also filters out records whose expiresAt has passed.
import type { Model } from 'mongoose';
import type { OidcRecord, OidcRecordStore } from '../types.js';
import type { OidcRecordDoc } from './models.js';
import { compact, toDate, toEpochMs, unexpired } from './support.js';

const idOf = (model: string, key: string) => `${model}:${key}`;

export function toOidcDoc(record: OidcRecord): OidcRecordDoc {
  return compact({
    _id: idOf(record.model, record.key),
    model: record.model,
    key: record.key,
    payload: record.payload,
    grantId: record.grantId,
    uid: record.uid,
    userCode: record.userCode,
    expiresAt: toDate(record.expiresAt),
    consumedAt: record.consumedAt,
    accountId: record.accountId,
    clientId: record.clientId,
  });
}

export function toOidcRecord(doc: OidcRecordDoc): OidcRecord {
  return compact({
    model: doc.model,
    key: doc.key,
    payload: doc.payload,
    grantId: doc.grantId,
    uid: doc.uid,
    userCode: doc.userCode,
    expiresAt: toEpochMs(doc.expiresAt),
    consumedAt: doc.consumedAt,
    accountId: doc.accountId,
    clientId: doc.clientId,
  });
}

export class MongoOidcRecordStore implements OidcRecordStore {
  readonly #records: Model<OidcRecordDoc>;

  constructor(records: Model<OidcRecordDoc>) {
    this.#records = records;
  }

  async upsert(record: OidcRecord): Promise<void> {
    // A replacement, not a $set: the contract keeps nothing of the old record (consumedAt included).
    const doc = toOidcDoc(record);
    await this.#records.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  async find(model: string, key: string): Promise<OidcRecord | undefined> {
    return this.#findOne({ _id: idOf(model, key) });
  }

  async findByUid(model: string, uid: string): Promise<OidcRecord | undefined> {
    // $eq: the uid comes from a cookie; never let a non-string become a query operator.
    return this.#findOne({ model, uid: { $eq: uid } });
  }

  async findByUserCode(model: string, userCode: string): Promise<OidcRecord | undefined> {
    return this.#findOne({ model, userCode: { $eq: userCode } });
  }

  async findByAccountId(model: string, accountId: string): Promise<OidcRecord[]> {
    const docs = await this.#records
      .find({ model, accountId: { $eq: accountId }, ...unexpired() })
      .sort({ key: 1 })
      .lean<OidcRecordDoc[]>()
      .exec();
    return docs.map(toOidcRecord);
  }

  async consume(model: string, key: string, at: number): Promise<boolean> {
    // One conditional update is atomic on a single document: of two concurrent calls only one
    // matches `consumedAt: null` (which also matches a missing field), so only one returns true.
    const result = await this.#records.updateOne(
      { _id: idOf(model, key), consumedAt: null, ...unexpired() },
      { $set: { consumedAt: at } },
    );
    return result.matchedCount === 1;
  }

  async destroy(model: string, key: string): Promise<void> {
    await this.#records.deleteOne({ _id: idOf(model, key) });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#records.deleteMany({ grantId: { $eq: grantId } });
  }

  async revokeByClientId(clientId: string): Promise<number> {
    return (await this.#records.deleteMany({ clientId: { $eq: clientId } })).deletedCount;
  }

  async revokeByAccountId(accountId: string): Promise<number> {
    return (await this.#records.deleteMany({ accountId: { $eq: accountId } })).deletedCount;
  }

  async count(model: string): Promise<number> {
    return this.#records.countDocuments({ model, ...unexpired() });
  }

  /** Removes records whose expiry has passed; returns how many went. */
  async purgeExpired(now: number): Promise<number> {
    const result = await this.#records.deleteMany({ expiresAt: { $lte: new Date(now) } });
    return result.deletedCount;
  }

  /** Every record as stored, expired or not (like the SQLite store), streamed. */
  async *exportAll(): AsyncIterable<OidcRecord> {
    const cursor = this.#records.find().sort({ model: 1, key: 1 }).lean<OidcRecordDoc>().cursor();
    for await (const doc of cursor) yield toOidcRecord(doc);
  }

  async #findOne(filter: Record<string, unknown>): Promise<OidcRecord | undefined> {
    const doc = await this.#records
      .findOne({ ...filter, ...unexpired() })
      .lean<OidcRecordDoc>()
      .exec();
    return doc ? toOidcRecord(doc) : undefined;
  }
}
