// `npm run bench`: boots Latchkey (embedded store) and the bare oidc-provider reference in child
// processes on 127.0.0.1, runs the issue #6 scenarios against both side by side, then the browser
// flow, the vault, Latchkey as deployed on SQLite and PostgreSQL with one and two processes (issue
// #17), the growth rows on both stores and the machine's ceilings, and writes the tables to
// bench/results.md. Options: ./options.ts (`npm run bench -- --help`).
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { argon2Build } from '../src/authorization/argon2-build.js';
import { measureBrowserFlows, type BrowserFlowResult, type BrowserFlows } from './browser-flow.js';
import { measureCeilings } from './ceilings.js';
import type { BenchChild } from './child-process.js';
import {
  measureCluster,
  seedClusterDatabase,
  startClusterServers,
  type ClusterSeed,
  type ClusterSetup,
} from './cluster.js';
import { runGrowth } from './growth.js';
import { measureInterleaved, type InterleaveSettings } from './interleave.js';
import { pairedRatio, rssFigures } from './load.js';
import { parseOptions, type BenchOptions } from './options.js';
import { BenchPostgres } from './postgres.js';
import { Profiles } from './profiles.js';
import { renderResults, type BenchResults, type ComparisonRow } from './report.js';
import { DEPLOYED_SCENARIO_IDS, HTTP_SCENARIOS, requestsFor, type HttpScenario } from './scenarios.js';
import { startServer, type Server } from './targets.js';
import { measureVault, startVaultServers, type VaultSetup } from './vault.js';

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.md', import.meta.url));

const began = performance.now();
/** The machine's 1-minute load average every few seconds, for the report. */
const machineLoad = [loadavg()[0]!];
setInterval(() => machineLoad.push(loadavg()[0]!), 5000).unref();
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - began) / 1000).toFixed(1)} s] ${message}\n`);

function settingsOf(options: BenchOptions): InterleaveSettings {
  return { connections: options.connections, seconds: options.duration, warmupSeconds: options.warmup };
}

/** Scenarios (1)–(4): Latchkey against the reference, one scenario at a time, interleaved. */
async function compareScenario(
  scenario: HttpScenario,
  ours: Server,
  reference: Server,
  options: BenchOptions,
  profiles: Profiles,
): Promise<ComparisonRow> {
  const row: ComparisonRow = { group: scenario.group, title: scenario.title };
  if (scenario.referenceNote) row.referenceNote = scenario.referenceNote;
  const requests = await requestsFor(
    scenario,
    [
      { target: ours.target, side: 'ours', label: 'Latchkey' },
      { target: reference.target, side: 'reference', label: 'reference' },
    ],
    Math.min(options.connections, options.quick ? 4 : 16),
  );
  if (typeof requests === 'string') {
    log(`${scenario.id}: ${requests}`);
    return { ...row, outcome: requests };
  }
  const subject = (server: Server, index: number, name: string) => ({
    url: server.target.url,
    request: requests[index]!,
    profile: profiles.hook(server.child, name),
    cpuMicros: () => server.child.cpuMicros(),
    memory: () => server.child.memory(),
  });
  const [measuredOurs, measuredReference] = await measureInterleaved(
    [subject(ours, 0, scenario.id), subject(reference, 1, `${scenario.id} (reference)`)],
    settingsOf(options),
  );
  row.ours = measuredOurs!;
  row.reference = measuredReference!;
  profiles.count(scenario.id, row.ours);
  profiles.count(`${scenario.id} (reference)`, row.reference);
  log(
    `${scenario.id}: ${Math.round(row.ours.rps)} req/s vs reference ${Math.round(row.reference.rps)} ` +
      `(${pairedRatio(row.ours, row.reference).toFixed(2)}×; server CPU per request ` +
      `${Math.round(row.ours.cpuPerRequest ?? 0)} vs ${Math.round(row.reference.cpuPerRequest ?? 0)} µs)`,
  );
  return row;
}

/**
 * Scenarios (0)–(4). `alongside` is boot-time work of a later phase (no server, no load) that runs
 * beside these servers' boot and is waited for before the first measurement.
 */
async function runReferenceComparison(
  options: BenchOptions,
  profiles: Profiles,
  alongside: Promise<unknown>,
): Promise<ComparisonRow[]> {
  const selected = HTTP_SCENARIOS.filter((scenario) => options.scenarios.has(scenario.id as never));
  if (selected.length === 0) return [];
  log('starting Latchkey and the reference');
  const [ours, reference] = await Promise.all([
    startServer({ kind: 'latchkey', growthRows: 0 }, true),
    startServer({ kind: 'reference' }, false),
    alongside,
  ]);
  try {
    const rows: ComparisonRow[] = [];
    for (const scenario of selected)
      rows.push(await compareScenario(scenario, ours, reference, options, profiles));
    return rows;
  } finally {
    await Promise.all([ours.child.stop(), reference.child.stop()]);
  }
}

/** Measures browser flows on `server`: Latchkey's, or the reference's for comparison. */
async function browserFlowsOn(
  server: Server,
  seconds: number,
  workers: number,
  profile?: ReturnType<Profiles['hook']>,
): Promise<BrowserFlowResult> {
  profile?.start();
  const cpuBefore = await server.child.cpuMicros();
  const memory = sampleMemory(server.child, seconds);
  const flows = await measureBrowserFlows(server.target.endpoints, server.target.fixtures, {
    workers,
    seconds,
    maxFlows: Math.ceil(seconds * 500),
  });
  const cpu = (await server.child.cpuMicros()) - cpuBefore;
  if (flows.flows) flows.cpuPerFlow = cpu / flows.flows;
  const rss = rssFigures(await memory);
  if (rss) flows.rss = rss;
  await profile?.stop();
  return flows;
}

/** The server's RSS at a quarter, half and three quarters of a run of `seconds`. */
async function sampleMemory(child: BenchChild, seconds: number): Promise<number[][]> {
  const samples: number[][] = [];
  for (let quarter = 1; quarter <= 3; quarter++) {
    await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 4));
    samples.push(await child.memory());
  }
  return samples;
}

/**
 * Scenario (5), on a fresh Latchkey: complete sign-ins per second. Then the same flows against the
 * bare reference, whose interactions finish at once: what the protocol alone costs, for scale.
 */
async function runBrowserFlows(options: BenchOptions, profiles: Profiles): Promise<BenchResults['browser']> {
  if (!options.scenarios.has('browser')) return undefined;
  log('browser flow');
  let result: BrowserFlows;
  const ours = await startServer({ kind: 'latchkey', growthRows: 0 }, false);
  try {
    result = await browserFlowsOn(
      ours,
      // Logins are few per second: a full run gives them twice the time, for more flows.
      options.quick ? options.duration : options.duration * 2,
      options.connections,
      profiles.hook(ours.child, 'browser'),
    );
    profiles.count('browser', result);
    log(`browser: ${result.rps.toFixed(1)} logins/s (${result.failures} failed)`);
  } finally {
    await ours.child.stop();
  }
  try {
    const reference = await startServer({ kind: 'reference' }, false);
    try {
      result.reference = await browserFlowsOn(reference, options.shortDuration, options.connections);
      log(`browser (reference): ${result.reference.rps.toFixed(1)} flows/s`);
    } finally {
      await reference.child.stop();
    }
  } catch (error) {
    result.reference = { outcome: failure(error) };
  }
  return result;
}

const failure = (error: unknown) =>
  `error: ${(error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 300)}`;

/**
 * Scenario (6), the vault, and the deployed servers (cluster scenario). Their servers (Latchkey and
 * the upstream; main.js seeded by the CLI on each store, with WORKERS=1 and 2) boot together, before
 * either is measured, so that no boot runs beside a measurement; the deployed servers sit idle
 * during the vault's, and the vault's are gone before the deployed ones are measured.
 */
async function runVaultAndCluster(
  options: BenchOptions,
  profiles: Profiles,
  clusterSeeds: Promise<SeedOutcomes> | undefined,
): Promise<Pick<BenchResults, 'vault' | 'cluster'>> {
  const wantVault = options.scenarios.has('vault');
  const wantCluster = options.scenarios.has('cluster');
  if (!wantVault && !wantCluster) return {};
  log(
    `starting ${[wantVault && 'the vault', wantCluster && 'main.js with WORKERS=1 and 2 on each store'].filter(Boolean).join(' and ')}`,
  );
  const [vaultSetup, clusterSetup] = await Promise.allSettled([
    wantVault ? startVaultServers() : undefined,
    wantCluster && clusterSeeds
      ? clusterSeeds.then(({ sqlite, postgres }) =>
          sqlite.status === 'fulfilled'
            ? startClusterServers(
                [
                  sqlite.value,
                  ...(typeof postgres !== 'string' && postgres.status === 'fulfilled'
                    ? [postgres.value]
                    : []),
                ],
                [1, 2],
              )
            : Promise.reject(sqlite.reason),
        )
      : undefined,
  ]);
  log('vault and deployed servers ready');
  const settings: InterleaveSettings = { ...settingsOf(options), seconds: options.shortDuration };
  return {
    ...(wantVault ? { vault: await runVault(vaultSetup, settings, profiles) } : {}),
    ...(wantCluster
      ? { cluster: await runCluster(clusterSetup, settings, options, postgresOutcome(await clusterSeeds!)) }
      : {}),
  };
}

/** The cluster phase's seeds: SQLite's, and PostgreSQL's where a server answers (else why not). */
interface SeedOutcomes {
  sqlite: PromiseSettledResult<ClusterSeed>;
  postgres: PromiseSettledResult<ClusterSeed> | string;
}

/** Why the deployed phase has no PostgreSQL servers, if it has none. */
function postgresOutcome({ postgres }: SeedOutcomes): string | undefined {
  if (typeof postgres === 'string') return postgres;
  return postgres.status === 'rejected' ? failure(postgres.reason) : undefined;
}

/** Measures (6) on its servers, then stops them, whatever happened. */
async function runVault(
  setup: PromiseSettledResult<VaultSetup | undefined>,
  settings: InterleaveSettings,
  profiles: Profiles,
): Promise<NonNullable<BenchResults['vault']>> {
  if (setup.status === 'rejected' || !setup.value) {
    const outcome = failure(setup.status === 'rejected' ? setup.reason : 'not started');
    log(`vault: ${outcome}`);
    return { outcome };
  }
  try {
    const vault = await measureVault(setup.value, settings, profiles);
    log(
      `vault: token API ${Math.round(vault.token.rps)} req/s; proxy ${Math.round(vault.proxy.rps)} vs direct ` +
        `${Math.round(vault.direct.rps)} req/s (${pairedRatio(vault.proxy, vault.direct).toFixed(2)}×; ` +
        `pass-through ${Math.round(vault.passthrough.rps)}); at ${vault.paced.rate} req/s p50 ` +
        `${vault.paced.proxy.p50.toFixed(2)} vs ${vault.paced.direct.p50.toFixed(2)} ms`,
    );
    return vault;
  } catch (error) {
    log(`vault: ${failure(error)}`);
    return { outcome: failure(error) };
  } finally {
    await setup.value.stop();
  }
}

/** Measures the deployed servers (cluster scenario), then stops them, whatever happened. */
async function runCluster(
  setup: PromiseSettledResult<ClusterSetup | undefined>,
  settings: InterleaveSettings,
  options: BenchOptions,
  postgres: string | undefined,
): Promise<NonNullable<BenchResults['cluster']>> {
  if (setup.status === 'rejected' || !setup.value) {
    const outcome = failure(setup.status === 'rejected' ? setup.reason : 'not started');
    log(`cluster: ${outcome}`);
    return { outcome };
  }
  try {
    // --quick: the scenario the targets are about (client credentials, opaque) alone.
    const ids: readonly string[] = options.quick ? DEPLOYED_SCENARIO_IDS.slice(0, 1) : DEPLOYED_SCENARIO_IDS;
    const scenarios = ids.map((id) => HTTP_SCENARIOS.find((scenario) => scenario.id === id)!);
    const cluster = await measureCluster(
      setup.value,
      scenarios,
      { ...settings, refreshTokens: Math.min(options.connections, options.quick ? 4 : 16) },
      log,
    );
    return { ...cluster, ...(postgres ? { postgresOutcome: postgres } : {}) };
  } catch (error) {
    log(`cluster: ${failure(error)}`);
    return { outcome: failure(error) };
  } finally {
    await setup.value.stop();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), DEFAULT_OUT);
  const profiles = new Profiles(options.profile);
  const postgres =
    options.postgres === 'off' ? 'skipped (--postgres=off)' : await BenchPostgres.connect(options.postgres);
  if (typeof postgres === 'string') log(`PostgreSQL rows: ${postgres}`);
  // The cluster scenario's CLI seeding needs no server: it runs beside the first phase's boot.
  const clusterSeeds: Promise<SeedOutcomes> | undefined = options.scenarios.has('cluster')
    ? Promise.all([
        Promise.allSettled([seedClusterDatabase('sqlite')]),
        typeof postgres === 'string'
          ? postgres
          : Promise.allSettled([seedClusterDatabase('postgres', postgres)]),
      ]).then(([[sqlite], postgresSeed]) => ({
        sqlite: sqlite!,
        postgres: typeof postgresSeed === 'string' ? postgresSeed : postgresSeed[0]!,
      }))
    : undefined;
  try {
    await run(options, profiles, postgres, clusterSeeds);
  } finally {
    // Removed with the deployed servers normally; here when that phase never came.
    const seeds = await clusterSeeds;
    for (const seed of seeds ? [seeds.sqlite, seeds.postgres] : []) {
      if (typeof seed !== 'string' && seed.status === 'fulfilled') await seed.value.remove();
    }
    if (typeof postgres !== 'string') await postgres.dropAll();
  }
}

async function run(
  options: BenchOptions,
  profiles: Profiles,
  postgres: BenchPostgres | string,
  clusterSeeds: Promise<SeedOutcomes> | undefined,
): Promise<void> {
  const comparisons = await runReferenceComparison(options, profiles, clusterSeeds ?? Promise.resolve());
  const browser = await runBrowserFlows(options, profiles);
  const { vault, cluster } = await runVaultAndCluster(options, profiles, clusterSeeds);
  const { growth, seeding } = await runGrowth(options, settingsOf(options), profiles, postgres, log);
  let ceilings: BenchResults['ceilings'];
  if (options.scenarios.has('ceilings')) {
    log('ceilings');
    ceilings = await measureCeilings({ connections: options.connections, seconds: options.duration });
  }
  const markdown = renderResults({
    date: new Date(),
    node: process.versions.node,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    argon2: argon2Build(),
    settings:
      `${options.duration} s per scenario and server` +
      (options.shortDuration !== options.duration ? ` (vault, cluster: ${options.shortDuration} s)` : '') +
      ` after ${options.warmup} s warm-up, ` +
      `${options.connections} connections${options.quick ? ', --quick' : ''}`,
    load: machineLoad,
    comparisons,
    ...(browser ? { browser } : {}),
    ...(vault ? { vault } : {}),
    ...(cluster ? { cluster } : {}),
    postgres: typeof postgres === 'string' ? { outcome: postgres } : { version: postgres.version },
    growthLevels: options.growth,
    growth,
    seeding,
    ...(ceilings ? { ceilings } : {}),
    profiles: profiles.summaries,
  });
  writeFileSync(options.out, markdown);
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${options.out}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
