// The report's cells: numbers, latencies, ratios with their spread, PASS/MISS verdicts, and the
// Markdown table that holds them.
import type { BrowserFlowResult } from './browser-flow.js';
import { pairedRatio, pairedRatioSpread, type Measurement, type RssFigures } from './load.js';
import { TARGETS } from './results.js';

export const integer = (value: number) =>
  Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—';
export const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '—');
export const latency = (value: Measurement | BrowserFlowResult) => `${ms(value.p50)} / ${ms(value.p99)}`;
/** Sub-millisecond latencies (the paced proxy row). */
export const fineLatency = (value: Measurement) => `${value.p50.toFixed(2)} / ${value.p99.toFixed(2)}`;
export const cpuOf = (value: Measurement) =>
  value.cpuPerRequest === undefined ? '—' : integer(value.cpuPerRequest);

const MB = 2 ** 20;

/**
 * A server's RSS at steady load in MB (the median sample of its largest process), marked when it
 * is above the per-process target; '—' when not measured.
 */
export function rssCell(value: { rss?: RssFigures } | undefined): string {
  if (!value?.rss) return '—';
  const median = Math.round(value.rss.median / MB);
  return median > TARGETS.rssMb ? `${median} (over ${TARGETS.rssMb})` : String(median);
}

/** Two servers' RSS cells, "ours / theirs". */
export const rssPair = (ours: { rss?: RssFigures } | undefined, theirs: { rss?: RssFigures } | undefined) =>
  `${rssCell(ours)} / ${rssCell(theirs)}`;

export function rate(value: Measurement): string {
  const failed = value.non2xx + value.errors;
  return failed ? `${integer(value.rps)} (${failed} failed)` : integer(value.rps);
}

/** A ratio of `a` to `b` with, in brackets, the middle half of its pair ratios in this run. */
export function ratioCell(a: Measurement, b: Measurement, target?: number): string {
  const spread = pairedRatioSpread(a, b);
  const ratio = `${roundedRatio(pairedRatio(a, b), target)}×`;
  return spread
    ? `${ratio} (${roundedRatio(spread.low, target)}–${roundedRatio(spread.high, target)})`
    : ratio;
}

/**
 * Two decimals; where that would round onto the row's target a ratio misses or beats (0.7996 is
 * not 0.80), three, rounded away from it.
 */
function roundedRatio(ratio: number, target: number | undefined): string {
  const two = ratio.toFixed(2);
  if (target === undefined || Number(two) !== target || ratio === target) return two;
  return ((ratio < target ? Math.floor(ratio * 1000) : Math.ceil(ratio * 1000)) / 1000).toFixed(3);
}

/**
 * PASS/MISS for the ratio of `a` to `b` (above `target`, or at least it unless `strict`); failures
 * above 1% of the requests spoil any figure. "borderline" when the target lies within the middle
 * half of the pair ratios: the run cannot tell the two apart.
 */
export function verdict(
  a: Measurement,
  b: Measurement,
  target: number,
  options: { strict?: boolean } = {},
): string {
  const failing = [a, b].some((value) => value.non2xx + value.errors > value.requests / 100);
  if (failing) return 'MISS (errors)';
  const meets = (ratio: number) => (options.strict ? ratio > target : ratio >= target);
  const spread = pairedRatioSpread(a, b);
  const borderline = spread !== undefined && meets(spread.high) && !meets(spread.low);
  return (meets(pairedRatio(a, b)) ? 'PASS' : 'MISS') + (borderline ? ', borderline' : '');
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "CPU µs per request, Latchkey / reference (reference ÷ Latchkey as a ratio)". */
export function cpuCell(ours: Measurement, reference: Measurement): string {
  if (ours.cpuPerRequest === undefined || reference.cpuPerRequest === undefined) return '';
  const ratio = reference.cpuPerRequest / ours.cpuPerRequest;
  return `${integer(ours.cpuPerRequest)} / ${integer(reference.cpuPerRequest)} (${ratio.toFixed(2)}×)`;
}
