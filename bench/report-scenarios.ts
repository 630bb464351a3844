// The report's scenario table: one row per comparison (groups 0–4 against the bare reference), the
// browser flow (5), the vault's token API and proxy (6) and cluster mode, each judged against its
// target.
import {
  cpuCell,
  cpuOf,
  fineLatency,
  integer,
  latency,
  rate,
  ratioCell,
  rssCell,
  rssPair,
  table,
  verdict,
} from './report-cells.js';
import { deployedMeasurement } from './report-stores.js';
import { TARGETS, type BenchResults } from './results.js';
import type { Measurement } from './load.js';
import { UPSTREAM_SLOW_MS } from './upstream-server.js';
import { SLOW_CONNECTIONS } from './vault.js';

function browserRow(browser: BenchResults['browser']): string[] {
  const target = `≥ ${TARGETS.loginsPerSecond} logins/s`;
  const title =
    'browser flow: authorize → login (argon2id) → consent → code → token (reference: the same flow, ' +
    'its interactions finished at once: no pages, no password)';
  if (!browser || 'outcome' in browser)
    return ['5', title, browser?.outcome ?? 'not run', '', '', '', '', '', '', target, '—'];
  const failed = browser.failures ? ` (${browser.failures} failed: ${browser.firstError ?? ''})` : '';
  const reference = browser.reference;
  const referenceCells =
    reference === undefined
      ? ['', '']
      : 'outcome' in reference
        ? [reference.outcome, '']
        : [`${reference.rps.toFixed(1)} flows/s`, latency(reference)];
  const ms = (micros: number | undefined) => (micros === undefined ? '?' : (micros / 1000).toFixed(1));
  const cpu = browser.cpuPerFlow
    ? `${ms(browser.cpuPerFlow)} / ${reference && !('outcome' in reference) ? ms(reference.cpuPerFlow) : '—'} ms per flow` +
      ` (load generator: ${ms(browser.clientCpuPerFlow)} ms)`
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
    ...referenceCells,
    '',
    cpu,
    rssPair(browser, reference && !('outcome' in reference) ? reference : undefined),
    target,
    result,
  ];
}

const TOKEN_API_TITLE =
  'vault token API: POST /vault/connections/:key/:user/token, fresh connection (no refresh)';
const PROXY_TITLE =
  'vault proxy: GET /vault/proxy/:key/:user/api/hello, saturated (ref. columns: the upstream’s /api/hello called directly, same token, same connections)';
const SLOW_PROXY_TITLE = `vault proxy: GET …/api/slow, an API that always answers in ${UPSTREAM_SLOW_MS} ms, ${SLOW_CONNECTIONS} connections (ref. columns: /api/slow called directly)`;
const VARIED_PROXY_TITLE = `vault proxy: GET …/api/varied, an API that answers in ${UPSTREAM_SLOW_MS / 2}–${(UPSTREAM_SLOW_MS * 3) / 2} ms (${UPSTREAM_SLOW_MS} on average), ${SLOW_CONNECTIONS} connections (ref. columns: /api/varied called directly)`;

/** A proxy throughput row: requests/s through the vault against the same API called directly. */
function proxyThroughputRow(title: string, measured: { proxy: Measurement; direct: Measurement }): string[] {
  const { proxy, direct } = measured;
  return [
    '6',
    title,
    rate(proxy),
    latency(proxy),
    rate(direct),
    latency(direct),
    ratioCell(proxy, direct, TARGETS.proxyRatio),
    `${cpuOf(proxy)} / ${cpuOf(direct)} (Latchkey / upstream)`,
    rssCell(proxy),
    `≥ ${TARGETS.proxyRatio}× direct`,
    verdict(proxy, direct, TARGETS.proxyRatio),
  ];
}

function vaultRows(vault: BenchResults['vault']): string[][] {
  const proxyTarget = `≥ ${TARGETS.proxyRatio}× direct`;
  const latencyTarget = `adds ≤ ${TARGETS.proxyAddedMs} ms at p50`;
  if (!vault || 'outcome' in vault) {
    const outcome = vault?.outcome ?? 'not run';
    return [
      ['6', TOKEN_API_TITLE, outcome, '', '—', '', '', '', '', '—', '—'],
      ['6', PROXY_TITLE, outcome, '', '', '', '', '', '', proxyTarget, '—'],
      ['6', SLOW_PROXY_TITLE, outcome, '', '', '', '', '', '', proxyTarget, '—'],
      ['6', VARIED_PROXY_TITLE, outcome, '', '', '', '', '', '', proxyTarget, '—'],
      [
        '6',
        'vault proxy: latency added at p50, both paced at the same rate',
        outcome,
        '',
        '',
        '',
        '',
        '',
        '',
        latencyTarget,
        '—',
      ],
    ];
  }
  const { token, proxy, direct, passthrough, paced, slow, varied } = vault;
  const added = paced.proxy.p50 - paced.direct.p50;
  const bareAdded = paced.passthrough.p50 - paced.direct.p50;
  const saturatedAdded = proxy.p50 - direct.p50;
  const signed = (value: number, digits: number) =>
    `${value < 0 ? '−' : '+'}${Math.abs(value).toFixed(digits)}`;
  const failing = [paced.proxy, paced.direct].some(
    (value) => value.non2xx + value.errors > value.requests / 100,
  );
  return [
    [
      '6',
      TOKEN_API_TITLE,
      rate(token),
      latency(token),
      '—',
      '',
      '',
      `${cpuOf(token)} / —`,
      rssCell(token),
      '—',
      token.non2xx + token.errors > token.requests / 100 ? 'MISS (errors)' : 'info',
    ],
    proxyThroughputRow(PROXY_TITLE, { proxy, direct }),
    proxyThroughputRow(SLOW_PROXY_TITLE, slow),
    proxyThroughputRow(VARIED_PROXY_TITLE, varied),
    [
      '6',
      'ceiling: bare pass-through proxy (node:http → undici, no auth, no store), same upstream (ref. columns: direct)',
      rate(passthrough),
      latency(passthrough),
      rate(direct),
      latency(direct),
      ratioCell(passthrough, direct),
      `${cpuOf(passthrough)} / ${cpuOf(direct)} (pass-through / upstream)`,
      '—',
      '—',
      'info',
    ],
    [
      '6',
      `vault proxy: latency added at p50, both paced at ${integer(paced.rate)} req/s (ref. columns: direct)`,
      rate(paced.proxy),
      fineLatency(paced.proxy),
      rate(paced.direct),
      fineLatency(paced.direct),
      `${signed(added, 2)} ms (pass-through: ${signed(bareAdded, 2)} ms; saturated: ${signed(saturatedAdded, 1)} ms)`,
      `${cpuOf(paced.proxy)} / ${cpuOf(paced.direct)}`,
      rssCell(paced.proxy),
      latencyTarget,
      failing ? 'MISS (errors)' : added <= TARGETS.proxyAddedMs ? 'PASS' : 'MISS',
    ],
  ];
}

function clusterRow(cluster: BenchResults['cluster']): string[] {
  const title =
    'cluster mode: client_credentials (opaque), node dist/src/main.js WORKERS=2 (ref. columns: WORKERS=1), SQLite';
  const target = `> ${TARGETS.clusterRatio.toFixed(1)}× WORKERS=1`;
  const one = deployedMeasurement(cluster, 'cc-opaque', 'sqlite', 1);
  const two = deployedMeasurement(cluster, 'cc-opaque', 'sqlite', 2);
  if (!one || !two) {
    const outcome = cluster && 'outcome' in cluster ? cluster.outcome : 'not run';
    return ['—', title, outcome, '', '', '', '', '', '', target, '—'];
  }
  return [
    '—',
    title,
    rate(two),
    latency(two),
    rate(one),
    latency(one),
    ratioCell(two, one, TARGETS.clusterRatio),
    `${cpuOf(two)} / ${cpuOf(one)} (all processes)`,
    rssPair(two, one),
    target,
    verdict(two, one, TARGETS.clusterRatio, { strict: true }),
  ];
}

export function comparisonTable(results: BenchResults): string {
  const target = `≥ ${TARGETS.referenceRatio}× ref`;
  const rows = results.comparisons.map((row) => {
    if (row.outcome || !row.ours || !row.reference) {
      return [String(row.group), row.title, row.outcome ?? 'not run', '', '', '', '', '', '', target, '—'];
    }
    const baseline = row.group === 0;
    return [
      String(row.group),
      row.title + (row.referenceNote ? ` (${row.referenceNote})` : ''),
      rate(row.ours),
      latency(row.ours),
      rate(row.reference),
      latency(row.reference),
      ratioCell(row.ours, row.reference, baseline ? undefined : TARGETS.referenceRatio),
      cpuCell(row.ours, row.reference),
      rssPair(row.ours, row.reference),
      baseline ? '—' : target,
      baseline ? 'info' : verdict(row.ours, row.reference, TARGETS.referenceRatio),
    ];
  });
  rows.push(browserRow(results.browser));
  rows.push(...vaultRows(results.vault));
  rows.push(clusterRow(results.cluster));
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
      `server RSS MB under load: Latchkey / ref (target ≤ ${TARGETS.rssMb} per process)`,
      'target',
      'result',
    ],
    rows,
  );
}
