// The bench's results as Markdown: the scenario table with ratios to the reference and PASS/MISS
// against the issue's targets, the growth table, the machine's ceilings and any CPU profiles.
import type { BrowserFlowResult, BrowserFlows } from './browser-flow.js';
import type { Ceilings } from './ceilings.js';
import type { ClusterResult } from './cluster.js';
import type { ProfileDigest } from './cpu-profiler.js';
import { pairedRatio, pairedRatioSpread, type Measurement } from './load.js';
import { SLOW_CONNECTIONS, type VaultResult } from './vault.js';
import { UPSTREAM_SLOW_MS } from './upstream-server.js';
import { PASSWORD_HASH_SETTINGS } from '../src/authorization/accounts.js';
import { describeArgon2Build, type Argon2Build } from '../src/authorization/argon2-build.js';

/** Issue #6 targets. */
export const TARGETS = {
  referenceRatio: 0.8,
  loginsPerSecond: 60,
  growthRatio: 0.9,
  /** The vault proxy against the upstream called directly: throughput ratio, ms added at p50. */
  proxyRatio: 0.8,
  proxyAddedMs: 1,
  /** WORKERS=2 against WORKERS=1: more than one process's worth. */
  clusterRatio: 1,
} as const;

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
  /** Which argon2 binary the servers load (src/authorization/argon2-build.ts). */
  argon2: Argon2Build;
  settings: string;
  comparisons: ComparisonRow[];
  browser?: BrowserFlows | { outcome: string };
  vault?: VaultResult | { outcome: string };
  cluster?: ClusterResult | { outcome: string };
  growthLevels: number[];
  growth: GrowthRow[] | { outcome: string };
  seeding: { rows: number; ms: number }[];
  ceilings?: Ceilings;
  profiles: ProfileSummary[];
}

const integer = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—');
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '—');
const latency = (value: Measurement | BrowserFlowResult) => `${ms(value.p50)} / ${ms(value.p99)}`;
/** Sub-millisecond latencies (the paced proxy row). */
const fineLatency = (value: Measurement) => `${value.p50.toFixed(2)} / ${value.p99.toFixed(2)}`;
const cpuOf = (value: Measurement) =>
  value.cpuPerRequest === undefined ? '—' : integer(value.cpuPerRequest);

function rate(value: Measurement): string {
  const failed = value.non2xx + value.errors;
  return failed ? `${integer(value.rps)} (${failed} failed)` : integer(value.rps);
}

/** A ratio of `a` to `b` with, in brackets, the middle half of its pair ratios in this run. */
function ratioCell(a: Measurement, b: Measurement, target?: number): string {
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
function verdict(a: Measurement, b: Measurement, target: number, options: { strict?: boolean } = {}): string {
  const failing = [a, b].some((value) => value.non2xx + value.errors > value.requests / 100);
  if (failing) return 'MISS (errors)';
  const meets = (ratio: number) => (options.strict ? ratio > target : ratio >= target);
  const spread = pairedRatioSpread(a, b);
  const borderline = spread !== undefined && meets(spread.high) && !meets(spread.low);
  return (meets(pairedRatio(a, b)) ? 'PASS' : 'MISS') + (borderline ? ', borderline' : '');
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

function browserRow(browser: BenchResults['browser']): string[] {
  const target = `≥ ${TARGETS.loginsPerSecond} logins/s`;
  const title =
    'browser flow: authorize → login (argon2id) → consent → code → token (reference: the same flow, ' +
    'its interactions finished at once: no pages, no password)';
  if (!browser || 'outcome' in browser)
    return ['5', title, browser?.outcome ?? 'not run', '', '', '', '', '', target, '—'];
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
    target,
    result,
  ];
}

/** What scenario (5) can reach on this machine: its cores' CPU time over what one login costs. */
function loginBudgetNote(results: BenchResults): string | undefined {
  const { browser, ceilings, cores } = results;
  if (!browser || 'outcome' in browser || !browser.cpuPerFlow) return undefined;
  const perLogin = browser.cpuPerFlow + (browser.clientCpuPerFlow ?? 0);
  const argon2 = ceilings?.argon2CpuMs;
  return (
    `- (5) Budget: ${cores} cores give ${cores * 1000} ms of CPU per second, so ${TARGETS.loginsPerSecond} ` +
    `logins/s leave ${((cores * 1000) / TARGETS.loginsPerSecond).toFixed(1)} ms per login, the load ` +
    `generator's share included. One login took ${(perLogin / 1000).toFixed(1)} ms here ` +
    `(server ${(browser.cpuPerFlow / 1000).toFixed(1)}, load generator ` +
    `${((browser.clientCpuPerFlow ?? 0) / 1000).toFixed(1)}), so at most ` +
    `${Math.round((cores * 1e6) / perLogin)} logins/s with every core busy` +
    (argon2 === undefined
      ? '.'
      : `; the argon2id verification alone is ${argon2.toFixed(1)} ms of it (ceilings), the rest of the ` +
        `server's share ${(browser.cpuPerFlow / 1000 - argon2).toFixed(1)} ms for 8 requests and their store operations.`) +
    (results.argon2.kind === 'native'
      ? ''
      : ' On a CPU with AVX2, `npm run argon2:native` about halves the verification (docs/production.md).')
  );
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
      ['6', TOKEN_API_TITLE, outcome, '', '—', '', '', '', '—', '—'],
      ['6', PROXY_TITLE, outcome, '', '', '', '', '', proxyTarget, '—'],
      ['6', SLOW_PROXY_TITLE, outcome, '', '', '', '', '', proxyTarget, '—'],
      ['6', VARIED_PROXY_TITLE, outcome, '', '', '', '', '', proxyTarget, '—'],
      [
        '6',
        'vault proxy: latency added at p50, both paced at the same rate',
        outcome,
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
      latencyTarget,
      failing ? 'MISS (errors)' : added <= TARGETS.proxyAddedMs ? 'PASS' : 'MISS',
    ],
  ];
}

function clusterRow(cluster: BenchResults['cluster']): string[] {
  const title =
    'cluster mode: client_credentials (opaque), node dist/src/main.js WORKERS=2 (ref. columns: WORKERS=1)';
  const target = `> ${TARGETS.clusterRatio.toFixed(1)}× WORKERS=1`;
  const one =
    cluster && 'levels' in cluster ? cluster.levels.find((level) => level.workers === 1) : undefined;
  const two =
    cluster && 'levels' in cluster ? cluster.levels.find((level) => level.workers === 2) : undefined;
  if (!one || !two) {
    const outcome = cluster && 'outcome' in cluster ? cluster.outcome : 'not run';
    return ['—', title, outcome, '', '', '', '', '', target, '—'];
  }
  return [
    '—',
    title,
    rate(two.measured),
    latency(two.measured),
    rate(one.measured),
    latency(one.measured),
    ratioCell(two.measured, one.measured, TARGETS.clusterRatio),
    `${cpuOf(two.measured)} / ${cpuOf(one.measured)} (all processes)`,
    target,
    verdict(two.measured, one.measured, TARGETS.clusterRatio, { strict: true }),
  ];
}

function notes(results: BenchResults): string {
  const lines: string[] = [];
  const { vault, cluster } = results;
  const budget = loginBudgetNote(results);
  if (budget) lines.push(budget);
  if (vault && !('outcome' in vault)) {
    lines.push(
      '- (6) Vault: its own Latchkey, a node:http upstream provider and API (bench/upstream-server.ts) and a ' +
        'bare pass-through proxy (bench/passthrough-server.ts), each a process of its own; the end user is ' +
        'connected through the real connect flow first, and every measured call is HTTP. The token row has ' +
        'no comparison. In the proxy rows, CPU µs/req is each process alone (Latchkey without the upstream).',
      '- The saturated proxy row compares throughput, same connections on each side; its p50 difference is ' +
        'mostly the queue of a closed loop (connections ÷ rate), so the latency target is judged on the paced ' +
        `row: every side at the same fixed rate (${Math.round(vault.paced.share * 100)}% of the proxy's ` +
        'saturated rate, open loop), where p50 is a service time. What the pass-through adds there is the cost ' +
        "of any extra hop on this machine; the rest of the proxy's is Latchkey's own work.",
      '- The pass-through is the most any Node proxy gets here: per call it does at least twice the socket ' +
        `work of the trivial upstream, so "≥ ${TARGETS.proxyRatio}× direct" is out of its reach too ` +
        `(${pairedRatio(vault.passthrough, vault.direct).toFixed(2)}×). Latchkey's proxy runs at ` +
        `${pairedRatio(vault.proxy, vault.passthrough).toFixed(2)}× the pass-through.`,
    );
  }
  if (cluster && 'levels' in cluster) {
    const [one, two] = [1, 2].map((workers) => cluster.levels.find((level) => level.workers === workers));
    const cpu = one?.measured.cpuPerRequest && two?.measured.cpuPerRequest;
    lines.push(
      '- Cluster: both servers are `node dist/src/main.js` seeded with the admin CLI, each on its own copy ' +
        'of one SQLite file; CPU µs/req sums the primary and every worker' +
        (cpu
          ? ` (WORKERS=2 spends ${(two!.measured.cpuPerRequest! / one!.measured.cpuPerRequest!).toFixed(2)}× the CPU per request of WORKERS=1)`
          : '') +
        `. This machine has ${results.cores} cores, shared by the load generator (autocannon, in the runner ` +
        'process) and the server processes, so two workers cannot have two cores to themselves: the ratio is ' +
        'what WORKERS=2 gains here, not what it gains where the load comes from elsewhere.',
    );
  }
  return lines.length ? ['Notes:', '', ...lines].join('\n') : '';
}

function comparisonTable(results: BenchResults): string {
  const target = `≥ ${TARGETS.referenceRatio}× ref`;
  const rows = results.comparisons.map((row) => {
    if (row.outcome || !row.ours || !row.reference) {
      return [String(row.group), row.title, row.outcome ?? 'not run', '', '', '', '', '', target, '—'];
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

function ceilingsTable(ceilings: Ceilings | undefined): string {
  if (!ceilings) return 'Ceilings: not measured in this run.';
  return table(
    ['ceiling', 'value'],
    [
      ['RS256 signatures/s, one core (node:crypto, 2048-bit)', integer(ceilings.rs256PerSecond)],
      ['ES256 signatures/s, one core (node:crypto, P-256)', integer(ceilings.es256PerSecond)],
      [
        `argon2id verifications/s (${PASSWORD_HASH_SETTINGS}; ${ceilings.argon2Threads} libuv threads)`,
        `${integer(ceilings.argon2PerSecond)} (${ceilings.argon2CpuMs.toFixed(1)} ms of CPU each)`,
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
    `argon2 binary: ${describeArgon2Build(results.argon2)}.`,
    '',
    'Latchkey runs on the embedded SQLite store; the reference is a bare oidc-provider with its in-memory',
    'adapter and the same protocol configuration (bench/reference-server.ts). Each server is its own',
    'process; the load generator (autocannon) is a third. The subjects of a comparison are loaded in',
    'turn, in half-second slices (A B B A A B …); "ratio" is the median over the pairs of slices run',
    'back to back, so that it holds on a shared machine even when the rates move; in brackets, the',
    'middle half of the pair ratios (25th to 75th percentile). A target inside that range is',
    '"borderline": this run cannot tell the ratio from the target. "Server CPU µs/req" is the server',
    "process's user + system time per response over its own slices.",
    '',
    comparisonTable(results),
    '',
    notes(results),
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
