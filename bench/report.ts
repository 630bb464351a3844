// The bench's results as Markdown: the scenario table with ratios to the reference and PASS/MISS
// against the issue's targets, the growth table, the machine's ceilings and any CPU profiles.
import type { BrowserFlowResult } from './browser-flow.js';
import type { Ceilings } from './ceilings.js';
import type { ProfileDigest } from './cpu-profiler.js';
import { pairedRatio, type Measurement } from './load.js';

/** Issue #6 targets. */
export const TARGETS = { referenceRatio: 0.8, loginsPerSecond: 60, growthRatio: 0.9 } as const;

export interface ComparisonRow {
  group: number;
  title: string;
  /** Set when the scenario did not run (skipped or failed its check). */
  outcome?: string;
  ours?: Measurement;
  reference?: Measurement;
  referenceNote?: string;
}

export interface GrowthRow {
  title: string;
  outcome?: string;
  /** One measurement per growth level, smallest first. */
  levels: (Measurement | undefined)[];
}

export interface ProfileSummary extends ProfileDigest {
  scenario: string;
  path: string;
  /** Responses (or browser flows) the profile covered. */
  requests?: number;
  unit?: 'request' | 'flow';
}

export interface BenchResults {
  date: Date;
  node: string;
  cpu: string;
  cores: number;
  settings: string;
  comparisons: ComparisonRow[];
  browser?: BrowserFlowResult | { outcome: string };
  growthLevels: number[];
  growth: GrowthRow[] | { outcome: string };
  seeding: { rows: number; ms: number }[];
  ceilings?: Ceilings;
  profiles: ProfileSummary[];
}

const integer = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—');
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '—');
const latency = (value: Measurement | BrowserFlowResult) => `${ms(value.p50)} / ${ms(value.p99)}`;

function rate(value: Measurement): string {
  const failed = value.non2xx + value.errors;
  return failed ? `${integer(value.rps)} (${failed} failed)` : integer(value.rps);
}

/** PASS/MISS for a ratio; failures above 1% of the requests spoil any figure. */
function verdict(ratio: number, target: number, measured: Measurement[]): string {
  const failing = measured.some((value) => value.non2xx + value.errors > value.requests / 100);
  if (failing) return 'MISS (errors)';
  return ratio >= target ? 'PASS' : 'MISS';
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "CPU µs per request, Latchkey / reference (reference ÷ Latchkey as a ratio)". */
function cpuCell(ours: Measurement, reference: Measurement): string {
  if (ours.cpuPerRequest === undefined || reference.cpuPerRequest === undefined) return '';
  const ratio = reference.cpuPerRequest / ours.cpuPerRequest;
  return `${integer(ours.cpuPerRequest)} / ${integer(reference.cpuPerRequest)} (${ratio.toFixed(2)}×)`;
}

function browserRow(browser: BenchResults['browser'], cores: number): string[] {
  const target = `≥ ${TARGETS.loginsPerSecond} logins/s`;
  const title = 'browser flow: authorize → login (argon2id) → consent → code → token';
  if (!browser || 'outcome' in browser)
    return ['5', title, browser?.outcome ?? 'not run', '', '', '', '', '', target, '—'];
  const failed = browser.failures ? ` (${browser.failures} failed: ${browser.firstError ?? ''})` : '';
  // With every core busy, this is as many logins per second as the server's CPU time allows.
  const cpu = browser.cpuPerFlow
    ? `${(browser.cpuPerFlow / 1000).toFixed(1)} ms per login (≤ ${Math.round((cores * 1e6) / browser.cpuPerFlow)}/s on ${cores} cores)`
    : '';
  const result =
    browser.failures > browser.flows / 100
      ? 'MISS (errors)'
      : browser.rps >= TARGETS.loginsPerSecond
        ? 'PASS'
        : 'MISS';
  return [
    '5',
    title,
    `${browser.rps.toFixed(1)} logins/s${failed}`,
    latency(browser),
    '—',
    '',
    '',
    cpu,
    target,
    result,
  ];
}

function comparisonTable(results: BenchResults): string {
  const target = `≥ ${TARGETS.referenceRatio}× ref`;
  const rows = results.comparisons.map((row) => {
    if (row.outcome || !row.ours || !row.reference) {
      return [String(row.group), row.title, row.outcome ?? 'not run', '', '', '', '', '', target, '—'];
    }
    const ratio = pairedRatio(row.ours, row.reference);
    const baseline = row.group === 0;
    return [
      String(row.group),
      row.title + (row.referenceNote ? ` (${row.referenceNote})` : ''),
      rate(row.ours),
      latency(row.ours),
      rate(row.reference),
      latency(row.reference),
      `${ratio.toFixed(2)}×`,
      cpuCell(row.ours, row.reference),
      baseline ? '—' : target,
      baseline ? 'info' : verdict(ratio, TARGETS.referenceRatio, [row.ours, row.reference]),
    ];
  });
  rows.push(browserRow(results.browser, results.cores));
  rows.push(['6', 'vault: fresh access token, proxied call', 'not built yet', '', '', '', '', '', '', '—']);
  rows.push(['—', 'cluster mode (WORKERS=n)', 'not built yet (bench scenario)', '', '', '', '', '', '', '—']);
  return table(
    [
      '#',
      'scenario',
      'Latchkey req/s',
      'p50 / p99 ms',
      'reference req/s',
      'p50 / p99 ms',
      'ratio',
      'server CPU µs/req: Latchkey / ref',
      'target',
      'result',
    ],
    rows,
  );
}

function growthTable(results: BenchResults): string {
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
    const ratio = pairedRatio(large, small);
    return [
      '7',
      row.title,
      ...row.levels.map((level) =>
        level
          ? `${rate(level)} (${latency(level)} ms${level.cpuPerRequest ? `; ${integer(level.cpuPerRequest)} µs CPU` : ''})`
          : '',
      ),
      `${ratio.toFixed(2)}×`,
      `≥ ${TARGETS.growthRatio}×`,
      verdict(
        ratio,
        TARGETS.growthRatio,
        row.levels.filter((level): level is Measurement => !!level),
      ),
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

function ceilingsTable(ceilings: Ceilings | undefined): string {
  if (!ceilings) return 'Ceilings: not measured in this run.';
  return table(
    ['ceiling', 'value'],
    [
      ['RS256 signatures/s, one core (node:crypto, 2048-bit)', integer(ceilings.rs256PerSecond)],
      ['ES256 signatures/s, one core (node:crypto, P-256)', integer(ceilings.es256PerSecond)],
      [
        `argon2id verifications/s (m=19 MiB, t=2, p=1; ${ceilings.argon2Threads} libuv threads)`,
        integer(ceilings.argon2PerSecond),
      ],
      ['node:http hello world req/s (p50 / p99 ms)', `${rate(ceilings.hello)} (${latency(ceilings.hello)})`],
    ],
  );
}

function profilesSection(profiles: ProfileSummary[]): string {
  if (profiles.length === 0) return '';
  const sections = profiles.map((profile) => {
    const perRequest = profile.requests
      ? `, ${integer((profile.busyMs * 1000) / profile.requests)} µs main-thread busy per ${profile.unit ?? 'request'}`
      : '';
    const components = profile.components
      .slice(0, 10)
      .map((entry) => `${entry.component} ${entry.percent.toFixed(1)}%`)
      .join(' · ');
    return [
      `### ${profile.scenario}: ${integer(profile.busyMs)} ms busy${perRequest}`,
      '',
      `${profile.path}`,
      '',
      `By component (natives count for their caller): ${components}`,
      '',
      table(
        ['self ms', '%', 'function', 'where', 'mostly called from'],
        profile.functions.map((entry) => [
          integer(entry.ms),
          entry.percent.toFixed(1),
          entry.name,
          entry.where,
          entry.caller,
        ]),
      ),
    ].join('\n');
  });
  return ['## CPU profiles (main thread; top self time)', '', ...sections].join('\n\n');
}

export function renderResults(results: BenchResults): string {
  return [
    '# Latchkey benchmark',
    '',
    `${results.date.toISOString()} · Node ${results.node} · ${results.cpu} × ${results.cores} · ${results.settings}`,
    '',
    'Latchkey runs on the embedded SQLite store; the reference is a bare oidc-provider with its in-memory',
    'adapter and the same protocol configuration (bench/reference-server.ts). Each server is its own',
    'process; the load generator (autocannon) is a third. The subjects of a comparison are loaded in',
    'turn, in half-second slices (A B B A A B …); "ratio" is the median over the pairs of slices run',
    'back to back, so that it holds on a shared machine even when the rates move. "Server CPU µs/req"',
    "is the server process's user + system time per response over its own slices.",
    '',
    comparisonTable(results),
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
