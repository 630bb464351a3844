// `latchkey db …`: schema migration (MongoDB indexes; SQLite and PostgreSQL migrate when they open) and
// moving every record between stores as JSON lines. Exported values stay as stored: hashed or
// sealed, so an import needs the same LATCHKEY_MASTER_KEY to be of use.
import { createReadStream, createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { exportStore, importStore } from '../../store/transfer.js';
import { formatPairs, subcommand, writeJson, writeLines, type CliIo, type OutputOptions } from '../io.js';
import { withSession } from '../session.js';

interface ExportOptions extends OutputOptions {
  output?: string;
}

interface ImportOptions extends OutputOptions {
  input?: string;
}

function report(io: CliIo, options: OutputOptions, result: Record<string, unknown>): void {
  if (options.json) writeJson(io, result);
  else writeLines(io, formatPairs(result));
}

export function registerDb(program: Command, io: CliIo): void {
  const db = program.command('db').description('migrate, export and import the store');

  subcommand(db, 'migrate', 'bring the store’s schema and indexes up to date').action(
    (options: OutputOptions) =>
      withSession(io, async ({ store }) => {
        if (store.kind === 'sqlite') {
          return report(io, options, {
            store: 'sqlite',
            migrated: true,
            note: 'the SQLite schema is created when the store opens',
          });
        }
        if (store.kind === 'postgres') {
          // The store ran its pending migrations (under the advisory lock) when it opened.
          const { PostgresStore, SCHEMA_VERSION } = await import('../../store/postgres/index.js');
          const applied = store instanceof PostgresStore ? [...store.migrated] : [];
          return report(io, options, { store: 'postgres', migrated: true, version: SCHEMA_VERSION, applied });
        }
        const { migrateMongoStore } = await import('../../store/mongo/index.js');
        await migrateMongoStore(store);
        report(io, options, { store: 'mongodb', migrated: true });
      }),
  );

  subcommand(db, 'export', 'write every record as JSON lines (to stdout unless --output)')
    .option('--output <file>', 'write to this file (created with mode 600) instead of stdout')
    .action((options: ExportOptions) =>
      withSession(io, async ({ store }) => {
        if (!options.output) {
          // stdout carries the export itself (JSON lines, with or without --json); the count goes to stderr.
          const exported = await exportStore(store, io.stdout);
          if (!options.json) io.stderr.write(`latchkey: exported ${exported} records\n`);
          return;
        }
        const file = createWriteStream(options.output, { mode: 0o600 });
        const exported = await exportStore(store, file);
        if (!file.writableEnded) file.end();
        await finished(file);
        report(io, options, { exported, output: options.output });
      }),
    );

  subcommand(db, 'import', 'read JSON lines written by db export (from stdin unless --input)')
    .option('--input <file>', 'read from this file instead of stdin')
    .action((options: ImportOptions) =>
      withSession(io, async ({ store }) => {
        const imported = await importStore(store, options.input ? createReadStream(options.input) : io.stdin);
        report(io, options, { imported, ...(options.input ? { input: options.input } : {}) });
      }),
    );
}
