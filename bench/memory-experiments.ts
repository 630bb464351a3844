// `node dist/bench/memory-experiments.js [--scenario=ID] [--seconds=N] [--only=I,J,…]`: the memory experiments of
// bench/README.md ("Memory"), again. One `node dist/src/main.js` (WORKERS=1, SQLite, seeded by the
// admin CLI) per configuration of node options and environment, all loaded in turn with one
// scenario: each one's RSS at steady load, its throughput against the first (Node's defaults) and
// its CPU per request, split by thread (Linux: /proc/PID/task): the main thread, V8's helper threads
// (parallel and concurrent garbage collection, compilation) and the rest. Not part of `npm run bench`: it answers "what does each setting buy, at what
// cost" when the settings of src/http/memory-settings.ts are to be chosen again.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchChild } from './child-process.js';
import { seedClusterDatabase } from './cluster.js';
import { BENCH_EMAIL, BENCH_PASSWORD, benchApis } from './fixtures.js';
import { measureInterleaved } from './interleave.js';
import { pairedRatio } from './load.js';
import { HTTP_SCENARIOS, requestsFor } from './scenarios.js';
import { prepareTarget } from './targets.js';

const MAIN_SCRIPT = fileURLToPath(new URL('../src/main.js', import.meta.url));
const PROBE = new URL('./cluster-probe.js', import.meta.url).href;
/**
 * Preloaded where a configuration sets the old generation's growth itself (on the command line) or
 * leaves it to V8: the server's own setting is then skipped (see that file).
 */
const V8_GROWTH = new URL('./memory-experiments-v8-growth.js', import.meta.url).href;

interface Configuration {
  name: string;
  nodeOptions: string[];
  env?: Record<string, string>;
}

const CONFIGURATIONS: Configuration[] = [
  { name: "Node's defaults", nodeOptions: ['--import', V8_GROWTH] },
  { name: 'growth 100% only', nodeOptions: ['--heap-growing-percent=100', '--import', V8_GROWTH] },
  { name: 'semi-space 16 MB only', nodeOptions: ['--max-semi-space-size=16', '--import', V8_GROWTH] },
  {
    name: 'semi-space 16 MB + growth 50%',
    nodeOptions: ['--max-semi-space-size=16', '--heap-growing-percent=50', '--import', V8_GROWTH],
  },
  {
    name: 'semi-space 16 MB + growth 100%',
    nodeOptions: ['--max-semi-space-size=16', '--heap-growing-percent=100', '--import', V8_GROWTH],
  },
  {
    name: 'semi-space 32 MB + growth 100% + MALLOC_ARENA_MAX=2',
    nodeOptions: ['--max-semi-space-size=32', '--heap-growing-percent=100', '--import', V8_GROWTH],
    env: { MALLOC_ARENA_MAX: '2' },
  },
  {
    name: 'semi-space 16 MB + growth 100% + MALLOC_ARENA_MAX=2 (src/http/memory-settings.ts)',
    nodeOptions: ['--max-semi-space-size=16'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
];

/** CPU time (clock ticks) of each of a process's threads, grouped: its main thread, V8's helpers, the rest. */
function threadTicks(pid: number): { main: number; v8: number; other: number } {
  const ticks = { main: 0, v8: 0, other: 0 };
  for (const thread of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${thread}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the name: state is the 1st, utime the 12th, stime the 13th (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const used = Number(fields[11]) + Number(fields[12]);
    if (thread === String(pid)) ticks.main += used;
    else if (name.startsWith('V8')) ticks.v8 += used;
    else ticks.other += used;
  }
  return ticks;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'cc-opaque' },
      seconds: { type: 'string', default: '20' },
      // Indexes into CONFIGURATIONS, in the order to load them (the first is the ratios' base):
      // a pair run both ways round tells a setting's cost apart from the load order's.
      only: { type: 'string' },
    },
  });
  const chosen = values.only
    ? values.only.split(',').map((index) => {
        const configuration = CONFIGURATIONS[Number(index)];
        if (!configuration) throw new TypeError(`--only: no configuration ${index}`);
        return configuration;
      })
    : CONFIGURATIONS;
  const scenario = HTTP_SCENARIOS.find((candidate) => candidate.id === values.scenario);
  if (!scenario) throw new TypeError(`--scenario: unknown scenario ${values.scenario}`);
  const seed = await seedClusterDatabase('sqlite');
  const servers: {
    configuration: Configuration;
    child: BenchChild;
    target: Awaited<ReturnType<typeof prepareTarget>>;
  }[] = [];
  try {
    for (const [index, configuration] of chosen.entries()) {
      const url = `http://127.0.0.1:${await freePort()}`;
      const child = await BenchChild.fork(MAIN_SCRIPT, [], {
        execArgv: ['--import', PROBE, ...configuration.nodeOptions],
        env: {
          // No setting of the machine's own: each configuration says what it runs with.
          MALLOC_ARENA_MAX: '',
          ...seed.env,
          ...configuration.env,
          DATABASE_URL: await seed.databaseFor(`experiment_${index}`),
          PORT: new URL(url).port,
          HOST: '127.0.0.1',
          ISSUER: url,
          WORKERS: '1',
        },
      });
      const fixtures = {
        url,
        email: BENCH_EMAIL,
        password: BENCH_PASSWORD,
        ...seed.clients,
        apis: benchApis(url),
      };
      servers.push({ configuration, child, target: await prepareTarget(fixtures, true) });
    }
    const requests = await requestsFor(
      scenario,
      servers.map(({ configuration, target }) => ({ target, side: 'ours', label: configuration.name })),
      16,
    );
    if (typeof requests === 'string') throw new Error(requests);
    const threads = servers.map(() => ({ main: 0, v8: 0, other: 0 }));
    const measured = await measureInterleaved(
      servers.map(({ child, target }, index) => {
        let before = { main: 0, v8: 0, other: 0 };
        let inSlice = false;
        return {
          url: target.url,
          request: requests[index]!,
          // Called right before and right after each of the server's slices: the threads' CPU time
          // is read alongside, and what they used within the slice added up.
          cpuMicros: async () => {
            const now = threadTicks(child.pid!);
            if (inSlice) {
              for (const group of ['main', 'v8', 'other'] as const)
                threads[index]![group] += now[group] - before[group];
            }
            before = now;
            inSlice = !inSlice;
            return child.cpuMicros();
          },
          memory: () => child.memory(),
        };
      }),
      { connections: 10, seconds: Number(values.seconds), warmupSeconds: 2 },
    );
    const mb = (bytes: number | undefined) =>
      bytes === undefined ? '—' : String(Math.round(bytes / 2 ** 20));
    // Clock ticks (USER_HZ, 100 a second on Linux) per response, in µs.
    const perRequest = (ticks: number, responses: number) => Math.round((ticks * 10_000) / responses);
    console.log(
      `| configuration | ${scenario.id}: RSS MB (peak) | req/s | ratio | CPU µs/req | of which main thread / V8 helpers / other |`,
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    servers.forEach(({ configuration }, index) => {
      const figures = measured[index]!;
      const responses = figures.requests + figures.non2xx;
      const { main, v8, other } = threads[index]!;
      console.log(
        `| ${configuration.name} | ${mb(figures.rss?.median)} (${mb(figures.rss?.peak)}) | ${Math.round(figures.rps)} | ` +
          `${pairedRatio(figures, measured[0]!).toFixed(2)} | ${Math.round(figures.cpuPerRequest ?? 0)} | ` +
          `${perRequest(main, responses)} / ${perRequest(v8, responses)} / ${perRequest(other, responses)} |`,
      );
    });
  } finally {
    await Promise.all(servers.map(({ child }) => child.stop()));
    await seed.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
