// Helpers shared by the SQLite record stores: constraint errors and checks on imported records.
import { StoreConflictError, type ExportKind } from '../types.js';

// Extended result codes (https://www.sqlite.org/rescode.html), which node:sqlite exposes as `errcode`.
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

/** True when a node:sqlite error is a PRIMARY KEY or UNIQUE violation. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('errcode' in error)) return false;
  return error.errcode === SQLITE_CONSTRAINT_UNIQUE || error.errcode === SQLITE_CONSTRAINT_PRIMARYKEY;
}

/**
 * Checks the little that an imported record needs before it reaches SQL: an object whose identity
 * fields are strings. NOT NULL and CHECK constraints catch the rest. A bad import file is the
 * operator's mistake, hence TypeError.
 */
export function importedRecord<T>(
  kind: ExportKind,
  record: unknown,
  identity: readonly (keyof T & string)[],
): T {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TypeError(`import: a ${kind} record must be an object`);
  }
  for (const field of identity) {
    if (typeof (record as Record<string, unknown>)[field] !== 'string') {
      throw new TypeError(`import: a ${kind} record needs a string ${field}`);
    }
  }
  return record as T;
}

/** SQLite has no undefined; optional fields go in as NULL. */
export function nullable<T>(value: T | undefined): T | null {
  return value ?? null;
}

/** Runs a write, turning a uniqueness violation into the store's StoreConflictError. */
export function mapConflict<T>(write: () => T, describe: (error: Error) => string): T {
  try {
    return write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new StoreConflictError(describe(error as Error));
    throw error;
  }
}
