// Counters in fixed windows (login throttling, replay checks), shared by every server on the
// replica set. A hit is one findOneAndUpdate upsert with an update pipeline: MongoDB applies it to
// the document atomically, so concurrent hits on one key each see a count of their own.
import type { Model } from 'mongoose';
import type { CounterState, CounterStore } from '../types.js';
import type { CounterDoc } from './models.js';
import { upsertRetryingOnce } from './support.js';

export class MongoCounterStore implements CounterStore {
  readonly #counters: Model<CounterDoc>;

  constructor(counters: Model<CounterDoc>) {
    this.#counters = counters;
  }

  async hit(key: string, windowMs: number, now: number = Date.now()): Promise<CounterState> {
    const at = new Date(now);
    // One $set stage reads the document as it was, so both $conds decide on the old window; a
    // missing document (the upsert's insert) has no resetAt, which $ifNull makes an ended window.
    const ended = { $lte: [{ $ifNull: ['$resetAt', new Date(0)] }, at] };
    const doc = await upsertRetryingOnce(() =>
      this.#counters
        .findOneAndUpdate(
          { _id: key },
          [
            {
              $set: {
                count: { $cond: [ended, 1, { $add: ['$count', 1] }] },
                resetAt: { $cond: [ended, new Date(now + windowMs), '$resetAt'] },
              },
            },
          ],
          // updatePipeline: mongoose 9 accepts an update pipeline only when told so.
          { upsert: true, returnDocument: 'after', updatePipeline: true },
        )
        .lean<CounterDoc>()
        .exec(),
    );
    if (!doc) throw new Error(`counter ${key} vanished while being counted`);
    return { count: doc.count, resetAt: doc.resetAt.getTime() };
  }

  async decrement(key: string, now: number = Date.now()): Promise<void> {
    await this.#counters.updateOne(
      { _id: key, resetAt: { $gt: new Date(now) }, count: { $gt: 0 } },
      { $inc: { count: -1 } },
    );
  }

  async reset(key: string): Promise<void> {
    await this.#counters.deleteOne({ _id: key });
  }

  /** Removes counters whose window has ended; returns how many went. */
  async purgeExpired(now: number): Promise<number> {
    return (await this.#counters.deleteMany({ resetAt: { $lte: new Date(now) } })).deletedCount;
  }
}
