// Entry point of the process that seeds a growth scenario's store (./growth-seed.ts), forked by the
// bench server before it listens: the seeding's memory (a million sealed records, SQLite's page
// cache, freed buffers that the allocator keeps) is gone with this process, so the server's RSS
// under load is that of a server holding these rows, not of one that has just written them.
import { loadConfig } from '../src/config/index.js';
import { loadKeyring } from '../src/store/index.js';
import { seedGrowthRows } from './growth-seed.js';

/** What the server hands its seeder (argv[2], JSON). */
export interface GrowthSeederSpec {
  /** The server's DATABASE_URL. */
  databaseUrl: string;
  /** The server's LATCHKEY_MASTER_KEY, where it has one (else the key file beside the SQLite file). */
  masterKey?: string;
  rows: number;
  clientId: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as GrowthSeederSpec;
  const config = loadConfig({
    DATABASE_URL: spec.databaseUrl,
    LOG_LEVEL: 'silent',
    ...(spec.masterKey ? { LATCHKEY_MASTER_KEY: spec.masterKey } : {}),
  });
  const database =
    config.database.kind === 'sqlite'
      ? { kind: 'sqlite' as const, path: config.database.path }
      : config.database.kind === 'postgres'
        ? { kind: 'postgres' as const, url: config.database.url }
        : undefined;
  if (!database) throw new TypeError(`growth seeding: no bulk writer for ${config.database.kind}`);
  const rows = await seedGrowthRows({
    database,
    keyring: loadKeyring(config),
    rows: spec.rows,
    clientId: spec.clientId,
  });
  process.send?.({ rows });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `growth seeder: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
