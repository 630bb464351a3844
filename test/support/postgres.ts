// PostgreSQL for the test suites: where the server is (POSTGRES_URL, default the local server's
// `test` database, which .ci/run starts), whether it answers (suites skip with the reason where it
// does not), and a database of their own for each store a test opens, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';

/** A database the test role may connect to and create databases from. */
export const POSTGRES_URL = process.env.POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Connections per test store: tests make few concurrent calls, and the server allows 100 in all. */
const TEST_POOL_SIZE = 4;

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** `url` without its password, for messages. */
function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Undefined when a PostgreSQL server answers at POSTGRES_URL; otherwise why the suite skips. */
export async function postgresSkipReason(): Promise<string | undefined> {
  try {
    await withAdmin((client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return `no PostgreSQL server answers at ${redacted(POSTGRES_URL)} (${(error as Error).message}); start it or set POSTGRES_URL`;
  }
}

/** Databases made for one test file, named after its run so that runs never collide. */
export class TestDatabases {
  readonly #run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  readonly #names: string[] = [];

  /** Creates an empty database; returns its URL. */
  async create(): Promise<string> {
    const name = `latchkey_test_${this.#run}_${this.#names.length}`;
    this.#names.push(name);
    // The name is ours (letters, digits, underscores): CREATE DATABASE takes no parameters.
    await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
    return withDatabase(POSTGRES_URL, name);
  }

  /** Opens a store on a new database. */
  async openStore(): Promise<PostgresStore> {
    return openPostgresStore(await this.create(), { poolSize: TEST_POOL_SIZE });
  }

  /** Drops every database this made; the stores on them should be closed first. */
  async dropAll(): Promise<void> {
    if (this.#names.length === 0) return;
    await withAdmin(async (client) => {
      for (const name of this.#names.splice(0)) {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    });
  }
}

/** The store contract's target (see test/store-contract.test.ts): a database per store opened. */
export async function postgresTarget() {
  const skipReason = await postgresSkipReason();
  const databases = new TestDatabases();
  return {
    name: 'postgres',
    open: () => databases.openStore(),
    cleanup: () => databases.dropAll(),
    skipReason,
  };
}
