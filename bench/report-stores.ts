// The report's tables for Latchkey as deployed (issue #17): the PostgreSQL store against the SQLite
// store on one process, and two processes (WORKERS=2) against one on each store, each judged
// against its target.
import { STORE_NAMES, type StoreKind } from './cluster.js';
import type { Measurement } from './load.js';
import { cpuOf, latency, rate, ratioCell, rssPair, table, verdict } from './report-cells.js';
import { TARGETS, type BenchResults } from './results.js';

/** One deployed server's measurement of one scenario, when it ran. */
export function deployedMeasurement(
  cluster: BenchResults['cluster'],
  id: string,
  store: StoreKind,
  workers: number,
): Measurement | undefined {
  if (!cluster || 'outcome' in cluster) return undefined;
  return cluster.scenarios
    .find((scenario) => scenario.id === id)
    ?.servers.find((server) => server.store === store && server.workers === workers)?.measured;
}

function oneProcessTable(
  results: BenchResults,
  cluster: Exclude<BenchResults['cluster'], undefined | { outcome: string }>,
): string {
  const rows = cluster.scenarios.map((scenario) => {
    const hasTarget = scenario.group === 1;
    const target = hasTarget ? `≥ ${TARGETS.postgresRatio}× SQLite` : '—';
    const postgres = deployedMeasurement(results.cluster, scenario.id, 'postgres', 1);
    const sqlite = deployedMeasurement(results.cluster, scenario.id, 'sqlite', 1);
    const group = String(scenario.group);
    if (!postgres || !sqlite) {
      const outcome = scenario.outcome ?? cluster.postgresOutcome ?? 'not run';
      return [group, scenario.title, outcome, '', '', '', '', '', '', target, '—'];
    }
    return [
      group,
      scenario.title,
      rate(postgres),
      latency(postgres),
      rate(sqlite),
      latency(sqlite),
      ratioCell(postgres, sqlite, hasTarget ? TARGETS.postgresRatio : undefined),
      `${cpuOf(postgres)} / ${cpuOf(sqlite)}`,
      rssPair(postgres, sqlite),
      target,
      hasTarget ? verdict(postgres, sqlite, TARGETS.postgresRatio) : 'info',
    ];
  });
  return table(
    [
      '#',
      'scenario, one process (WORKERS=1)',
      'PostgreSQL req/s',
      'p50 / p99 ms',
      'SQLite req/s',
      'p50 / p99 ms',
      'ratio',
      'Latchkey CPU µs/req: PostgreSQL / SQLite',
      `RSS MB: PostgreSQL / SQLite (target ≤ ${TARGETS.rssMb})`,
      'target',
      'result',
    ],
    rows,
  );
}

function twoProcessTable(
  results: BenchResults,
  cluster: Exclude<BenchResults['cluster'], undefined | { outcome: string }>,
): string {
  const target = `> ${TARGETS.clusterRatio.toFixed(1)}× WORKERS=1`;
  const rows = cluster.scenarios.flatMap((scenario) =>
    (['postgres', 'sqlite'] as const).map((store) => {
      const two = deployedMeasurement(results.cluster, scenario.id, store, 2);
      const one = deployedMeasurement(results.cluster, scenario.id, store, 1);
      const group = String(scenario.group);
      if (!two || !one) {
        const outcome =
          scenario.outcome ?? (store === 'postgres' ? cluster.postgresOutcome : undefined) ?? 'not run';
        return [group, scenario.title, STORE_NAMES[store], outcome, '', '', '', '', '', '', target, '—'];
      }
      return [
        group,
        scenario.title,
        STORE_NAMES[store],
        rate(two),
        latency(two),
        rate(one),
        latency(one),
        ratioCell(two, one, TARGETS.clusterRatio),
        `${cpuOf(two)} / ${cpuOf(one)}`,
        rssPair(two, one),
        target,
        verdict(two, one, TARGETS.clusterRatio, { strict: true }),
      ];
    }),
  );
  return table(
    [
      '#',
      'scenario',
      'store',
      'WORKERS=2 req/s',
      'p50 / p99 ms',
      'WORKERS=1 req/s',
      'p50 / p99 ms',
      'ratio',
      'Latchkey CPU µs/req, all processes: ×2 / ×1',
      `RSS MB of the largest process: ×2 / ×1 (target ≤ ${TARGETS.rssMb})`,
      'target',
      'result',
    ],
    rows,
  );
}

export function storesSection(results: BenchResults): string {
  const { cluster, postgres } = results;
  const heading = '## PostgreSQL beside SQLite: Latchkey as deployed, one and two processes';
  if (!cluster || 'outcome' in cluster) return [heading, '', cluster?.outcome ?? 'Not run.'].join('\n');
  const missing = cluster.postgresOutcome ?? ('outcome' in postgres ? postgres.outcome : undefined);
  const servers =
    missing === undefined && 'version' in postgres
      ? `Four servers, each \`node dist/src/main.js\` seeded with the admin CLI on a database of its own: SQLite and PostgreSQL ${postgres.version}, each`
      : `PostgreSQL did not run (${missing}). Two servers, each \`node dist/src/main.js\` seeded with the admin CLI on a SQLite file of its own,`;
  return [
    heading,
    '',
    `${servers} with WORKERS=1 and WORKERS=2 (node:cluster: a primary and two workers sharing the ` +
      'port and the database). Each scenario loads them in turn, in slices, so that each comparison ' +
      "below is between neighbours. Latchkey's CPU µs/req counts its own processes only: the PostgreSQL " +
      "server's processes, which share the same cores, are not in it.",
    '',
    oneProcessTable(results, cluster),
    '',
    twoProcessTable(results, cluster),
  ].join('\n');
}
