// A per-process read cache with a short life. Lookups on every token request (clients, APIs,
// client grants) go through it; a change made by another process (the admin CLI, another
// instance) is seen once the entry ages out, so the life bounds how stale a read can be.
import { LRUCache } from 'lru-cache';

/** Changes reach every process sharing the store within this time (issue: within one second). */
export const SHORT_CACHE_MS = 500;

export class ShortCache<Value> {
  // lru-cache stores no `undefined`: a boxed value keeps "not found" cacheable too.
  readonly #entries: LRUCache<string, { value: Value }>;

  constructor(options: { ttlMs?: number; max?: number } = {}) {
    this.#entries = new LRUCache({ max: options.max ?? 10_000, ttl: options.ttlMs ?? SHORT_CACHE_MS });
  }

  async get(key: string, load: () => Promise<Value>): Promise<Value> {
    const hit = this.#entries.get(key);
    if (hit) return hit.value;
    const value = await load();
    this.#entries.set(key, { value });
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
