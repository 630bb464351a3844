// Helpers shared by the MongoDB record stores: duplicate-key errors, upserts racing on a unique
// index, the filter for unexpired documents, and the mapping between records and documents
// (epoch milliseconds and Dates, absent fields).
import { StoreConflictError } from '../types.js';

/** MongoDB's duplicate-key error (E11000), from a unique index or `_id`. */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/**
 * Runs a write, turning a duplicate key into the store's conflict error. `describe` is given the
 * field whose unique index refused the write (`_id` or, for accounts, `email`).
 */
export async function conflictOnDuplicate<T>(
  describe: (field: string) => string,
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    const keyPattern = (error as { keyPattern?: Record<string, unknown> }).keyPattern;
    throw new StoreConflictError(describe(Object.keys(keyPattern ?? { _id: 1 })[0] ?? '_id'));
  }
}

/**
 * Two upserts of the same new key at once: both may miss, both insert, and the unique index
 * refuses one (E11000). The document now exists, so the loser's second try replaces it.
 */
export async function upsertRetryingOnce<T>(upsert: () => Promise<T>): Promise<T> {
  try {
    return await upsert();
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    return upsert();
  }
}

/** Filter for documents whose `expiresAt` is absent or still in the future. */
export function unexpired(now = Date.now()) {
  return { $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date(now) } }] };
}

export const toDate = (epochMs: number | undefined): Date | undefined =>
  epochMs === undefined ? undefined : new Date(epochMs);

export const toEpochMs = (date: Date | null | undefined): number | undefined =>
  date == null ? undefined : date.getTime();

/**
 * Drops keys whose value is undefined or null: the record shapes mark absent optional fields by
 * leaving them out, and the BSON serializer would otherwise store `undefined` as `null`.
 */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field != null)) as T;
}
