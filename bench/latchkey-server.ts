// Boots Latchkey the way test/support/latchkey.ts does (embedded SQLite store in a fresh directory,
// or a PostgreSQL database the runner made; 127.0.0.1, random port), seeds the bench clients, user
// and APIs, and optionally inserts many stored tokens and grants before it starts answering (the
// growth scenarios).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../src/config/index.js';
import { createLatchkey, type Latchkey } from '../src/http/app.js';
import { loadKeyring, openStore } from '../src/store/index.js';
import {
  API_SCOPE,
  API_TTL_SECONDS,
  BENCH_CALLBACK,
  BENCH_EMAIL,
  BENCH_PASSWORD,
  USERS_API_SCOPE,
  benchApis,
  type BenchFixtures,
} from './fixtures.js';
import type { GrowthSeederSpec } from './growth-seeder.js';
import { closeServer, listenOnLoopback } from './loopback.js';

// From dist/ the seeder is JavaScript; from the sources (jest runs the bench smoke test on them) it
// is TypeScript, which the child runs with the test suite's loader, as test/support/latchkey.ts does.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const SEEDER_SCRIPT = fileURLToPath(
  new URL(`./growth-seeder.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url),
);
const SEEDER_EXEC_ARGV = FROM_SOURCES
  ? [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      new URL('../test/support/ts-resolve.mjs', import.meta.url).href,
    ]
  : process.execArgv;

export interface LatchkeyBenchServer {
  url: string;
  fixtures: BenchFixtures;
  latchkey: Latchkey;
  seeded: { rows: number; ms: number };
  close(): Promise<void>;
}

export async function startLatchkeyBench(
  options: { growthRows?: number; /** serve from this PostgreSQL database */ postgresUrl?: string } = {},
): Promise<LatchkeyBenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'));
  const databasePath = join(dir, 'latchkey.db');
  const server = createServer();
  const url = await listenOnLoopback(server);
  const databaseUrl = options.postgresUrl ?? `sqlite:${databasePath}`;
  // The PostgreSQL store has no key file beside it: its key comes from the environment.
  const masterKey = options.postgresUrl ? randomBytes(32).toString('base64') : undefined;
  const config = loadConfig({
    PORT: new URL(url).port,
    HOST: '127.0.0.1',
    ISSUER: url,
    DATABASE_URL: databaseUrl,
    ...(masterKey ? { LATCHKEY_MASTER_KEY: masterKey } : {}),
    LOG_LEVEL: 'silent',
    // The bench's upstream provider and API listen on loopback.
    OUTBOUND_ALLOW_PRIVATE: 'true',
  });
  const keyring = loadKeyring(config);
  const store = await openStore(config, { backgroundCheckpoints: true });
  const latchkey = await createLatchkey(config, store, keyring, {
    logger: pino({ level: 'silent' }),
    keyReloadIntervalMs: 0,
    // Every bench login is the same user from the same address: throttling would stop the flow loop.
    throttle: { perSource: 1e9, perAccount: 1e9, perAddress: 1e9 },
  });
  const fixtures = await seedFixtures(latchkey, url);

  const started = performance.now();
  const rows = options.growthRows
    ? await runGrowthSeeder({
        databaseUrl,
        ...(masterKey ? { masterKey } : {}),
        rows: options.growthRows,
        clientId: fixtures.web.clientId,
      })
    : 0;
  const seeded = { rows, ms: Math.round(performance.now() - started) };

  server.on('request', latchkey.app.callback());
  return {
    url,
    fixtures,
    latchkey,
    seeded,
    async close() {
      await closeServer(server);
      await latchkey.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Seeds the growth rows in a process of its own (./growth-seeder.ts); resolves with the rows written. */
function runGrowthSeeder(spec: GrowthSeederSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    const seeder = fork(SEEDER_SCRIPT, [JSON.stringify(spec)], {
      execArgv: SEEDER_EXEC_ARGV,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let rows: number | undefined;
    seeder.on('message', (message: { rows?: number }) => (rows = message.rows));
    seeder.on('error', reject);
    seeder.on('exit', (code) =>
      rows !== undefined && code === 0
        ? resolve(rows)
        : reject(new Error(`the growth seeder exited with code ${code} before it was done`)),
    );
  });
}

async function seedFixtures(latchkey: Latchkey, url: string): Promise<BenchFixtures> {
  const { accounts, clients, grants } = latchkey.services;
  const apis = benchApis(url);
  await accounts.create({
    email: BENCH_EMAIL,
    name: 'Bench User',
    password: BENCH_PASSWORD,
    emailVerified: true,
  });
  const web = await clients.add({
    name: 'Bench Web App',
    redirectUris: [BENCH_CALLBACK],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const service = await clients.add({
    name: 'Bench Service',
    grantTypes: ['client_credentials'],
    resourceServers: [apis.opaque, apis.rs256, apis.es256],
  });
  const vaultApp = await clients.add({ name: 'Bench Vault App', grantTypes: ['client_credentials'] });
  const api = (identifier: string, scope: string, format: 'jwt' | 'opaque', signingAlg?: 'RS256' | 'ES256') =>
    latchkey.services.apis.add({ identifier, scope, format, signingAlg, ttl: API_TTL_SECONDS });
  await api(apis.opaque, API_SCOPE, 'opaque');
  await api(apis.rs256, API_SCOPE, 'jwt', 'RS256');
  await api(apis.es256, API_SCOPE, 'jwt', 'ES256');
  // Latchkey registers its own /v1 API at start-up (src/resource/v1-api.ts); older builds did not.
  if (!(await latchkey.services.apis.get(apis.users))) await api(apis.users, USERS_API_SCOPE, 'jwt');
  // Client grants: each bench client may use exactly the APIs its scenarios call.
  if (grants) {
    for (const identifier of [apis.opaque, apis.rs256, apis.es256]) {
      await grants.grant(service.client_id, identifier, API_SCOPE);
      await grants.grant(web.client_id, identifier, API_SCOPE);
    }
    await grants.grant(
      vaultApp.client_id,
      `${url.replace(/\/$/, '')}/vault`,
      'vault:connect vault:tokens vault:proxy vault:admin',
    );
  }
  return {
    url,
    email: BENCH_EMAIL,
    password: BENCH_PASSWORD,
    web: { clientId: web.client_id, clientSecret: web.client_secret!, redirectUri: BENCH_CALLBACK },
    service: { clientId: service.client_id, clientSecret: service.client_secret! },
    vaultApp: { clientId: vaultApp.client_id, clientSecret: vaultApp.client_secret! },
    apis,
  };
}
