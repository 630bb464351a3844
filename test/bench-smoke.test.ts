// Smoke test of the benchmark's pieces (bench/): a seeded Latchkey and the reference boot, a browser
// flow goes through, a one-second load of one scenario gets only 2xx answers, the vault scenario
// connects its end user and gets answers from the token API and the proxy, and a Latchkey on the
// PostgreSQL store is seeded with growth rows and answers the same load (skipped, with the reason,
// where no PostgreSQL server answers). The benchmark itself (`npm run bench`) is not part of npm test.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startLatchkeyBench, type LatchkeyBenchServer } from '../bench/latchkey-server.js';
import { runLoad, runPaced } from '../bench/load.js';
import { startReferenceBench, type ReferenceBenchServer } from '../bench/reference-server.js';
import { checkOnce, HTTP_SCENARIOS } from '../bench/scenarios.js';
import { mintTokens, prepareTarget } from '../bench/targets.js';
import { startUpstreamBench, UPSTREAM_SLOW_MS } from '../bench/upstream-server.js';
import { connectVault, expectHello, expectToken } from '../bench/vault.js';
import { SERVER_ENVIRONMENT, SERVER_NODE_OPTIONS } from '../src/http/memory-settings.js';
import { postgresSkipReason, TestDatabases } from './support/postgres.js';

let latchkey: LatchkeyBenchServer;
let reference: ReferenceBenchServer;
beforeAll(async () => {
  [latchkey, reference] = await Promise.all([startLatchkeyBench({ growthRows: 100 }), startReferenceBench()]);
});
afterAll(async () => {
  await Promise.all([latchkey?.close(), reference?.close()]);
});

const scenario = (id: string) => HTTP_SCENARIOS.find((candidate) => candidate.id === id)!;

test('a Latchkey seeded with growth rows answers a client_credentials load with 2xx only', async () => {
  expect(latchkey.seeded.rows).toBe(100);
  expect(await latchkey.latchkey.store.oidc.count('Grant')).toBeGreaterThanOrEqual(25);
  const target = await prepareTarget(latchkey.fixtures, false);
  const clientCredentials = scenario('cc-opaque');
  const request = clientCredentials.request(target, 'ours', {});
  expect(await checkOnce(target.url, request, clientCredentials.check)).toBeUndefined();

  const run = await runLoad(target.url, request, { connections: 2, seconds: 1 });

  expect(run.ok).toBeGreaterThan(0);
  expect(run.non2xx).toBe(0);
  expect(run.errors).toBe(0);
});

test('the browser flow signs in and the minted tokens work on both servers', async () => {
  for (const [server, side] of [
    [latchkey, 'ours'],
    [reference, 'reference'],
  ] as const) {
    const target = await prepareTarget(server.fixtures, false);
    const refresh = scenario('refresh');
    const tokens = await mintTokens(target, refresh.needs(side), { refreshTokens: 1 });
    expect(tokens.refreshTokens).toHaveLength(1);
    expect(await checkOnce(target.url, refresh.request(target, side, tokens), refresh.check)).toBeUndefined();
  }
});

test('an ES256 API gets ES256 JWT access tokens on both servers', async () => {
  const es256 = scenario('cc-es256');
  for (const [server, side] of [
    [latchkey, 'ours'],
    [reference, 'reference'],
  ] as const) {
    const target = await prepareTarget(server.fixtures, false);
    expect(await checkOnce(target.url, es256.request(target, side, {}), es256.check)).toBeUndefined();
  }
});

test('the vault scenario connects its end user over HTTP; the token API and the proxy answer', async () => {
  const upstream = await startUpstreamBench();
  try {
    const vault = await connectVault(latchkey, upstream.url);
    const token = (response: { text: string }) => expectToken(response.text);
    const hello = (response: { text: string }) => expectHello(response.text);
    expect(await checkOnce(latchkey.url, vault.tokenRequest, token)).toBeUndefined();
    expect(await checkOnce(latchkey.url, vault.proxyRequest, hello)).toBeUndefined();
    expect(await checkOnce(upstream.url, vault.directRequest, hello)).toBeUndefined();
    // The APIs that take their time, fixed and varied, through the proxy and directly.
    for (const requests of [vault.slow, vault.varied]) {
      const started = performance.now();
      expect(await checkOnce(latchkey.url, requests.proxy, hello)).toBeUndefined();
      expect(await checkOnce(upstream.url, requests.direct, hello)).toBeUndefined();
      // Two calls, each at least half of UPSTREAM_SLOW_MS (the varied API's shortest delay).
      expect(performance.now() - started).toBeGreaterThanOrEqual(UPSTREAM_SLOW_MS);
    }

    const paced = await runPaced(latchkey.url, vault.proxyRequest, { rate: 100, seconds: 0.3 });
    expect(paced.ok).toBeGreaterThanOrEqual(25);
    expect(paced.non2xx + paced.errors).toBe(0);
  } finally {
    await upstream.close();
  }
});

test('npm start and the Dockerfile start the server with the memory settings the bench gives its servers', () => {
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts
    .start;
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const command = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  for (const option of SERVER_NODE_OPTIONS) {
    expect(start.split(' ')).toContain(option);
    expect(command).toContain(option);
  }
  // The environment is the image's (npm start stays portable: cmd.exe has no VAR=value prefix).
  for (const [name, value] of Object.entries(SERVER_ENVIRONMENT)) {
    expect(dockerfile).toMatch(new RegExp(`^ENV ${name}=${value}$`, 'm'));
  }
});

const postgresSkip = await postgresSkipReason();
if (postgresSkip !== undefined) console.warn(`bench smoke test on PostgreSQL skipped: ${postgresSkip}`);

(postgresSkip === undefined ? describe : describe.skip)(
  `the bench on the PostgreSQL store${postgresSkip === undefined ? '' : ` — skipped: ${postgresSkip}`}`,
  () => {
    const databases = new TestDatabases();
    let onPostgres: LatchkeyBenchServer | undefined;
    afterAll(async () => {
      await onPostgres?.close();
      await databases.dropAll();
    });

    test('a Latchkey on PostgreSQL is seeded in bulk and answers a client_credentials load with 2xx only', async () => {
      onPostgres = await startLatchkeyBench({ growthRows: 100, postgresUrl: await databases.create() });
      expect(onPostgres.seeded.rows).toBe(100);
      expect(onPostgres.latchkey.store.kind).toBe('postgres');
      expect(await onPostgres.latchkey.store.oidc.count('Grant')).toBeGreaterThanOrEqual(25);
      const target = await prepareTarget(onPostgres.fixtures, true);
      for (const id of ['cc-opaque', 'introspect', 'me-opaque']) {
        const chosen = scenario(id);
        const tokens = await mintTokens(target, chosen.needs('ours'), { refreshTokens: 1 });
        expect(
          await checkOnce(target.url, chosen.request(target, 'ours', tokens), chosen.check),
        ).toBeUndefined();
      }
      const run = await runLoad(target.url, scenario('cc-opaque').request(target, 'ours', {}), {
        connections: 2,
        seconds: 1,
      });
      expect(run.ok).toBeGreaterThan(0);
      expect(run.non2xx + run.errors).toBe(0);
    });
  },
);
