// The bench's results as Markdown: the scenario table with ratios to the reference and PASS/MISS
// against the targets, its notes, the growth table, the machine's ceilings and any CPU
// profiles. Each section is drawn by a file of its own; this one puts them in order.
import { growthTable } from './report-growth.js';
import { ceilingsTable, profilesSection } from './report-machine.js';
import { notes } from './report-notes.js';
import { comparisonTable } from './report-scenarios.js';
import { storesSection } from './report-stores.js';
import type { BenchResults } from './results.js';
import { describeArgon2Build } from '../src/authorization/argon2-build.js';

export { TARGETS, type BenchResults, type ComparisonRow, type GrowthRow } from './results.js';

/** How busy the machine was: the bench's own processes keep about two cores busy. */
function loadLine(load: number[], cores: number): string {
  const sorted = [...load].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return (
    `Machine load during the run (1-minute load average, ${load.length} samples): ` +
    `${sorted[0]!.toFixed(1)} to ${sorted[sorted.length - 1]!.toFixed(1)}, median ${median.toFixed(1)}, on ${cores} cores. ` +
    'The bench itself keeps about two busy (the load generator and the server under load); above that, ' +
    'other work shared the cores, and rates moved with it: read the ratios and their ranges.'
  );
}

export function renderResults(results: BenchResults): string {
  return [
    '# Latchkey benchmark',
    '',
    `${results.date.toISOString()} · Node ${results.node} · ${results.cpu} × ${results.cores} · ${results.settings}`,
    '',
    `argon2 binary: ${describeArgon2Build(results.argon2)}.`,
    '',
    ...(results.load?.length ? [loadLine(results.load, results.cores), ''] : []),
    'Latchkey runs on the embedded SQLite store (the PostgreSQL store has a section of its own below);',
    'the reference is a bare oidc-provider with its in-memory adapter and the same protocol configuration',
    '(bench/reference-server.ts). Each server is its own process; the load generator (autocannon) is a',
    'third. The subjects of a comparison are loaded in turn, in half-second slices (A B B A A B …);',
    '"ratio" is the median over the pairs of slices run back to back, so that it holds on a shared',
    'machine even when the rates move; in brackets, the middle half of the pair ratios (25th to 75th',
    'percentile). A target inside that range is "borderline": this run cannot tell the ratio from the',
    'target. "Server CPU µs/req" is the server process\'s user + system time per response over its own',
    'slices; "RSS" its resident set size under that load (see the memory note).',
    '',
    comparisonTable(results),
    '',
    notes(results),
    '',
    storesSection(results),
    '',
    growthTable(results),
    '',
    '## Ceilings of this machine',
    '',
    ceilingsTable(results.ceilings),
    '',
    profilesSection(results.profiles),
  ]
    .join('\n')
    .trimEnd()
    .concat('\n');
}
