// oidc-provider artefacts (sessions, codes, tokens, grants ...) in the oidc_records table. The
// adapter above has already hashed the ids and sealed the payloads; rows hold them as given.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ExportEntry, OidcRecord, OidcRecordStore } from '../types.js';
import type { StatementBatch } from './batch.js';
import { RowCache } from './row-cache.js';
import { importedRecord, nullable } from './support.js';

type OidcRow = {
  model: string;
  key: string;
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: number | null;
  consumed_at: number | null;
  account_id: string | null;
  client_id: string | null;
};

const COLUMNS =
  'model, key, payload, grant_id, uid, user_code, expires_at, consumed_at, account_id, client_id';

// Expired rows stay until purgeExpired runs, but nothing may serve them in the meantime.
const LIVE = '(expires_at IS NULL OR expires_at > :now)';

export class SqliteOidcRecordStore implements OidcRecordStore {
  readonly #db: DatabaseSync;
  readonly #batch: StatementBatch;
  readonly #recent: RowCache<OidcRecord>;
  readonly #upsert: StatementSync;
  readonly #find: StatementSync;
  readonly #findByUid: StatementSync;
  readonly #findByUserCode: StatementSync;
  readonly #findByAccountId: StatementSync;
  readonly #consume: StatementSync;
  readonly #destroy: StatementSync;
  readonly #revokeByGrantId: StatementSync;
  readonly #revokeByClientId: StatementSync;
  readonly #revokeByAccountId: StatementSync;
  readonly #count: StatementSync;
  readonly #purge: StatementSync;
  readonly #reseal: StatementSync;

  /** The hot-path operations (everything oidc-provider calls) go through `batch` (group commit). */
  constructor(db: DatabaseSync, batch: StatementBatch) {
    this.#db = db;
    this.#batch = batch;
    this.#recent = new RowCache<OidcRecord>(batch, (record) => record.payload.length + 200);
    // Upsert replaces every column, so nothing of the old record survives (as the interface says).
    this.#upsert = db.prepare(
      `INSERT INTO oidc_records (${COLUMNS})
       VALUES (:model, :key, :payload, :grant_id, :uid, :user_code, :expires_at, :consumed_at, :account_id,
         :client_id)
       ON CONFLICT (model, key) DO UPDATE SET
         payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
         user_code = excluded.user_code, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at,
         account_id = excluded.account_id, client_id = excluded.client_id`,
    );
    this.#find = db.prepare(
      `SELECT ${COLUMNS} FROM oidc_records WHERE model = :model AND key = :key AND ${LIVE}`,
    );
    this.#findByUid = db.prepare(
      `SELECT ${COLUMNS} FROM oidc_records WHERE model = :model AND uid = :uid AND ${LIVE} LIMIT 1`,
    );
    this.#findByUserCode = db.prepare(
      `SELECT ${COLUMNS} FROM oidc_records WHERE model = :model AND user_code = :user_code AND ${LIVE} LIMIT 1`,
    );
    this.#findByAccountId = db.prepare(
      `SELECT ${COLUMNS} FROM oidc_records WHERE model = :model AND account_id = :account_id AND ${LIVE}`,
    );
    // One statement, so that of two racing consumers (in any process) exactly one sees a change.
    this.#consume = db.prepare(
      `UPDATE oidc_records SET consumed_at = :at
       WHERE model = :model AND key = :key AND consumed_at IS NULL AND ${LIVE}`,
    );
    this.#destroy = db.prepare('DELETE FROM oidc_records WHERE model = :model AND key = :key');
    this.#revokeByGrantId = db.prepare('DELETE FROM oidc_records WHERE grant_id = :grant_id');
    this.#revokeByClientId = db.prepare('DELETE FROM oidc_records WHERE client_id = :client_id');
    this.#revokeByAccountId = db.prepare('DELETE FROM oidc_records WHERE account_id = :account_id');
    this.#count = db.prepare(`SELECT count(*) AS count FROM oidc_records WHERE model = :model AND ${LIVE}`);
    this.#purge = db.prepare('DELETE FROM oidc_records WHERE expires_at <= :now');
    // The payload alone, and only while it is what the caller read: consumed_at and the rest stay.
    this.#reseal = db.prepare(
      `UPDATE oidc_records SET payload = :replacement WHERE model = :model AND key = :key AND payload = :expected`,
    );
  }

  upsert(record: OidcRecord): Promise<void> {
    const values = {
      model: record.model,
      key: record.key,
      payload: record.payload,
      grant_id: nullable(record.grantId),
      uid: nullable(record.uid),
      user_code: nullable(record.userCode),
      expires_at: nullable(record.expiresAt),
      consumed_at: nullable(record.consumedAt),
      account_id: nullable(record.accountId),
      client_id: nullable(record.clientId),
    };
    return this.#batch.write(() => {
      this.#recent.forget(cacheId(record.model, record.key));
      this.#upsert.run(values);
    });
  }

  find(model: string, key: string): Promise<OidcRecord | undefined> {
    return this.#batch.read(() => {
      const now = Date.now();
      return this.#recent.get(
        cacheId(model, key),
        () => fromRow(this.#find.get({ model, key, now }) as OidcRow | undefined),
        (record) => record.expiresAt === undefined || record.expiresAt > now,
      );
    });
  }

  findByUid(model: string, uid: string): Promise<OidcRecord | undefined> {
    return this.#batch.read(() =>
      fromRow(this.#findByUid.get({ model, uid, now: Date.now() }) as OidcRow | undefined),
    );
  }

  findByUserCode(model: string, userCode: string): Promise<OidcRecord | undefined> {
    return this.#batch.read(() =>
      fromRow(
        this.#findByUserCode.get({ model, user_code: userCode, now: Date.now() }) as OidcRow | undefined,
      ),
    );
  }

  findByAccountId(model: string, accountId: string): Promise<OidcRecord[]> {
    return this.#batch.read(() =>
      (this.#findByAccountId.all({ model, account_id: accountId, now: Date.now() }) as OidcRow[]).map((row) =>
        fromRow(row)!,
      ),
    );
  }

  consume(model: string, key: string, at: number): Promise<boolean> {
    return this.#batch.write(() => {
      this.#recent.forget(cacheId(model, key));
      return this.#consume.run({ model, key, at, now: Date.now() }).changes === 1;
    });
  }

  destroy(model: string, key: string): Promise<void> {
    return this.#batch.write(() => {
      this.#recent.forget(cacheId(model, key));
      this.#destroy.run({ model, key });
    });
  }

  revokeByGrantId(grantId: string): Promise<void> {
    return this.#batch.write(() => {
      // Any number of records, of any model: forget them all.
      this.#recent.clear();
      this.#revokeByGrantId.run({ grant_id: grantId });
    });
  }

  revokeByClientId(clientId: string): Promise<number> {
    return this.#batch.write(() => {
      // As revokeByGrantId: any number of records, of any model. The count takes in expired rows
      // not purged yet, which go too.
      this.#recent.clear();
      return Number(this.#revokeByClientId.run({ client_id: clientId }).changes);
    });
  }

  revokeByAccountId(accountId: string): Promise<number> {
    return this.#batch.write(() => {
      this.#recent.clear();
      return Number(this.#revokeByAccountId.run({ account_id: accountId }).changes);
    });
  }

  async count(model: string): Promise<number> {
    return (this.#count.get({ model, now: Date.now() }) as { count: number }).count;
  }

  /** Deletes records expired at `now` (epoch ms); returns how many went. */
  purgeExpired(now: number): number {
    return Number(this.#purge.run({ now }).changes);
  }

  /** Store.resealIfUnchanged for one record's payload. */
  reseal(model: string, key: string, expected: string, replacement: string): Promise<boolean> {
    return this.#batch.write(() => {
      this.#recent.forget(cacheId(model, key));
      return this.#reseal.run({ model, key, expected, replacement }).changes === 1;
    });
  }

  /** Every row, expired or not, for exportAll. Its own statement: the caller may pause between rows. */
  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare(`SELECT ${COLUMNS} FROM oidc_records ORDER BY model, key`).iterate()) {
      yield { kind: 'oidc', record: fromRow(row as OidcRow) };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    await this.upsert(importedRecord<OidcRecord>('oidc', record, ['model', 'key', 'payload']));
  }
}

function cacheId(model: string, key: string): string {
  return `${model}\u0000${key}`;
}

function fromRow(row: OidcRow | undefined): OidcRecord | undefined {
  if (row === undefined) return undefined;
  // Absent optional fields get no key at all, so records compare and serialise like the originals.
  const record: OidcRecord = { model: row.model, key: row.key, payload: row.payload };
  if (row.grant_id !== null) record.grantId = row.grant_id;
  if (row.uid !== null) record.uid = row.uid;
  if (row.user_code !== null) record.userCode = row.user_code;
  if (row.expires_at !== null) record.expiresAt = row.expires_at;
  if (row.consumed_at !== null) record.consumedAt = row.consumed_at;
  if (row.account_id !== null) record.accountId = row.account_id;
  if (row.client_id !== null) record.clientId = row.client_id;
  return record;
}
