// Rows kept in memory between batches, for the lookups on every request's path (a grant on each
// refresh, a token on each introspection, the account behind each ID token, a vault connection on
// each proxied call). Valid while no other connection has written to the database (the batch
// checks SQLite's data_version before it runs, and drops every cache when it moved), and while this
// store has not written the row itself (its writes call forget() or clear()).
import { LRUCache } from 'lru-cache';
import type { StatementBatch } from './batch.js';

export class RowCache<T extends object> {
  readonly #rows: LRUCache<string, T>;

  constructor(batch: StatementBatch, size: (row: T) => number) {
    this.#rows = new LRUCache<string, T>({
      max: 10_000,
      maxSize: 16 * 1024 * 1024,
      sizeCalculation: (row, id) => id.length + size(row),
    });
    batch.onExternalChange(() => this.clear());
  }

  /**
   * The row under `id`: remembered if `live` says it still may be served, else `load`ed (inside
   * the batch) and remembered when there is one.
   */
  get(id: string, load: () => T | undefined, live: (row: T) => boolean = () => true): T | undefined {
    const known = this.#rows.get(id);
    if (known !== undefined && live(known)) return known;
    const row = load();
    if (row === undefined) this.#rows.delete(id);
    else this.#rows.set(id, row);
    return row;
  }

  forget(id: string): void {
    this.#rows.delete(id);
  }

  clear(): void {
    this.#rows.clear();
  }
}
