// The notes under the scenario table: what scenario (5) can reach on this machine, how the vault (6)
// and cluster rows were measured, and how to read them.
import { pairedRatio } from './load.js';
import { TARGETS, type BenchResults } from './results.js';

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
