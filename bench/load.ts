// Load generation with autocannon's programmatic API, and the figures the report shows. Latencies
// are collected per response, so that runs split into interleaved parts (see ./interleave.ts) merge
// into one exact set of percentiles.
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Agent, request as undiciRequest } from 'undici';

export interface LoadRequest {
  method: 'GET' | 'POST';
  /** Path and query on the target. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Bodies handed out one per connection, in turn (e.g. a pool of refresh tokens). */
  bodies?: string[];
}

export interface LoadSettings {
  connections: number;
  seconds: number;
}

/** One run's raw outcome. */
export interface LoadRun {
  seconds: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Response times (ms) of the 2xx responses. */
  latencies: number[];
  statuses: Record<string, number>;
}

export interface Measurement {
  /** 2xx responses per second. */
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  statuses: Record<string, number>;
  /** 2xx per second of each run (slice), in order: see pairedRatio(). */
  sliceRates: number[];
  /**
   * Server CPU time (user + system, all threads) per response, in µs: unlike the rate, it hardly
   * moves when other work shares the machine.
   */
  cpuPerRequest?: number;
  /** The server's resident set size under this load (see RssFigures). */
  rss?: RssFigures;
}

/**
 * Resident set size of a server under load, in bytes, sampled once in the middle of each of its
 * slices; each sample is that of its largest process (a cluster's primary and workers are each one).
 */
export interface RssFigures {
  /** The median sample: the size at steady load. */
  median: number;
  peak: number;
  /** Processes the server ran in (1, or a cluster's primary and workers). */
  processes: number;
}

/** RssFigures from samples, each the RSS of every process of the server at one moment. */
export function rssFigures(samples: number[][]): RssFigures | undefined {
  const largest = Float64Array.from(
    samples.filter((sample) => sample.length).map((sample) => Math.max(...sample)),
  ).sort();
  if (largest.length === 0) return undefined;
  return {
    median: percentile(largest, 0.5),
    peak: largest[largest.length - 1]!,
    processes: Math.max(...samples.map((sample) => sample.length)),
  };
}

export async function runLoad(
  baseUrl: string,
  request: LoadRequest,
  settings: LoadSettings,
): Promise<LoadRun> {
  const run: LoadRun = { seconds: 0, ok: 0, non2xx: 0, errors: 0, latencies: [], statuses: {} };
  let next = 0;
  const bodies = request.bodies;
  const started = performance.now();
  let finish: (error: unknown, result: autocannon.Result) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result);
  });
  const instance = autocannon(
    {
      url: `${baseUrl}${request.path}`,
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      ...(bodies?.length ? { setupClient: (client) => client.setBody(bodies[next++ % bodies.length]) } : {}),
      connections: settings.connections,
      duration: settings.seconds,
      timeout: 10,
      // autocannon checks for the end of the run once per sample: often, so short runs end on time.
      sampleInt: 50,
    },
    (error, result) => finish(error, result),
  );
  instance.on('response', (_client, status, _bytes, responseTime) => {
    run.statuses[status] = (run.statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      run.ok++;
      run.latencies.push(responseTime);
    } else {
      run.non2xx++;
    }
  });
  const result = await done;
  run.seconds = (performance.now() - started) / 1000;
  run.errors = result.errors;
  return run;
}

export interface PacedSettings {
  /** Requests started per second, evenly spaced, whether or not earlier ones have answered. */
  rate: number;
  seconds: number;
}

/** More than this many requests waiting means the target cannot keep up with the rate. */
const PACED_MAX_IN_FLIGHT = 64;
const pacedDispatcher = new Agent({ keepAliveTimeout: 30_000, connections: PACED_MAX_IN_FLIGHT });

/**
 * An open-loop load at a fixed rate: the request is started every 1/rate seconds (on a keep-alive
 * pool), so two targets given the same rate get the same load, and a latency is a service time
 * plus whatever queueing that load causes, not the queue a saturating closed loop builds up. A
 * request that would exceed PACED_MAX_IN_FLIGHT is not sent and counts as an error (overload).
 */
export async function runPaced(
  baseUrl: string,
  request: LoadRequest,
  settings: PacedSettings,
): Promise<LoadRun> {
  const run: LoadRun = { seconds: 0, ok: 0, non2xx: 0, errors: 0, latencies: [], statuses: {} };
  const url = `${baseUrl}${request.path}`;
  const interval = 1000 / settings.rate;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  const fire = () => {
    const body = request.body ?? request.bodies?.[sent % request.bodies.length];
    const started = performance.now();
    const pending = undiciRequest(url, {
      method: request.method,
      headers: request.headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: pacedDispatcher,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    })
      .then(async (response) => {
        await response.body.dump();
        const status = response.statusCode;
        run.statuses[status] = (run.statuses[status] ?? 0) + 1;
        if (status >= 200 && status < 300) {
          run.ok++;
          run.latencies.push(performance.now() - started);
        } else {
          run.non2xx++;
        }
      })
      .catch(() => {
        run.errors++;
      })
      .finally(() => inFlight.delete(pending));
    inFlight.add(pending);
  };
  const started = performance.now();
  const end = started + settings.seconds * 1000;
  for (let now = started; now < end; now = performance.now()) {
    const due = Math.min(
      Math.floor((now - started) / interval) + 1,
      Math.ceil(settings.seconds * settings.rate),
    );
    for (; sent < due; sent++) {
      if (inFlight.size < PACED_MAX_IN_FLIGHT) fire();
      else run.errors++;
    }
    await sleep(Math.max(0, started + sent * interval - performance.now()));
  }
  await Promise.all(inFlight);
  run.seconds = (performance.now() - started) / 1000;
  return run;
}

/** Merges runs of one target into a measurement. */
export function measurement(runs: LoadRun[]): Measurement {
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const latencies = Float64Array.from(runs.flatMap((run) => run.latencies)).sort();
  const statuses: Record<string, number> = {};
  for (const run of runs) {
    for (const [status, count] of Object.entries(run.statuses))
      statuses[status] = (statuses[status] ?? 0) + count;
  }
  const ok = runs.reduce((sum, run) => sum + run.ok, 0);
  return {
    rps: seconds ? ok / seconds : 0,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    requests: ok,
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    statuses,
    sliceRates: runs.map((run) => (run.seconds ? run.ok / run.seconds : 0)),
  };
}

/** The ratios of `a` to `b` over the pairs of slices run back to back, sorted; empty without pairs. */
function pairRatios(a: Measurement, b: Measurement): Float64Array {
  if (a.sliceRates.length !== b.sliceRates.length) return new Float64Array();
  return Float64Array.from(a.sliceRates.map((rate, index) => rate / b.sliceRates[index]!)).sort();
}

/**
 * The ratio of two subjects' rates as the median over their slices taken back to back (slice i of
 * `a` ran right next to slice i of `b`): a burst of someone else's work spoils a pair or two, not
 * the figure. Falls back to the ratio of overall rates when the slices do not pair up.
 */
export function pairedRatio(a: Measurement, b: Measurement): number {
  const ratios = pairRatios(a, b);
  if (ratios.length === 0) return a.rps / b.rps;
  const middle = ratios.length >> 1;
  return ratios.length % 2 ? ratios[middle]! : (ratios[middle - 1]! + ratios[middle]!) / 2;
}

/**
 * The middle half of the pair ratios (25th to 75th percentile): how far the ratio moves from one
 * pair of slices to the next in this run. Undefined with fewer than four pairs.
 */
export function pairedRatioSpread(a: Measurement, b: Measurement): { low: number; high: number } | undefined {
  const ratios = pairRatios(a, b);
  if (ratios.length < 4) return undefined;
  return { low: percentile(ratios, 0.25), high: percentile(ratios, 0.75) };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}
