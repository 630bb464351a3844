// The connection pool every PostgreSQL record store runs its statements through, and the helpers
// they share: named statements, BIGINT epochs read back as numbers, unique violations as
// StoreConflictError, and the checks an imported record needs before it reaches SQL.
import pg from 'pg';
import { StoreConflictError, type ExportKind } from '../types.js';

/**
 * A statement with a name: node-postgres prepares it once per pooled connection and then only
 * binds and executes it, so the server parses and plans each statement once, not per call.
 * Statements name their columns (no `SELECT *`), so a later migration never changes a prepared
 * statement's result type under it.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

export const statement = (name: string, text: string): Statement => ({ name: `latchkey.${name}`, text });

// SQLSTATEs (https://www.postgresql.org/docs/15/errcodes-appendix.html).
const UNIQUE_VIOLATION = '23505';
/** What PostgreSQL answers to a text value with a NUL character, which its text type cannot hold. */
const CHARACTER_NOT_IN_REPERTOIRE = '22021';

/**
 * Epochs are BIGINT (milliseconds outgrow INTEGER), which node-postgres returns as strings lest a
 * value beyond 2^53 lose precision. Epochs and counts stay far below that, so they come back as
 * numbers. These parsers belong to the store's own pool: the pg module's global ones stay as they are.
 */
function storeTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  return types;
}

export interface PoolOptions {
  /** Most connections the pool opens (DATABASE_POOL_SIZE). */
  poolSize: number;
  /** How long to wait for a connection before a query fails (default 10 s). */
  connectionTimeoutMillis?: number;
}

export function createPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    types: storeTypes(),
    application_name: 'latchkey',
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle connection that the server drops (restart, failover, idle timeout) emits 'error' on
  // the pool; unheard, that would end the process. The pool replaces the connection on next use.
  pool.on('error', (error) => {
    process.emitWarning(`PostgreSQL store: an idle connection failed: ${error.message}`, {
      code: 'LATCHKEY_STORE_CONNECTION',
    });
  });
  return pool;
}

/** The pool, with the few ways the record stores call it. */
export class Database {
  constructor(readonly pool: pg.Pool) {}

  /**
   * A read. A lookup by a value no row can hold (a client_id with a NUL character, from a request)
   * finds nothing, as it would in the other stores, rather than failing.
   */
  async rows<Row extends pg.QueryResultRow>(statement: Statement, values: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>({ name: statement.name, text: statement.text, values })).rows;
    } catch (error) {
      if (error instanceof pg.DatabaseError && error.code === CHARACTER_NOT_IN_REPERTOIRE) return [];
      throw error;
    }
  }

  async row<Row extends pg.QueryResultRow>(
    statement: Statement,
    values: unknown[] = [],
  ): Promise<Row | undefined> {
    return (await this.rows<Row>(statement, values))[0];
  }

  /** Runs a write that returns rows (RETURNING, or a data-modifying WITH). */
  async returning<Row extends pg.QueryResultRow>(statement: Statement, values: unknown[]): Promise<Row[]> {
    return (await this.pool.query<Row>({ name: statement.name, text: statement.text, values })).rows;
  }

  /** Runs a write; returns how many rows it changed. */
  async run(statement: Statement, values: unknown[] = []): Promise<number> {
    return (await this.pool.query({ name: statement.name, text: statement.text, values })).rowCount ?? 0;
  }
}

/** True when a node-postgres error is a PRIMARY KEY or UNIQUE violation. */
export function isUniqueViolation(error: unknown): error is pg.DatabaseError {
  return error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION;
}

/** Runs a write, turning a uniqueness violation into the store's StoreConflictError. */
export async function mapConflict<T>(
  write: () => Promise<T>,
  describe: (error: pg.DatabaseError) => string,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new StoreConflictError(describe(error));
    throw error;
  }
}

/** PostgreSQL has no undefined; optional fields go in as NULL. */
export function nullable<T>(value: T | undefined): T | null {
  return value ?? null;
}

/** A JSON column's parameter: the text itself, so that node-postgres does not read an array as a PostgreSQL array. */
export function jsonParameter(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
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

/** How exportAll reads one table: its query (in a stable order) and how a row becomes a record. */
export interface ExportSource {
  kind: ExportKind;
  query: string;
  fromRow(row: pg.QueryResultRow): unknown;
}
