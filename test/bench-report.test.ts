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
