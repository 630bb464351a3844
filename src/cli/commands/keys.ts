// `latchkey keys …`: the signing keys (public facts only, never private material) and their
// rotation. A running server notices rotated keys on its next key reload (every second).
import type { Command } from 'commander';
import type { SigningKeyRecord } from '../../store/types.js';
import { formatTable, subcommand, writeJson, writeLines, type CliIo, type OutputOptions } from '../io.js';
import { withSession } from '../session.js';

const iso = (epochMs: number | undefined) => (epochMs === undefined ? null : new Date(epochMs).toISOString());

function keyView(key: SigningKeyRecord) {
  return {
    kid: key.kid,
    alg: key.alg,
    status: key.status,
    created: iso(key.createdAt),
    expires: iso(key.expiresAt),
  };
}

function printKeys(io: CliIo, keys: SigningKeyRecord[], options: OutputOptions, note?: string): void {
  const list = keys.map(keyView);
  if (options.json) return writeJson(io, list);
  const rows = list.map((key) => [key.kid, key.alg, key.status, key.created, key.expires]);
  const table = formatTable(
    ['KID', 'ALG', 'STATUS', 'CREATED', 'EXPIRES'],
    rows,
    'no signing keys yet (the server makes them at first start)',
  );
  writeLines(io, note ? [...table, '', note] : table);
}

export function registerKeys(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('list and rotate the signing keys');

  subcommand(
    keys,
    'list',
    'list signing keys: active (signs), next (published, signs after rotation), retired',
  ).action((options: OutputOptions) =>
    withSession(io, async ({ services }) => printKeys(io, await services.keys.list(), options)),
  );

  subcommand(
    keys,
    'rotate',
    'promote each next key to active, retire the active one, publish a new next key',
  ).action((options: OutputOptions) =>
    withSession(io, async ({ services }) =>
      printKeys(
        io,
        await services.keys.rotate(),
        options,
        'running servers sign with the new keys within a second',
      ),
    ),
  );
}
