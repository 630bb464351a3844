// The cluster scenario: Latchkey as deployed (`node dist/src/main.js`, not the bench's in-process
// boot), seeded with the admin CLI, once with WORKERS=1 (one process) and once with WORKERS=2
// (node:cluster: a primary and two workers sharing the port and the SQLite file), loaded in turn
// with client_credentials for an opaque token (scenario 1's request), side by side.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BenchChild } from './child-process.js';
import { basicAuthorization, discover, FORM } from './http-client.js';
import { measureInterleaved, type InterleaveSettings } from './interleave.js';
import { runLoad, type LoadRequest, type Measurement } from './load.js';
import { checkOnce } from './scenarios.js';

const MAIN_SCRIPT = fileURLToPath(new URL('../src/main.js', import.meta.url));
const CLI_SCRIPT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PROBE = new URL('./cluster-probe.js', import.meta.url).href;
const OPAQUE_API = 'https://opaque.bench';
const CLI_TIMEOUT_MS = 60_000;
/** Seconds of unmeasured load per worker before the measurement. */
const MIN_WARMUP_PER_WORKER = 0.5;
const MIN_PAIRS = 4;

export interface ClusterServer {
  workers: number;
  child: BenchChild;
  url: string;
}

export interface ClusterSetup {
  servers: ClusterServer[];
  request: LoadRequest;
  /** Removes the databases (after the servers have stopped). */
  stop(): Promise<void>;
}

export interface ClusterResult {
  /** One per worker count, in the order asked for. */
  levels: { workers: number; measured: Measurement }[];
}

const exec = promisify(execFile);

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await exec(process.execPath, [CLI_SCRIPT, ...args], {
    env: { ...process.env, ...env },
    timeout: CLI_TIMEOUT_MS,
  });
  return stdout;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ClusterSeed {
  /** Everything lives under it: the seeded database, then one copy per server. */
  dir: string;
  /** The seeded database's directory. */
  seeded: string;
  /** What every process gets besides its own DATABASE_URL, PORT and WORKERS. */
  env: Record<string, string>;
  client: { client_id: string; client_secret: string };
  remove(): void;
}

/**
 * Seeds a database with the admin CLI, as an operator would: a client_credentials client and an
 * opaque API. Boot-time work of the cluster scenario that needs no server, so the runner starts it
 * early, beside an earlier phase's boot.
 */
export async function seedClusterDatabase(): Promise<ClusterSeed> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-cluster-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const env = {
    LATCHKEY_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    NODE_ENV: 'production',
  };
  try {
    const seeded = join(dir, 'seed');
    mkdirSync(seeded);
    const seedEnv = { ...env, DATABASE_URL: `sqlite:${join(seeded, 'latchkey.db')}` };
    const client = JSON.parse(
      await cli(
        ['clients', 'add', '--name', 'bench', '--grant-types', 'client_credentials', '--json'],
        seedEnv,
      ),
    ) as { client_id: string; client_secret: string };
    await cli(
      ['apis', 'add', '--identifier', OPAQUE_API, '--scope', 'read', '--format', 'opaque', '--json'],
      seedEnv,
    );
    return { dir, seeded, env, client, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

/**
 * Copies the seeded database for each worker count and starts `node dist/src/main.js` on each copy;
 * resolves once every worker of every server listens. Stopping the setup removes the seed too.
 */
export async function startClusterServers(seed: ClusterSeed, workerCounts: number[]): Promise<ClusterSetup> {
  const servers: ClusterServer[] = [];
  let tokenPath: string;
  try {
    const started = await Promise.allSettled(
      workerCounts.map(async (workers) => {
        const own = join(seed.dir, `workers-${workers}`);
        cpSync(seed.seeded, own, { recursive: true });
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const child = await BenchChild.fork(MAIN_SCRIPT, [], {
          execArgv: ['--import', PROBE],
          env: {
            ...seed.env,
            DATABASE_URL: `sqlite:${join(own, 'latchkey.db')}`,
            PORT: String(port),
            HOST: '127.0.0.1',
            ISSUER: url,
            WORKERS: String(workers),
          },
        });
        return { workers, child, url };
      }),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') servers.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    tokenPath = new URL((await discover(servers[0]!.url)).token).pathname;
  } catch (error) {
    await Promise.all(servers.map(({ child }) => child.stop()));
    seed.remove();
    throw error;
  }
  const request: LoadRequest = {
    method: 'POST',
    path: tokenPath,
    headers: {
      authorization: basicAuthorization(seed.client.client_id, seed.client.client_secret),
      'content-type': FORM,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      resource: OPAQUE_API,
      scope: 'read',
    }).toString(),
  };
  return {
    servers,
    request,
    async stop() {
      await Promise.all(servers.map(({ child }) => child.stop()));
      seed.remove();
    },
  };
}

/** Loads every server of the setup in turn with the same client_credentials request. */
export async function measureCluster(
  setup: ClusterSetup,
  settings: InterleaveSettings,
): Promise<ClusterResult> {
  for (const server of setup.servers) {
    const problem = await checkOnce(server.url, setup.request, (response) => {
      const token = (JSON.parse(response.text) as { access_token?: string }).access_token ?? '';
      return token && !token.includes('.') ? undefined : `expected an opaque token: ${response.text}`;
    });
    if (problem) throw new Error(`WORKERS=${server.workers}: ${problem}`);
  }
  // Every worker needs its own JIT warm-up: warm each server alone, for longer the more workers
  // it has (a closed loop spreads its requests over them), so that WORKERS=2 is not measured colder.
  for (const server of setup.servers) {
    await runLoad(server.url, setup.request, {
      connections: settings.connections,
      seconds: Math.max(settings.warmupSeconds, MIN_WARMUP_PER_WORKER) * server.workers,
    });
  }
  const measured = await measureInterleaved(
    setup.servers.map((server) => ({
      url: server.url,
      request: setup.request,
      cpuMicros: () => server.child.cpuMicros(),
    })),
    // At least four pairs of slices, even in a one-second run: the ratio is a median over them.
    { ...settings, warmupSeconds: 0, sliceSeconds: Math.min(0.5, settings.seconds / MIN_PAIRS) },
  );
  return {
    levels: setup.servers.map((server, index) => ({ workers: server.workers, measured: measured[index]! })),
  };
}
