// The PostgreSQL server the bench runs Latchkey's PostgreSQL store on (--postgres, default the
// local server's `test` database): whether it answers, and databases of the bench's own, made for
// one run and dropped at its end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where the local PostgreSQL 15 of the project's machines answers (trust authentication). */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** A PostgreSQL server that answered, and the databases this run made on it. */
export class BenchPostgres {
  /** The server's version (`SHOW server_version`), for the report. */
  readonly version: string;
  readonly #url: string;
  readonly #run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  readonly #made = new Set<string>();

  private constructor(url: string, version: string) {
    this.#url = url;
    this.version = version;
  }

  /** The server at `url`, or why the PostgreSQL rows cannot run (the reason the report prints). */
  static async connect(url: string): Promise<BenchPostgres | string> {
    try {
      const { rows } = await admin(url, (client) =>
        client.query<{ server_version: string }>('SHOW server_version'),
      );
      return new BenchPostgres(url, rows[0]!.server_version);
    } catch (error) {
      return `skipped: no PostgreSQL server answers at ${redacted(url)} (${(error as Error).message}); start it or pass --postgres=URL`;
    }
  }

  /**
   * Makes an empty database (or a copy of `template`, a database of this run that nobody is
   * connected to) and returns its URL.
   */
  async create(name: string, template?: string): Promise<string> {
    const database = this.#name(name);
    // Names are the bench's own (letters, digits, underscores): CREATE DATABASE takes no parameters.
    await this.#admin((client) =>
      client.query(`CREATE DATABASE ${database}${template ? ` TEMPLATE ${this.#name(template)}` : ''}`),
    );
    this.#made.add(database);
    return withDatabase(this.#url, database);
  }

  /** Drops one database of this run (its servers should have stopped). */
  async drop(name: string): Promise<void> {
    const database = this.#name(name);
    await this.#admin((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    this.#made.delete(database);
  }

  /** Drops every database this run made. */
  async dropAll(): Promise<void> {
    for (const database of [...this.#made]) {
      await this.#admin((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      this.#made.delete(database);
    }
  }

  #name(name: string): string {
    if (!/^[a-z0-9_]+$/.test(name)) throw new TypeError(`bench database names are [a-z0-9_]: ${name}`);
    return `latchkey_bench_${this.#run}_${name}`;
  }

  #admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return admin(this.#url, work);
  }
}

async function admin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
