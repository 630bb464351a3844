// Counters in fixed windows (login throttling, replay checks), shared by every instance on the
// database. A hit is one INSERT … ON CONFLICT DO UPDATE … RETURNING: concurrent hits on one key
// queue on its row lock, and each then updates the row as the one before it committed it.
import { statement, type Database, type Statement } from './database.js';
import type { CounterState, CounterStore } from '../types.js';

/** How many ended counters one purge statement deletes: short locks, short WAL bursts. */
const PURGE_BATCH = 5000;

const COUNTER_STATEMENTS = {
  // The SET expressions read the row as it was, so both CASEs decide on the old window.
  hit: statement(
    'counters.hit',
    `INSERT INTO counters (key, count, reset_at) VALUES ($1, 1, $2)
     ON CONFLICT (key) DO UPDATE SET
       count = CASE WHEN counters.reset_at <= $3 THEN 1 ELSE counters.count + 1 END,
       reset_at = CASE WHEN counters.reset_at <= $3 THEN excluded.reset_at ELSE counters.reset_at END
     RETURNING count, reset_at`,
  ),
  decrement: statement(
    'counters.decrement',
    'UPDATE counters SET count = count - 1 WHERE key = $1 AND reset_at > $2 AND count > 0',
  ),
  reset: statement('counters.reset', 'DELETE FROM counters WHERE key = $1'),
  // In batches, skipping rows a hit or another instance's purge holds, as the OIDC records' purge.
  purge: statement(
    'counters.purge',
    `DELETE FROM counters WHERE key IN (
       SELECT key FROM counters WHERE reset_at <= $1 LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED)`,
  ),
} satisfies Record<string, Statement>;

export class PostgresCounterStore implements CounterStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async hit(key: string, windowMs: number, now: number = Date.now()): Promise<CounterState> {
    const [row] = await this.#db.returning<{ count: number; reset_at: number }>(COUNTER_STATEMENTS.hit, [
      key,
      now + windowMs,
      now,
    ]);
    return { count: row!.count, resetAt: row!.reset_at };
  }

  async decrement(key: string, now: number = Date.now()): Promise<void> {
    await this.#db.run(COUNTER_STATEMENTS.decrement, [key, now]);
  }

  async reset(key: string): Promise<void> {
    await this.#db.run(COUNTER_STATEMENTS.reset, [key]);
  }

  /** Deletes counters whose window ended at `now` (epoch ms), batch by batch; returns how many went. */
  async purgeExpired(now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.#db.run(COUNTER_STATEMENTS.purge, [now]);
      total += deleted;
      if (deleted < PURGE_BATCH) return total;
    }
  }
}
