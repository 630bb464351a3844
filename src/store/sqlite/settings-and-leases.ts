// Settings (small values made once and kept) and leases (short locks shared by every process on
// the machine). Both lean on single SQL statements for atomicity across processes.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ExportEntry, LeaseStore, SettingRecord, SettingStore } from '../types.js';
import { importedRecord } from './support.js';

export class SqliteSettingStore implements SettingStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #insertIfAbsent: StatementSync;
  readonly #put: StatementSync;
  readonly #reseal: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare('SELECT value FROM settings WHERE name = ?');
    this.#insertIfAbsent = db.prepare('INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)');
    this.#put = db.prepare(
      'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    );
    this.#reseal = db.prepare(
      'UPDATE settings SET value = :replacement WHERE name = :name AND value = :expected',
    );
  }

  async get(name: string): Promise<string | undefined> {
    return (this.#get.get(name) as { value: string } | undefined)?.value;
  }

  async putIfAbsent(name: string, value: string): Promise<string> {
    // Whichever process inserts first wins; everyone, the loser included, then reads the winner's value.
    this.#insertIfAbsent.run(name, value);
    return (this.#get.get(name) as { value: string }).value;
  }

  async put(name: string, value: string): Promise<void> {
    this.#put.run(name, value);
  }

  /** Store.resealIfUnchanged for a setting's value. */
  async reseal(name: string, expected: string, replacement: string): Promise<boolean> {
    return this.#reseal.run({ name, expected, replacement }).changes === 1;
  }

  *exportEntries(): Generator<ExportEntry> {
    for (const row of this.#db.prepare('SELECT name, value FROM settings ORDER BY name').iterate()) {
      const setting: SettingRecord = { name: row.name as string, value: row.value as string };
      yield { kind: 'setting', record: setting };
    }
  }

  async importRecord(record: unknown): Promise<void> {
    const setting = importedRecord<SettingRecord>('setting', record, ['name', 'value']);
    await this.put(setting.name, setting.value);
  }
}

export class SqliteLeaseStore implements LeaseStore {
  readonly #acquire: StatementSync;
  readonly #release: StatementSync;
  readonly #purge: StatementSync;

  constructor(db: DatabaseSync) {
    // Inserts a free lease, or takes over one that expired or that this owner already holds (which
    // renews it). The conflict's WHERE decides in the same statement, so no other process can
    // slip in between the check and the write: changes === 1 exactly when `owner` holds the lease.
    this.#acquire = db.prepare(
      `INSERT INTO leases (name, owner, expires_at) VALUES (:name, :owner, :expires_at)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE leases.expires_at <= :now OR leases.owner = excluded.owner`,
    );
    this.#release = db.prepare('DELETE FROM leases WHERE name = ? AND owner = ?');
    this.#purge = db.prepare('DELETE FROM leases WHERE expires_at <= ?');
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return this.#acquire.run({ name, owner, expires_at: now + ttlMs, now }).changes === 1;
  }

  async release(name: string, owner: string): Promise<boolean> {
    return this.#release.run(name, owner).changes === 1;
  }

  /** Deletes leases expired at `now` (epoch ms); returns how many went. */
  purgeExpired(now: number): number {
    return Number(this.#purge.run(now).changes);
  }
}
