// The notes under the scenario table: what scenario (5) can reach on this machine, how the vault (6)
// and cluster rows were measured, and how to read them; every server's memory against its target.
import { STORE_NAMES } from './cluster.js';
import { pairedRatio, type RssFigures } from './load.js';
import { deployedMeasurement } from './report-stores.js';
import { TARGETS, type BenchResults } from './results.js';
import { SERVER_ENVIRONMENT, SERVER_NODE_OPTIONS } from '../src/http/memory-settings.js';

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

/** Every RSS figure of the run against the per-process target: the largest, and any above it. */
function memoryNote(results: BenchResults): string | undefined {
  const figures = rssFigures(results);
  if (figures.length === 0) return undefined;
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  const largest = figures.reduce((a, b) => (b.rss.median > a.rss.median ? b : a));
  const peak = figures.reduce((a, b) => (b.rss.peak > a.rss.peak ? b : a));
  const over = figures.filter((figure) => mb(figure.rss.median) > TARGETS.rssMb);
  return (
    `- Memory: each server's RSS is sampled in the middle of each of its slices, every process of it ` +
    '(a cluster: its primary and each worker); a cell gives the median of the samples of its largest ' +
    `process, its size at steady load. Target ≤ ${TARGETS.rssMb} MB per process: ` +
    (over.length
      ? `MISS on ${over.length} of ${figures.length} figures (${over.map((figure) => `${figure.row}: ${mb(figure.rss.median)} MB`).join('; ')}).`
      : `PASS on all ${figures.length} figures (largest ${mb(largest.rss.median)} MB: ${largest.row}).`) +
    ` Highest single sample: ${mb(peak.rss.peak)} MB (${peak.row}). Every server runs with Latchkey's memory ` +
    `settings (src/http/memory-settings.ts: ${Object.entries(SERVER_ENVIRONMENT)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')} node ${SERVER_NODE_OPTIONS.join(' ')}, old generation grown to 2× what survived the ` +
    'last full collection).'
  );
}

/** Latchkey's RSS figures in the run, each with the row it belongs to (reference, upstream excluded). */
function rssFigures(results: BenchResults): { row: string; rss: RssFigures }[] {
  const figures: { row: string; rss: RssFigures | undefined }[] = [];
  for (const row of results.comparisons) figures.push({ row: row.title, rss: row.ours?.rss });
  const { browser, vault, cluster, growth } = results;
  if (browser && !('outcome' in browser)) figures.push({ row: 'browser flow', rss: browser.rss });
  if (vault && !('outcome' in vault)) {
    figures.push(
      { row: 'vault token API', rss: vault.token.rss },
      { row: 'vault proxy', rss: vault.proxy.rss },
    );
  }
  if (cluster && !('outcome' in cluster)) {
    for (const scenario of cluster.scenarios) {
      for (const server of scenario.servers)
        figures.push({
          row: `${scenario.id}, ${STORE_NAMES[server.store]}, WORKERS=${server.workers}`,
          rss: server.measured.rss,
        });
    }
  }
  if (!('outcome' in growth)) {
    for (const row of growth) {
      row.levels.forEach((level, index) =>
        figures.push({
          row: `growth ${row.title}, ${STORE_NAMES[row.store]}, ${results.growthLevels[index]} stored`,
          rss: level?.rss,
        }),
      );
    }
  }
  return figures.filter((figure): figure is { row: string; rss: RssFigures } => figure.rss !== undefined);
}

export function notes(results: BenchResults): string {
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
  const one = deployedMeasurement(cluster, 'cc-opaque', 'sqlite', 1);
  const two = deployedMeasurement(cluster, 'cc-opaque', 'sqlite', 2);
  if (one && two) {
    const cpu = one.cpuPerRequest && two.cpuPerRequest;
    lines.push(
      '- Cluster: both servers are `node dist/src/main.js` seeded with the admin CLI, each on its own copy ' +
        'of one SQLite file; CPU µs/req sums the primary and every worker' +
        (cpu
          ? ` (WORKERS=2 spends ${(two.cpuPerRequest! / one.cpuPerRequest!).toFixed(2)}× the CPU per request of WORKERS=1)`
          : '') +
        `. This machine has ${results.cores} cores, shared by the load generator (autocannon, in the runner ` +
        'process) and the server processes (and, in the PostgreSQL rows, the database server), so two ' +
        'workers cannot have two cores to themselves: the ratio is what WORKERS=2 gains here, not what it ' +
        'gains where the load comes from elsewhere. The same servers give the PostgreSQL rows further down.',
    );
  }
  const memory = memoryNote(results);
  if (memory) lines.push(memory);
  return lines.length ? ['Notes:', '', ...lines].join('\n') : '';
}
