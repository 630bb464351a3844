// oidc-provider artefacts (sessions, codes, tokens, grants ...) in the oidc_records table. The
// adapter above has already hashed the ids and sealed the payloads; rows hold them as given.
import type { ExportSource, Statement } from './database.js';
import { importedRecord, nullable, statement, type Database } from './database.js';
import type { OidcRecord, OidcRecordStore } from '../types.js';

type OidcRow = {
  model: string;
  key: string;
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  account_id: string | null;
  client_id: string | null;
  expires_at: number | null;
  consumed_at: number | null;
};

const COLUMNS =
  'model, key, payload, grant_id, uid, user_code, account_id, client_id, expires_at, consumed_at';

// Expired rows stay until purgeExpired runs, but nothing may serve them in the meantime. `now` is
// the application's clock, the one that computed expires_at, not the database server's.
const LIVE = (now: string) => `(expires_at IS NULL OR expires_at > ${now})`;

/** How many expired rows one purge statement deletes: short locks, short WAL bursts. */
const PURGE_BATCH = 5000;

const STATEMENTS = {
  // Upsert replaces every column, so nothing of the old record survives (as the interface says).
  upsert: statement(
    'oidc.upsert',
    `INSERT INTO oidc_records (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (model, key) DO UPDATE SET
       payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
       user_code = excluded.user_code, account_id = excluded.account_id, client_id = excluded.client_id,
       expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`,
  ),
  find: statement(
    'oidc.find',
    `SELECT ${COLUMNS} FROM oidc_records WHERE model = $1 AND key = $2 AND ${LIVE('$3')}`,
  ),
  findByUid: statement(
    'oidc.findByUid',
    `SELECT ${COLUMNS} FROM oidc_records WHERE model = $1 AND uid = $2 AND ${LIVE('$3')} LIMIT 1`,
  ),
  findByUserCode: statement(
    'oidc.findByUserCode',
    `SELECT ${COLUMNS} FROM oidc_records WHERE model = $1 AND user_code = $2 AND ${LIVE('$3')} LIMIT 1`,
  ),
  findByAccountId: statement(
    'oidc.findByAccountId',
    `SELECT ${COLUMNS} FROM oidc_records WHERE account_id = $2 AND model = $1 AND ${LIVE('$3')}
     ORDER BY key`,
  ),
  // One statement: of two racing consumers, in any instance, the second waits for the first's row
  // lock, then re-checks the WHERE on the row as the first left it (READ COMMITTED) and changes
  // nothing. rowCount 1 means this call consumed it.
  consume: statement(
    'oidc.consume',
    `UPDATE oidc_records SET consumed_at = $3
     WHERE model = $1 AND key = $2 AND consumed_at IS NULL AND ${LIVE('$4')}`,
  ),
  destroy: statement('oidc.destroy', 'DELETE FROM oidc_records WHERE model = $1 AND key = $2'),
  revokeByGrantId: statement('oidc.revokeByGrantId', 'DELETE FROM oidc_records WHERE grant_id = $1'),
  revokeByClientId: statement('oidc.revokeByClientId', 'DELETE FROM oidc_records WHERE client_id = $1'),
  revokeByAccountId: statement('oidc.revokeByAccountId', 'DELETE FROM oidc_records WHERE account_id = $1'),
  count: statement(
    'oidc.count',
    `SELECT count(*) AS count FROM oidc_records WHERE model = $1 AND ${LIVE('$2')}`,
  ),
  // In batches, skipping rows another instance's purge holds: several instances purging at once
  // share the work instead of queueing behind each other's locks.
  purge: statement(
    'oidc.purge',
    `DELETE FROM oidc_records WHERE (model, key) IN (
       SELECT model, key FROM oidc_records WHERE expires_at <= $1 LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED)`,
  ),
} satisfies Record<string, Statement>;

export class PostgresOidcRecordStore implements OidcRecordStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async upsert(record: OidcRecord): Promise<void> {
    await this.#db.run(STATEMENTS.upsert, [
      record.model,
      record.key,
      record.payload,
      nullable(record.grantId),
      nullable(record.uid),
      nullable(record.userCode),
      nullable(record.accountId),
      nullable(record.clientId),
      nullable(record.expiresAt),
      nullable(record.consumedAt),
    ]);
  }

  async find(model: string, key: string): Promise<OidcRecord | undefined> {
    return fromRow(await this.#db.row<OidcRow>(STATEMENTS.find, [model, key, Date.now()]));
  }

  async findByUid(model: string, uid: string): Promise<OidcRecord | undefined> {
    return fromRow(await this.#db.row<OidcRow>(STATEMENTS.findByUid, [model, uid, Date.now()]));
  }

  async findByUserCode(model: string, userCode: string): Promise<OidcRecord | undefined> {
    return fromRow(await this.#db.row<OidcRow>(STATEMENTS.findByUserCode, [model, userCode, Date.now()]));
  }

  async findByAccountId(model: string, accountId: string): Promise<OidcRecord[]> {
    const rows = await this.#db.rows<OidcRow>(STATEMENTS.findByAccountId, [model, accountId, Date.now()]);
    return rows.map((row) => fromRow(row)!);
  }

  async consume(model: string, key: string, at: number): Promise<boolean> {
    return (await this.#db.run(STATEMENTS.consume, [model, key, at, Date.now()])) === 1;
  }

  async destroy(model: string, key: string): Promise<void> {
    await this.#db.run(STATEMENTS.destroy, [model, key]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db.run(STATEMENTS.revokeByGrantId, [grantId]);
  }

  revokeByClientId(clientId: string): Promise<number> {
    return this.#db.run(STATEMENTS.revokeByClientId, [clientId]);
  }

  revokeByAccountId(accountId: string): Promise<number> {
    return this.#db.run(STATEMENTS.revokeByAccountId, [accountId]);
  }

  async count(model: string): Promise<number> {
    return (await this.#db.row<{ count: number }>(STATEMENTS.count, [model, Date.now()]))?.count ?? 0;
  }

  /** Deletes records expired at `now` (epoch ms), batch by batch; returns how many went. */
  async purgeExpired(now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.#db.run(STATEMENTS.purge, [now]);
      total += deleted;
      if (deleted < PURGE_BATCH) return total;
    }
  }

  async importRecord(record: unknown): Promise<void> {
    await this.upsert(importedRecord<OidcRecord>('oidc', record, ['model', 'key', 'payload']));
  }
}

export const oidcExport: ExportSource = {
  kind: 'oidc',
  query: `SELECT ${COLUMNS} FROM oidc_records ORDER BY model, key`,
  fromRow: (row) => fromRow(row as OidcRow),
};

function fromRow(row: OidcRow | undefined): OidcRecord | undefined {
  if (row === undefined) return undefined;
  // Absent optional fields get no key at all, so records compare and serialise like the originals.
  const record: OidcRecord = { model: row.model, key: row.key, payload: row.payload };
  if (row.grant_id !== null) record.grantId = row.grant_id;
  if (row.uid !== null) record.uid = row.uid;
  if (row.user_code !== null) record.userCode = row.user_code;
  if (row.account_id !== null) record.accountId = row.account_id;
  if (row.client_id !== null) record.clientId = row.client_id;
  if (row.expires_at !== null) record.expiresAt = row.expires_at;
  if (row.consumed_at !== null) record.consumedAt = row.consumed_at;
  return record;
}
