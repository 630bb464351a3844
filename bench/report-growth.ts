// The report's growth table (7): each scenario's rate with more and more rows stored, judged on the
// largest level against the smallest.
import { integer, latency, rate, ratioCell, table, verdict } from './report-cells.js';
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
    if (row.outcome || !small || !large) {
      return ['7', row.title, ...growthLevels.map(() => ''), row.outcome ?? 'not run', '', '—'];
    }
    const measured = row.levels.filter((level): level is Measurement => !!level);
    return [
      '7',
      row.title,
      ...row.levels.map((level) =>
        level
          ? `${rate(level)} (${latency(level)} ms${level.cpuPerRequest ? `; ${integer(level.cpuPerRequest)} µs CPU` : ''})`
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
    .map((seed) => `${integer(seed.rows)} rows in ${(seed.ms / 1000).toFixed(1)} s`)
    .join(', ');
  return [
    table(
      [
        '#',
        'scenario',
        ...growthLevels.map((level) => `${integer(level)} stored: req/s (p50 / p99 ms; CPU/req)`),
        `ratio ${integer(last)} / ${integer(first)}`,
        'target',
        'result',
      ],
      rows,
    ),
    '',
    `Stored rows are grants, access, refresh and client-credentials tokens in equal parts (seeded: ${seeding}).`,
  ].join('\n');
}
