// Latchkey as deployed (`node dist/src/main.js`, not the bench's in-process boot), seeded with the
// admin CLI's commands as an operator would type them, on each store (SQLite, and PostgreSQL where a server answers),
// with WORKERS=1 (one process) and WORKERS=2 (node:cluster: a primary and two workers sharing the
// port and the database). Each scenario loads the four servers in turn, side by side: PostgreSQL
// against SQLite on one process, and two processes against one on each store.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough, Readable } from 'node:stream';
import { BenchChild } from './child-process.js';
import {
  API_SCOPE,
  API_TTL_SECONDS,
  BENCH_CALLBACK,
  BENCH_EMAIL,
  BENCH_PASSWORD,
  benchApis,
  type BenchFixtures,
} from './fixtures.js';
import { measureInterleaved, type InterleaveSettings } from './interleave.js';
import { runLoad, type Measurement } from './load.js';
import type { BenchPostgres } from './postgres.js';
import { requestsFor, type HttpScenario } from './scenarios.js';
import { prepareTarget, type PreparedTarget } from './targets.js';
import { runCli } from '../src/cli/main.js';
import { serverEnvironment, withServerNodeOptions } from '../src/http/memory-settings.js';

const MAIN_SCRIPT = fileURLToPath(new URL('../src/main.js', import.meta.url));
const PROBE = new URL('./cluster-probe.js', import.meta.url).href;
/** Seconds of unmeasured load per worker before each scenario's measurement. */
const MIN_WARMUP_PER_WORKER = 0.5;
const MIN_PAIRS = 4;

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_NAMES: Record<StoreKind, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

export interface ClusterServer {
  store: StoreKind;
  workers: number;
  child: BenchChild;
  target: PreparedTarget;
}

export interface ClusterSetup {
  /** In the order they are loaded: SQLite ×2, SQLite ×1, PostgreSQL ×1, PostgreSQL ×2. */
  servers: ClusterServer[];
  /** Stops the servers, then removes their databases and the seeds. */
  stop(): Promise<void>;
}

/** One scenario on every deployed server. */
export interface DeployedScenario {
  id: string;
  group: number;
  title: string;
  /** Set when the scenario did not run (its tokens could not be minted, or a check failed). */
  outcome?: string;
  servers: { store: StoreKind; workers: number; measured: Measurement }[];
}

export interface ClusterResult {
  scenarios: DeployedScenario[];
  /** Why there are no PostgreSQL servers, when there are none. */
  postgresOutcome?: string;
}

/**
 * One admin CLI command line, run by the CLI's own entry function in this process (as the test
 * suites run it): the same parsing, services and store as `latchkey …`, without a process start
 * for each of the few dozen commands. Resolves with its standard output.
 */
async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const output: Buffer[] = [];
  const errors: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => output.push(chunk));
  stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const status = await runCli(args, {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: { ...process.env, ...env },
  });
  if (status !== 0) {
    throw new Error(
      `latchkey ${args.slice(0, 2).join(' ')} exited ${status}: ${Buffer.concat(errors).toString().trim()}`,
    );
  }
  return Buffer.concat(output).toString();
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The bench's clients as the CLI registered them (the rest of BenchFixtures is per server). */
type SeededClients = Pick<BenchFixtures, 'web' | 'service'>;

export interface ClusterSeed {
  store: StoreKind;
  /** What every process gets besides its own DATABASE_URL, PORT and WORKERS. */
  env: Record<string, string>;
  clients: SeededClients;
  /** A database of its own for one server, made from the seeded one (a copy): its DATABASE_URL. */
  databaseFor(name: string): Promise<string>;
  /** Removes the seed and every database made from it (after their servers have stopped). */
  remove(): Promise<void>;
}

/**
 * Registers the bench's APIs, user and clients with the admin CLI, as an operator would: boot-time
 * work that needs no server, so the runner starts it early, beside an earlier phase's boot.
 */
async function seedWithCli(env: Record<string, string>): Promise<SeededClients> {
  const apis = benchApis('');
  const json = <T>(stdout: string) => JSON.parse(stdout) as T;
  const apiArgs = (identifier: string, format: 'opaque' | 'jwt') => [
    'apis',
    'add',
    '--identifier',
    identifier,
    '--scope',
    API_SCOPE,
    '--format',
    format,
    '--ttl',
    String(API_TTL_SECONDS),
    ...(format === 'jwt' ? ['--alg', 'RS256'] : []),
    '--json',
  ];
  // The first command migrates the new database; the others then run side by side.
  await cli(apiArgs(apis.opaque, 'opaque'), env);
  type Client = { client_id: string; client_secret: string };
  const [, , web, service] = await Promise.all([
    cli(apiArgs(apis.rs256, 'jwt'), env),
    cli(
      [
        'users',
        'add',
        '--email',
        BENCH_EMAIL,
        '--name',
        'Bench User',
        '--password',
        BENCH_PASSWORD,
        '--json',
      ],
      env,
    ),
    cli(
      [
        'clients',
        'add',
        '--name',
        'Bench Web App',
        '--redirect-uri',
        BENCH_CALLBACK,
        '--grant-types',
        'authorization_code,refresh_token',
        '--json',
      ],
      env,
    ).then(json<Client>),
    cli(
      [
        'clients',
        'add',
        '--name',
        'Bench Service',
        '--grant-types',
        'client_credentials',
        // It introspects its own opaque tokens (scenario 3).
        '--resource-server',
        apis.opaque,
        '--json',
      ],
      env,
    ).then(json<Client>),
  ]);
  // A client gets tokens for an API only through an admin's grant.
  await Promise.all(
    [apis.opaque, apis.rs256].map((api) =>
      cli(['clients', 'grant', service.client_id, '--api', api, '--scope', API_SCOPE, '--json'], env),
    ),
  );
  return {
    web: { clientId: web.client_id, clientSecret: web.client_secret, redirectUri: BENCH_CALLBACK },
    service: { clientId: service.client_id, clientSecret: service.client_secret },
  };
}

/** Seeds a store for the deployed servers: a SQLite file, or a PostgreSQL database of the run. */
export async function seedClusterDatabase(store: StoreKind, postgres?: BenchPostgres): Promise<ClusterSeed> {
  const env = {
    LATCHKEY_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    NODE_ENV: 'production',
  };
  if (store === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-cluster-'));
    const remove = async () => rmSync(dir, { recursive: true, force: true });
    try {
      const seeded = join(dir, 'seed');
      mkdirSync(seeded);
      const clients = await seedWithCli({ ...env, DATABASE_URL: `sqlite:${join(seeded, 'latchkey.db')}` });
      return {
        store,
        env,
        clients,
        async databaseFor(name) {
          const own = join(dir, name);
          cpSync(seeded, own, { recursive: true });
          return `sqlite:${join(own, 'latchkey.db')}`;
        },
        remove,
      };
    } catch (error) {
      await remove();
      throw error;
    }
  }
  if (!postgres) throw new TypeError('seeding PostgreSQL needs a server');
  const made: string[] = ['cluster_seed'];
  const remove = async () => {
    for (const name of made.splice(0)) await postgres.drop(name);
  };
  try {
    const clients = await seedWithCli({ ...env, DATABASE_URL: await postgres.create('cluster_seed') });
    return {
      store,
      env,
      clients,
      // CREATE DATABASE … TEMPLATE: a copy of the seeded database, as cpSync is for SQLite.
      async databaseFor(name) {
        made.push(`cluster_${name}`);
        return postgres.create(`cluster_${name}`, 'cluster_seed');
      },
      remove,
    };
  } catch (error) {
    await remove();
    throw error;
  }
}

/**
 * Starts `node dist/src/main.js` with each worker count on a copy of each seed; resolves once every
 * worker of every server listens. Stopping the setup removes the seeds too.
 */
export async function startClusterServers(
  seeds: ClusterSeed[],
  workerCounts: number[],
): Promise<ClusterSetup> {
  const servers: ClusterServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map(({ child }) => child.stop()));
    for (const seed of seeds) await seed.remove();
  };
  try {
    const planned = seeds.flatMap((seed) => workerCounts.map((workers) => ({ seed, workers })));
    const started = await Promise.allSettled(
      planned.map(async ({ seed, workers }) => {
        const databaseUrl = await seed.databaseFor(`workers_${workers}`);
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const child = await BenchChild.fork(MAIN_SCRIPT, [], {
          // As the Docker image runs it: with the server's node options and environment (memory settings).
          execArgv: withServerNodeOptions(['--import', PROBE]),
          env: {
            ...serverEnvironment(process.env),
            ...seed.env,
            DATABASE_URL: databaseUrl,
            PORT: String(port),
            HOST: '127.0.0.1',
            ISSUER: url,
            WORKERS: String(workers),
          },
        });
        try {
          const fixtures: BenchFixtures = {
            url,
            email: BENCH_EMAIL,
            password: BENCH_PASSWORD,
            ...seed.clients,
            apis: benchApis(url),
          };
          return { store: seed.store, workers, child, target: await prepareTarget(fixtures, true) };
        } catch (error) {
          await child.stop();
          throw error;
        }
      }),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') servers.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await stop();
    throw error;
  }
  // The load order: each comparison's two servers are neighbours (see ClusterSetup.servers).
  const rank = (server: ClusterServer) => (server.store === 'sqlite' ? -server.workers : 10 + server.workers);
  servers.sort((a, b) => rank(a) - rank(b));
  return { servers, stop };
}

/** Loads every server of the setup in turn with each scenario's requests. */
export async function measureCluster(
  setup: ClusterSetup,
  scenarios: readonly HttpScenario[],
  settings: InterleaveSettings & { refreshTokens: number },
  log: (message: string) => void,
): Promise<ClusterResult> {
  const result: ClusterResult = { scenarios: [] };
  for (const scenario of scenarios) {
    const row: DeployedScenario = {
      id: scenario.id,
      group: scenario.group,
      title: scenario.title,
      servers: [],
    };
    result.scenarios.push(row);
    const requests = await requestsFor(
      scenario,
      setup.servers.map((server) => ({
        target: server.target,
        side: 'ours',
        label: `${STORE_NAMES[server.store]} WORKERS=${server.workers}`,
      })),
      settings.refreshTokens,
    );
    if (typeof requests === 'string') {
      row.outcome = requests;
      log(`deployed ${scenario.id}: ${requests}`);
      continue;
    }
    // Every worker needs its own JIT warm-up: warm each server alone, for longer the more workers
    // it has (a closed loop spreads its requests over them), so that WORKERS=2 is not measured colder.
    for (const [index, server] of setup.servers.entries()) {
      await runLoad(server.target.url, requests[index]!, {
        connections: settings.connections,
        seconds: Math.max(settings.warmupSeconds, MIN_WARMUP_PER_WORKER) * server.workers,
      });
    }
    const measured = await measureInterleaved(
      setup.servers.map((server, index) => ({
        url: server.target.url,
        request: requests[index]!,
        cpuMicros: () => server.child.cpuMicros(),
        memory: () => server.child.memory(),
      })),
      // At least four pairs of slices, even in a one-second run: the ratio is a median over them.
      { ...settings, warmupSeconds: 0, sliceSeconds: Math.min(0.5, settings.seconds / MIN_PAIRS) },
    );
    row.servers = setup.servers.map((server, index) => ({
      store: server.store,
      workers: server.workers,
      measured: measured[index]!,
    }));
    log(
      `deployed ${scenario.id}: ` +
        row.servers
          .map(
            ({ store, workers, measured: figures }) =>
              `${STORE_NAMES[store]} ×${workers} ${Math.round(figures.rps)} req/s` +
              (figures.rss ? ` (${Math.round(figures.rss.median / 2 ** 20)} MB)` : ''),
          )
          .join(', '),
    );
  }
  return result;
}
