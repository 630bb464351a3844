// Scenario 5: complete browser sign-ins per second. N workers, each a new browser (cookie jar) per
// flow: authorize → login page → sign in (argon2id) → consent page → allow → code → token. Bounded
// by time and by a number of flows; a failing flow is counted and the first error kept.
import { codeFlow, type Endpoints } from './http-client.js';
import type { BenchFixtures } from './fixtures.js';
import { percentile, type RssFigures } from './load.js';

export interface BrowserFlowSettings {
  workers: number;
  seconds: number;
  /** Stop after this many flows even if time remains. */
  maxFlows: number;
}

export interface BrowserFlowResult {
  flows: number;
  failures: number;
  firstError?: string;
  /** Completed flows per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU time per completed flow (µs, all threads: argon2 runs on libuv's). */
  cpuPerFlow?: number;
  /** The load generator's own CPU time per completed flow (µs): it shares the machine's cores. */
  clientCpuPerFlow?: number;
  /** The server's RSS during the flows (sampled a few times). */
  rss?: RssFigures;
}

/** Scenario (5) as reported: Latchkey, and the same flows against the bare reference. */
export interface BrowserFlows extends BrowserFlowResult {
  /** The reference's flows (its interactions finish at once: no pages, no password check). */
  reference?: BrowserFlowResult | { outcome: string };
}

const SCOPE = 'openid profile email offline_access';

export async function measureBrowserFlows(
  endpoints: Endpoints,
  fixtures: BenchFixtures,
  settings: BrowserFlowSettings,
): Promise<BrowserFlowResult> {
  const latencies: number[] = [];
  let started = 0;
  let failures = 0;
  let firstError: string | undefined;
  const cpuBefore = process.cpuUsage();
  const begin = performance.now();
  const deadline = begin + settings.seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && started < settings.maxFlows && failures <= settings.workers) {
      started++;
      const flowStart = performance.now();
      try {
        await codeFlow(endpoints, fixtures, { scope: SCOPE });
        latencies.push(performance.now() - flowStart);
      } catch (error) {
        failures++;
        firstError ??= (error as Error).message.slice(0, 200);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.workers }, worker));
  const seconds = (performance.now() - begin) / 1000;
  const clientCpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  return {
    flows: latencies.length,
    failures,
    ...(firstError ? { firstError } : {}),
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    ...(latencies.length ? { clientCpuPerFlow: (clientCpu.user + clientCpu.system) / latencies.length } : {}),
  };
}
