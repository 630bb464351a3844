// `latchkey keys …`: the signing keys (public facts only, never private material) and their
// rotation; and `keys rewrap`, which re-encrypts the stored secrets under the current master key so
// that a previous one can be retired. A running server notices rotated keys on its next key reload
// (every second).
import type { Command } from 'commander';
import {
  MasterKeyRewrap,
  type RemainingValues,
  type RewrapProgress,
  type RewrapSummary,
} from '../../store/rewrap.js';
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

const NONE_REMAINING =
  'no stored value needs a previous master key: LATCHKEY_PREVIOUS_MASTER_KEYS may be removed';

/** `kind n, kind n` for counts by kind or key id. */
const counts = (byName: Record<string, number | undefined>) =>
  Object.entries(byName)
    .map(([name, count]) => `${name} ${count ?? 0}`)
    .join(', ');

function remainingView(remaining: RemainingValues) {
  return {
    remaining_under_previous_keys: remaining.total,
    remaining_by_kind: remaining.byKind,
    remaining_by_key_id: remaining.byKeyId,
    unknown_key_ids: remaining.unknownKeyIds,
  };
}

/** What remains, in words: the all-clear, or which keys are still needed and by what. */
function remainingLines(remaining: RemainingValues, again: string): string[] {
  if (remaining.total === 0) return [NONE_REMAINING];
  const lines = [
    `${remaining.total} stored values still need a previous master key (${counts(remaining.byKind)}; ` +
      `by key id: ${counts(remaining.byKeyId)}): keep it in LATCHKEY_PREVIOUS_MASTER_KEYS and ${again}`,
  ];
  if (remaining.unknownKeyIds.length > 0) {
    lines.push(
      `key ids ${remaining.unknownKeyIds.join(', ')} are not configured: no key given opens their values; ` +
        'add that key to LATCHKEY_PREVIOUS_MASTER_KEYS to rewrap them',
    );
  }
  return lines;
}

const progressLine = (progress: RewrapProgress) =>
  `${progress.kind}: ${progress.done}/${progress.total} (${progress.resealed} resealed, ` +
  `${progress.skippedChanged} changed meanwhile, left as written)`;

function summaryLines(summary: RewrapSummary): string[] {
  const resealed = Object.values(summary.resealed).reduce((sum, count) => sum + (count ?? 0), 0);
  const lines = [
    `resealed ${resealed} values under the current master key` +
      (resealed > 0 ? ` (${counts(summary.resealed)})` : '') +
      `; ${summary.skippedChanged} skipped, changed or removed meanwhile by a server`,
  ];
  if (summary.unreadable > 0)
    lines.push(`${summary.unreadable} values could not be opened with any key given`);
  return [...lines, ...remainingLines(summary.remaining, 'run `latchkey keys rewrap` again')];
}

export function registerKeys(program: Command, io: CliIo): void {
  const keys = program
    .command('keys')
    .description('list and rotate the signing keys; rewrap stored secrets under the current master key');

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

  subcommand(
    keys,
    'rewrap',
    're-encrypt every stored secret still under a previous master key with the current one ' +
      '(safe while servers run; run it again to resume)',
  )
    .option('--check', 'only count the stored values that still need a previous master key; change nothing')
    .action((options: OutputOptions & { check?: boolean }) =>
      withSession(io, async ({ store, keyring }) => {
        const rewrap = new MasterKeyRewrap(store, keyring);
        const current = { current_key_id: keyring.currentKeyId };
        if (options.check) {
          const remaining = await rewrap.check();
          if (options.json) return writeJson(io, { ...current, ...remainingView(remaining) });
          return writeLines(io, remainingLines(remaining, 'run `latchkey keys rewrap`'));
        }
        if (!options.json) writeLines(io, [`current master key id: ${keyring.currentKeyId}`]);
        const summary = await rewrap.run((progress) => {
          if (!options.json) writeLines(io, [progressLine(progress)]);
        });
        if (options.json) {
          writeJson(io, {
            ...current,
            resealed: summary.resealed,
            skipped_changed: summary.skippedChanged,
            unreadable: summary.unreadable,
            ...remainingView(summary.remaining),
          });
        } else {
          writeLines(io, summaryLines(summary));
        }
        if (summary.unreadable > 0) {
          throw new Error(
            `${summary.unreadable} stored values could not be opened with the configured master keys and were left as they are`,
          );
        }
      }),
    );
}
