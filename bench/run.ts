// `npm run bench`: boots Latchkey (embedded store) and the bare oidc-provider reference in child
// processes on 127.0.0.1, runs the issue #6 scenarios against both side by side, then the browser
// flow, the growth rows and the machine's ceilings, and writes the table to bench/results.md.
// Options: ./options.ts (`npm run bench -- --help`).
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { argon2Build } from '../src/authorization/argon2-build.js';
import { measureBrowserFlows, type BrowserFlowResult, type BrowserFlows } from './browser-flow.js';
import { measureCeilings } from './ceilings.js';
import { BenchChild } from './child-process.js';
import {
  measureCluster,
  seedClusterDatabase,
  startClusterServers,
  type ClusterSeed,
  type ClusterSetup,
} from './cluster.js';
import { measureInterleaved, type InterleaveSettings } from './interleave.js';
import { pairedRatio, type LoadRequest } from './load.js';
import { parseOptions, type BenchOptions } from './options.js';
import { Profiles } from './profiles.js';
import { renderResults, type BenchResults, type ComparisonRow, type GrowthRow } from './report.js';
import { checkOnce, GROWTH_SCENARIO_IDS, HTTP_SCENARIOS, type HttpScenario, type Side } from './scenarios.js';
import { mintTokens, prepareTarget, type PreparedTarget } from './targets.js';
import { measureVault, startVaultServers, type VaultSetup } from './vault.js';

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.md', import.meta.url));

const began = performance.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - began) / 1000).toFixed(1)} s] ${message}\n`);

function settingsOf(options: BenchOptions): InterleaveSettings {
  return { connections: options.connections, seconds: options.duration, warmupSeconds: options.warmup };
}

/**
 * Mints the scenario's tokens on every target and checks one request on each: the requests to
 * load them with, or the reason one of them cannot run the scenario.
 */
async function requestsFor(
  scenario: HttpScenario,
  targets: { target: PreparedTarget; side: Side; label: string }[],
  refreshTokens: number,
): Promise<LoadRequest[] | string> {
  const requests: LoadRequest[] = [];
  for (const { target, side, label } of targets) {
    const unavailable = scenario.unavailable?.(target, side);
    if (unavailable) return unavailable;
    const tokens = await mintTokens(target, scenario.needs(side), { refreshTokens });
    const request = scenario.request(target, side, tokens);
    const problem = await checkOnce(target.url, request, scenario.check);
    if (problem) return `error (${label}): ${problem}`;
    requests.push(request);
  }
  return requests;
}

interface Server {
  child: BenchChild;
  target: PreparedTarget;
}

async function startServer(
  spec: Parameters<typeof BenchChild.start>[0],
  probeUsersMe: boolean,
): Promise<Server> {
  const child = await BenchChild.start(spec);
  try {
    return { child, target: await prepareTarget(child.seededFixtures, probeUsersMe) };
  } catch (error) {
    await child.stop();
    throw error;
  }
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
  const flows = await measureBrowserFlows(server.target.endpoints, server.target.fixtures, {
    workers,
    seconds,
    maxFlows: Math.ceil(seconds * 500),
  });
  const cpu = (await server.child.cpuMicros()) - cpuBefore;
  if (flows.flows) flows.cpuPerFlow = cpu / flows.flows;
  await profile?.stop();
  return flows;
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
 * Scenario (6), the vault, and the cluster scenario. Their servers (Latchkey and the upstream;
 * main.js seeded by the CLI, with WORKERS=1 and 2) boot together, before either is measured, so
 * that no boot runs beside a measurement; the cluster's servers sit idle during the vault's, and
 * the vault's are gone before the cluster's are measured.
 */
async function runVaultAndCluster(
  options: BenchOptions,
  profiles: Profiles,
  clusterSeed: Promise<PromiseSettledResult<ClusterSeed>> | undefined,
): Promise<Pick<BenchResults, 'vault' | 'cluster'>> {
  const wantVault = options.scenarios.has('vault');
  const wantCluster = options.scenarios.has('cluster');
  if (!wantVault && !wantCluster) return {};
  log(
    `starting ${[wantVault && 'the vault', wantCluster && 'main.js with WORKERS=1 and 2'].filter(Boolean).join(' and ')}`,
  );
  const [vaultSetup, clusterSetup] = await Promise.allSettled([
    wantVault ? startVaultServers() : undefined,
    wantCluster && clusterSeed
      ? clusterSeed.then((seed) =>
          seed.status === 'fulfilled' ? startClusterServers(seed.value, [1, 2]) : Promise.reject(seed.reason),
        )
      : undefined,
  ]);
  log('vault and cluster servers ready');
  const settings: InterleaveSettings = { ...settingsOf(options), seconds: options.shortDuration };
  return {
    ...(wantVault ? { vault: await runVault(vaultSetup, settings, profiles) } : {}),
    ...(wantCluster ? { cluster: await runCluster(clusterSetup, settings) } : {}),
  };
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

/** Measures the cluster scenario on its servers, then stops them, whatever happened. */
async function runCluster(
  setup: PromiseSettledResult<ClusterSetup | undefined>,
  settings: InterleaveSettings,
): Promise<NonNullable<BenchResults['cluster']>> {
  if (setup.status === 'rejected' || !setup.value) {
    const outcome = failure(setup.status === 'rejected' ? setup.reason : 'not started');
    log(`cluster: ${outcome}`);
    return { outcome };
  }
  try {
    const cluster = await measureCluster(setup.value, settings);
    const [one, two] = cluster.levels;
    log(
      `cluster: ${cluster.levels.map((level) => `WORKERS=${level.workers} ${Math.round(level.measured.rps)} req/s`).join(', ')}` +
        (one && two ? ` (${pairedRatio(two.measured, one.measured).toFixed(2)}×)` : ''),
    );
    return cluster;
  } catch (error) {
    log(`cluster: ${failure(error)}`);
    return { outcome: failure(error) };
  } finally {
    await setup.value.stop();
  }
}

/** Scenario (7): (1), (3) and (4) on Latchkeys holding different numbers of stored tokens. */
async function runGrowth(
  options: BenchOptions,
  profiles: Profiles,
): Promise<Pick<BenchResults, 'growth' | 'seeding'>> {
  if (!options.scenarios.has('growth')) return { growth: { outcome: 'not selected' }, seeding: [] };
  if (options.growth.length < 2) {
    const outcome = options.quick
      ? 'skipped (--quick; pass --growth=1000,100000 to run it)'
      : 'needs two sizes';
    return { growth: { outcome }, seeding: [] };
  }
  log(`growth: seeding ${options.growth.join(', ')} stored tokens and grants`);
  const servers = await Promise.all(
    options.growth.map((rows) => startServer({ kind: 'latchkey', growthRows: rows }, true)),
  );
  try {
    const rows: GrowthRow[] = [];
    for (const id of GROWTH_SCENARIO_IDS) {
      const scenario = HTTP_SCENARIOS.find((candidate) => candidate.id === id)!;
      const row: GrowthRow = { title: scenario.title, levels: [] };
      rows.push(row);
      const requests = await requestsFor(
        scenario,
        servers.map(({ target }, index) => ({
          target,
          side: 'ours',
          label: `${options.growth[index]} stored`,
        })),
        1,
      );
      if (typeof requests === 'string') {
        row.outcome = requests;
        log(`growth ${id}: ${requests}`);
        continue;
      }
      row.levels = await measureInterleaved(
        servers.map(({ child, target }, index) => ({
          url: target.url,
          request: requests[index]!,
          cpuMicros: () => child.cpuMicros(),
          profile: profiles.hook(child, `growth ${id} @${options.growth[index]}`),
        })),
        settingsOf(options),
      );
      row.levels.forEach((level, index) => profiles.count(`growth ${id} @${options.growth[index]}`, level));
      log(`growth ${id}: ${row.levels.map((level) => Math.round(level!.rps)).join(' → ')} req/s`);
    }
    return { growth: rows, seeding: servers.map(({ child }) => child.seeded!) };
  } finally {
    await Promise.all(servers.map(({ child }) => child.stop()));
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), DEFAULT_OUT);
  const profiles = new Profiles(options.profile);
  // The cluster scenario's CLI seeding needs no server: it runs beside the first phase's boot.
  const clusterSeed = options.scenarios.has('cluster')
    ? Promise.allSettled([seedClusterDatabase()]).then(([outcome]) => outcome!)
    : undefined;
  try {
    await run(options, profiles, clusterSeed);
  } finally {
    // Removed with the cluster's servers normally; here when that phase never came.
    const seed = await clusterSeed;
    if (seed?.status === 'fulfilled') seed.value.remove();
  }
}

async function run(
  options: BenchOptions,
  profiles: Profiles,
  clusterSeed: Promise<PromiseSettledResult<ClusterSeed>> | undefined,
): Promise<void> {
  const comparisons = await runReferenceComparison(options, profiles, clusterSeed ?? Promise.resolve());
  const browser = await runBrowserFlows(options, profiles);
  const { vault, cluster } = await runVaultAndCluster(options, profiles, clusterSeed);
  const { growth, seeding } = await runGrowth(options, profiles);
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
    comparisons,
    ...(browser ? { browser } : {}),
    ...(vault ? { vault } : {}),
    ...(cluster ? { cluster } : {}),
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
