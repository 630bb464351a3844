// Counters in fixed windows (login throttling, replay checks), shared by every process on the file.
// Each hit is one INSERT … ON CONFLICT DO UPDATE … RETURNING, run in the batch's write transaction:
// SQLite lets one writer at a time in, so no two hits, of this process or another, see one count.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { CounterState, CounterStore } from '../types.js';
import type { StatementBatch } from './batch.js';

export class SqliteCounterStore implements CounterStore {
  readonly #batch: StatementBatch;
  readonly #hit: StatementSync;
  readonly #decrement: StatementSync;
  readonly #reset: StatementSync;
  readonly #purge: StatementSync;

  constructor(db: DatabaseSync, batch: StatementBatch) {
    this.#batch = batch;
    // The SET expressions read the row as it was, so both CASEs decide on the old window.
    this.#hit = db.prepare(
      `INSERT INTO counters (key, count, reset_at) VALUES (:key, 1, :reset_at)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN counters.reset_at <= :now THEN 1 ELSE counters.count + 1 END,
         reset_at = CASE WHEN counters.reset_at <= :now THEN excluded.reset_at ELSE counters.reset_at END
       RETURNING count, reset_at`,
    );
    this.#decrement = db.prepare(
      'UPDATE counters SET count = count - 1 WHERE key = ? AND reset_at > ? AND count > 0',
    );
    this.#reset = db.prepare('DELETE FROM counters WHERE key = ?');
    this.#purge = db.prepare('DELETE FROM counters WHERE reset_at <= ?');
  }

  async hit(key: string, windowMs: number, now: number = Date.now()): Promise<CounterState> {
    const row = (await this.#batch.write(() => this.#hit.get({ key, reset_at: now + windowMs, now }))) as {
      count: number;
      reset_at: number;
    };
    return { count: row.count, resetAt: row.reset_at };
  }

  async decrement(key: string, now: number = Date.now()): Promise<void> {
    await this.#batch.write(() => this.#decrement.run(key, now));
  }

  async reset(key: string): Promise<void> {
    await this.#batch.write(() => this.#reset.run(key));
  }

  /** Deletes counters whose window ended at `now` (epoch ms); returns how many went. */
  purgeExpired(now: number): number {
    return Number(this.#purge.run(now).changes);
  }
}
