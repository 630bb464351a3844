// Scenario (7): (1), (3) and (4) on Latchkeys holding different numbers of stored tokens and grants,
// on each store (SQLite, and PostgreSQL where a server answers). Every level of every store is a
// server of its own, seeded before it listens (./growth-seed.ts); each scenario loads them all in
// turn, side by side.
import type { BenchPostgres } from './postgres.js';
import { STORE_NAMES, type StoreKind } from './cluster.js';
import { measureInterleaved, type InterleaveSettings } from './interleave.js';
import type { BenchOptions } from './options.js';
import type { Profiles } from './profiles.js';
import type { BenchResults, GrowthRow } from './results.js';
import { GROWTH_SCENARIO_IDS, HTTP_SCENARIOS, requestsFor } from './scenarios.js';
import { startServer, type Server } from './targets.js';

interface GrowthServer extends Server {
  store: StoreKind;
  rows: number;
}

export async function runGrowth(
  options: BenchOptions,
  settings: InterleaveSettings,
  profiles: Profiles,
  postgres: BenchPostgres | string,
  log: (message: string) => void,
): Promise<Pick<BenchResults, 'growth' | 'seeding'>> {
  if (!options.scenarios.has('growth')) return { growth: { outcome: 'not selected' }, seeding: [] };
  if (options.growth.length < 2) {
    const outcome = options.quick
      ? 'skipped (--quick; pass --growth=1000,100000 to run it)'
      : 'needs two sizes';
    return { growth: { outcome }, seeding: [] };
  }
  const stores: StoreKind[] = typeof postgres === 'string' ? ['sqlite'] : ['sqlite', 'postgres'];
  log(
    `growth: seeding ${options.growth.join(', ')} stored tokens and grants on ${stores.map((store) => STORE_NAMES[store]).join(' and ')}`,
  );
  // The load order: each store's smallest and largest levels are neighbours when there are two.
  const planned = stores.flatMap((store) =>
    (store === 'sqlite' ? [...options.growth].reverse() : options.growth).map((rows) => ({ store, rows })),
  );
  const started = await Promise.allSettled(
    planned.map(async ({ store, rows }): Promise<GrowthServer> => {
      const postgresUrl =
        store === 'postgres' ? await (postgres as BenchPostgres).create(`growth_${rows}`) : undefined;
      const server = await startServer(
        { kind: 'latchkey', growthRows: rows, ...(postgresUrl ? { postgresUrl } : {}) },
        true,
      );
      return { ...server, store, rows };
    }),
  );
  const servers = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  try {
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const rows: GrowthRow[] = [];
    for (const id of GROWTH_SCENARIO_IDS) {
      const scenario = HTTP_SCENARIOS.find((candidate) => candidate.id === id)!;
      const storeRows = stores.map((store): GrowthRow => ({ title: scenario.title, store, levels: [] }));
      rows.push(...storeRows);
      const name = (server: GrowthServer) => `growth ${id} @${server.rows} ${server.store}`;
      const requests = await requestsFor(
        scenario,
        servers.map(({ target, store, rows: stored }) => ({
          target,
          side: 'ours',
          label: `${STORE_NAMES[store]}, ${stored} stored`,
        })),
        1,
      );
      if (typeof requests === 'string') {
        for (const row of storeRows) row.outcome = requests;
        log(`growth ${id}: ${requests}`);
        continue;
      }
      const measured = await measureInterleaved(
        servers.map((server, index) => ({
          url: server.target.url,
          request: requests[index]!,
          cpuMicros: () => server.child.cpuMicros(),
          memory: () => server.child.memory(),
          profile: profiles.hook(server.child, name(server)),
        })),
        settings,
      );
      servers.forEach((server, index) => profiles.count(name(server), measured[index]!));
      for (const row of storeRows) {
        row.levels = options.growth.map(
          (level) =>
            measured[servers.findIndex((server) => server.store === row.store && server.rows === level)],
        );
        log(
          `growth ${id} (${STORE_NAMES[row.store]}): ${row.levels.map((level) => Math.round(level?.rps ?? 0)).join(' → ')} req/s`,
        );
      }
    }
    const seeding = servers
      .filter((server) => server.child.seeded)
      .map((server) => ({ ...server.child.seeded!, store: server.store }))
      .sort((a, b) => stores.indexOf(a.store) - stores.indexOf(b.store) || a.rows - b.rows);
    return { growth: rows, seeding };
  } finally {
    await Promise.all(servers.map(({ child }) => child.stop()));
    if (typeof postgres !== 'string') {
      for (const { store, rows } of planned) if (store === 'postgres') await postgres.drop(`growth_${rows}`);
    }
  }
}
