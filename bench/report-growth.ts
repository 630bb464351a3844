// The report's growth table (7): each scenario's rate with more and more rows stored, on each store,
// judged on the largest level against the smallest.
import { STORE_NAMES } from './cluster.js';
import { integer, latency, rate, ratioCell, rssCell, table, verdict } from './report-cells.js';
import type { Measurement } from './load.js';
import { TARGETS, type BenchResults } from './results.js';

export function growthTable(results: BenchResults): string {
  const { growth, growthLevels } = results;
  if ('outcome' in growth) return `Growth (7): ${growth.outcome}`;
  const first = growthLevels[0]!;
  const last = growthLevels[growthLevels.length - 1]!;
  const rows = growth.map((row) => {
    const small = row.levels[0];
    const large = row.levels[row.levels.length - 1];
    const store = STORE_NAMES[row.store];
    if (row.outcome || !small || !large) {
      return ['7', row.title, store, ...growthLevels.map(() => ''), row.outcome ?? 'not run', '', '—'];
    }
    const measured = row.levels.filter((level): level is Measurement => !!level);
    return [
      '7',
      row.title,
      store,
      ...row.levels.map((level) =>
        level
          ? `${rate(level)} (${latency(level)} ms${level.cpuPerRequest ? `; ${integer(level.cpuPerRequest)} µs CPU` : ''}; ${rssCell(level)} MB)`
          : '',
      ),
      ratioCell(large, small, TARGETS.growthRatio),
      `≥ ${TARGETS.growthRatio}×`,
      // A level between the first and the last counts for errors too.
      measured.some((level) => level.non2xx + level.errors > level.requests / 100)
        ? 'MISS (errors)'
        : verdict(large, small, TARGETS.growthRatio),
    ];
  });
  const seeding = results.seeding
    .map(
      (seed) => `${STORE_NAMES[seed.store]} ${integer(seed.rows)} rows in ${(seed.ms / 1000).toFixed(1)} s`,
    )
    .join(', ');
  const postgres = 'outcome' in results.postgres ? `\n\nPostgreSQL: ${results.postgres.outcome}.` : '';
  return [
    table(
      [
        '#',
        'scenario',
        'store',
        ...growthLevels.map((level) => `${integer(level)} stored: req/s (p50 / p99 ms; CPU/req; RSS)`),
        `ratio ${integer(last)} / ${integer(first)}`,
        'target',
        'result',
      ],
      rows,
    ),
    '',
    'Stored rows are grants, access, refresh and client-credentials tokens in equal parts, written by ' +
      "Latchkey's own adapter (hashed ids, sealed payloads) in bulk before the server listens, by a process " +
      'of its own (bench/growth-seed.ts; on PostgreSQL followed by VACUUM ANALYZE, as autovacuum would have ' +
      `done on a server in service). Seeding took: ${seeding}.` +
      postgres,
  ].join('\n');
}
