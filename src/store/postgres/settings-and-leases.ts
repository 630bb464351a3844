// Settings (small values made once and kept) and leases (short locks shared by every instance on
// the database). Both lean on single statements for atomicity across instances.
import type { ExportSource, Statement } from './database.js';
import { importedRecord, statement, type Database } from './database.js';
import type { LeaseStore, SettingRecord, SettingStore } from '../types.js';

const SETTING_STATEMENTS = {
  get: statement('settings.get', 'SELECT value FROM settings WHERE name = $1'),
  insertIfAbsent: statement(
    'settings.insertIfAbsent',
    'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value',
  ),
  put: statement(
    'settings.put',
    'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  ),
} satisfies Record<string, Statement>;

export class PostgresSettingStore implements SettingStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async get(name: string): Promise<string | undefined> {
    return (await this.#db.row<{ value: string }>(SETTING_STATEMENTS.get, [name]))?.value;
  }

  async putIfAbsent(name: string, value: string): Promise<string> {
    // Whichever instance inserts first wins. A loser's insert waits for the winner's commit and
    // does nothing; its read, a statement of its own (so a snapshot taken after that commit), then
    // finds the winner's value.
    const [inserted] = await this.#db.returning<{ value: string }>(SETTING_STATEMENTS.insertIfAbsent, [
      name,
      value,
    ]);
    if (inserted) return inserted.value;
    return (await this.#db.row<{ value: string }>(SETTING_STATEMENTS.get, [name]))!.value;
  }

  async put(name: string, value: string): Promise<void> {
    await this.#db.run(SETTING_STATEMENTS.put, [name, value]);
  }

  async importRecord(record: unknown): Promise<void> {
    const setting = importedRecord<SettingRecord>('setting', record, ['name', 'value']);
    await this.put(setting.name, setting.value);
  }
}

export const settingExport: ExportSource = {
  kind: 'setting',
  query: 'SELECT name, value FROM settings ORDER BY name',
  fromRow: (row): SettingRecord => ({ name: row.name as string, value: row.value as string }),
};

const LEASE_STATEMENTS = {
  // Inserts a free lease, or takes over one that expired or that this owner already holds (which
  // renews it). Concurrent inserts of one name queue on the unique index; each then decides by the
  // conflict's WHERE on the row as committed, so rowCount 1 exactly when `owner` holds the lease.
  acquire: statement(
    'leases.acquire',
    `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
     WHERE leases.expires_at <= $4 OR leases.owner = excluded.owner`,
  ),
  release: statement('leases.release', 'DELETE FROM leases WHERE name = $1 AND owner = $2'),
  purge: statement('leases.purge', 'DELETE FROM leases WHERE expires_at <= $1'),
} satisfies Record<string, Statement>;

export class PostgresLeaseStore implements LeaseStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return (await this.#db.run(LEASE_STATEMENTS.acquire, [name, owner, now + ttlMs, now])) === 1;
  }

  async release(name: string, owner: string): Promise<boolean> {
    return (await this.#db.run(LEASE_STATEMENTS.release, [name, owner])) === 1;
  }

  /** Deletes leases expired at `now` (epoch ms); returns how many went. */
  purgeExpired(now: number): Promise<number> {
    return this.#db.run(LEASE_STATEMENTS.purge, [now]);
  }
}
