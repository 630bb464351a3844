// The bench report's ratios: the median of the pairs of slices, the middle half of them in
// brackets, and a verdict that says "borderline" when the target lies inside that middle half.
import { expect, test } from '@jest/globals';
import { pairedRatio, pairedRatioSpread, type Measurement } from '../bench/load.js';
import { renderResults, type BenchResults } from '../bench/report.js';

function measured(sliceRates: number[]): Measurement {
  const rps = sliceRates.reduce((sum, rate) => sum + rate, 0) / sliceRates.length;
  return { rps, p50: 1, p99: 2, requests: rps * 5, non2xx: 0, errors: 0, statuses: {}, sliceRates };
}

const reference = measured([1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);

test('the ratio is the median of the pair ratios, and the spread their 25th to 75th percentile', () => {
  const ours = measured([700, 950, 800, 900, 750, 850, 600, 1000]);
  expect(pairedRatio(ours, reference)).toBeCloseTo(0.825, 5);
  expect(pairedRatioSpread(ours, reference)).toEqual({ low: 0.7, high: 0.9 });
  expect(pairedRatioSpread(measured([800, 900]), measured([1000, 1000]))).toBeUndefined();
});

function report(ours: Measurement): string {
  const results: BenchResults = {
    date: new Date('2026-11-23T12:00:00Z'),
    node: '24.0.0',
    cpu: 'test CPU',
    cores: 2,
    argon2: { kind: 'prebuilt' },
    settings: 'test',
    comparisons: [{ group: 1, title: 'client_credentials, opaque token', ours, reference }],
    postgres: { version: '15.0' },
    growthLevels: [],
    growth: { outcome: 'skipped' },
    seeding: [],
    profiles: [],
  };
  const line = renderResults(results)
    .split('\n')
    .find((text) => text.startsWith('| 1 | client_credentials'));
  return line ?? '';
}

test('a target inside the middle half of the pair ratios is borderline; outside it, a plain PASS or MISS', () => {
  expect(report(measured([700, 950, 800, 900, 750, 850, 600, 1000]))).toMatch(
    /\| 0\.82× \(0\.70–0\.90\) \|.*\| PASS, borderline \|$/,
  );
  expect(report(measured([790, 740, 800, 750, 820, 760, 810, 770]))).toMatch(
    /\| 0\.78× \(0\.75–0\.80\) \|.*\| MISS, borderline \|$/,
  );
  expect(report(measured([900, 950, 920, 930, 910, 940, 890, 960]))).toMatch(/\| PASS \|$/);
  expect(report(measured([600, 650, 620, 630, 610, 640, 590, 660]))).toMatch(/\| MISS \|$/);
});

test('a ratio just off its target is not rounded onto it', () => {
  expect(report(measured([799.6, 799.6, 799.6, 799.6, 799.6, 799.6, 799.6, 799.6]))).toMatch(
    /\| 0\.799× \(0\.799–0\.799\) \|.*\| MISS \|$/,
  );
  expect(report(measured([800.4, 800.4, 800.4, 800.4, 800.4, 800.4, 800.4, 800.4]))).toMatch(
    /\| 0\.801× \(0\.801–0\.801\) \|.*\| PASS \|$/,
  );
  expect(report(measured([800, 800, 800, 800, 800, 800, 800, 800]))).toMatch(
    /\| 0\.80× \(0\.80–0\.80\) \|.*\| PASS \|$/,
  );
});

const MB = 2 ** 20;

function withRss(value: Measurement, medianMb: number, processes = 1): Measurement {
  return { ...value, rss: { median: medianMb * MB, peak: (medianMb + 5) * MB, processes } };
}

function results(overrides: Partial<BenchResults>): BenchResults {
  return {
    date: new Date('2026-11-23T12:00:00Z'),
    node: '24.0.0',
    cpu: 'test CPU',
    cores: 2,
    argon2: { kind: 'prebuilt' },
    settings: 'test',
    comparisons: [],
    postgres: { version: '15.0' },
    growthLevels: [],
    growth: { outcome: 'skipped' },
    seeding: [],
    profiles: [],
    ...overrides,
  };
}

const lineOf = (markdown: string, start: string) =>
  markdown.split('\n').find((text) => text.startsWith(start)) ?? '';

test('every row prints the server’s RSS under load, marked where it is above 250 MB per process', () => {
  const ours = withRss(measured([900, 950, 920, 930, 910, 940, 890, 960]), 210);
  const markdown = renderResults(
    results({
      comparisons: [
        { group: 1, title: 'client_credentials, opaque token', ours, reference: withRss(reference, 120) },
        {
          group: 3,
          title: 'token introspection',
          ours: withRss(ours, 262),
          reference: withRss(reference, 121),
        },
      ],
    }),
  );
  expect(markdown).toContain('server RSS MB under load: Latchkey / ref (target ≤ 250 per process)');
  expect(lineOf(markdown, '| 1 | client_credentials')).toContain('| 210 / 120 |');
  expect(lineOf(markdown, '| 3 | token introspection')).toContain('| 262 (over 250) / 121 |');
  expect(markdown).toMatch(
    /Target ≤ 250 MB per process: MISS on 1 of 2 figures \(token introspection: 262 MB\)/,
  );
});

const one = measured([1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);

function deployed(postgresRates: { one: number[]; two: number[] } | undefined) {
  const servers = [
    { store: 'sqlite' as const, workers: 2, measured: withRss(measured([1100, 1100, 1100, 1100]), 190, 3) },
    { store: 'sqlite' as const, workers: 1, measured: withRss(measured([1000, 1000, 1000, 1000]), 200) },
    ...(postgresRates
      ? [
          { store: 'postgres' as const, workers: 1, measured: withRss(measured(postgresRates.one), 180) },
          { store: 'postgres' as const, workers: 2, measured: withRss(measured(postgresRates.two), 170, 3) },
        ]
      : []),
  ];
  return { id: 'cc-opaque', group: 1, title: 'client_credentials, opaque token', servers };
}

test('the PostgreSQL rows: one process against SQLite (≥ 0.6×), two processes against one (> 1.0×)', () => {
  const markdown = renderResults(
    results({
      cluster: {
        scenarios: [
          deployed({ one: [650, 650, 650, 650], two: [700, 700, 700, 700] }),
          {
            ...deployed({ one: [500, 500, 500, 500], two: [480, 480, 480, 480] }),
            id: 'refresh',
            group: 2,
            title: 'refresh_token grant',
          },
        ],
      },
    }),
  );
  expect(markdown).toContain('## PostgreSQL beside SQLite');
  expect(markdown).toContain('PostgreSQL 15.0');
  // One process: PostgreSQL against SQLite; client credentials carry the 0.6× target, the rest none.
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | 650 |')).toMatch(
    /\| 0\.65× \(0\.65–0\.65\) \|.*\| 180 \/ 200 \| ≥ 0\.6× SQLite \| PASS \|$/,
  );
  expect(lineOf(markdown, '| 2 | refresh_token grant | 500 |')).toMatch(/\| 0\.50× .*\| — \| info \|$/);
  // Two processes against one, on each store; the RSS is that of the largest process.
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | PostgreSQL |')).toMatch(
    /\| 1\.08× .*\| 170 \/ 180 \| > 1\.0× WORKERS=1 \| PASS \|$/,
  );
  expect(lineOf(markdown, '| 2 | refresh_token grant | PostgreSQL |')).toMatch(/\| 0\.96× .*\| MISS \|$/);
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | SQLite |')).toMatch(
    /\| 1\.10× .*\| PASS \|$/,
  );
  // The SQLite pair is also the main table's cluster row.
  expect(lineOf(markdown, '| — | cluster mode')).toMatch(/\| 1\.10× .*\| 190 \/ 200 \|.*\| PASS \|$/);
});

test('without a PostgreSQL server, its rows say why, and the SQLite rows stand', () => {
  const reason = 'skipped: no PostgreSQL server answers at postgres://127.0.0.1:5432/test';
  const markdown = renderResults(
    results({
      postgres: { outcome: reason },
      cluster: { scenarios: [deployed(undefined)], postgresOutcome: reason },
      growthLevels: [1000, 100000],
      growth: [
        {
          title: 'client_credentials, opaque token',
          store: 'sqlite',
          levels: [withRss(one, 190), withRss(measured([950, 950, 950, 950, 950, 950, 950, 950]), 195)],
        },
      ],
      seeding: [
        { rows: 1000, ms: 100, store: 'sqlite' },
        { rows: 100000, ms: 3700, store: 'sqlite' },
      ],
    }),
  );
  expect(markdown).toContain(`PostgreSQL did not run (${reason}). Two servers`);
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | skipped')).toContain(reason);
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | PostgreSQL |')).toContain(reason);
  expect(lineOf(markdown, '| 1 | client_credentials, opaque token | SQLite |')).toMatch(/PASS \|$/);
  expect(lineOf(markdown, '| 7 | client_credentials, opaque token | SQLite |')).toMatch(
    /\| 1,000 \(1\.0 \/ 2\.0 ms; 190 MB\) \| 950 \(1\.0 \/ 2\.0 ms; 195 MB\) \| 0\.95× \(0\.95–0\.95\) \| ≥ 0\.9× \| PASS \|$/,
  );
  expect(markdown).toContain('SQLite 100,000 rows in 3.7 s');
  expect(markdown).toContain(`PostgreSQL: ${reason}.`);
});
