// Side-by-side measurement on a shared, noisy machine: the subjects of one comparison (Latchkey and
// the reference, or Latchkey at two store sizes) are loaded in turn in short slices, A B B A A B …,
// so that a slow patch caused by someone else's work weighs on all of them alike. The ratio between
// them is the figure to trust; the absolute rates move with the machine.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  measurement,
  rssFigures,
  runLoad,
  type LoadRequest,
  type LoadRun,
  type Measurement,
} from './load.js';

/** Length of one subject's turn: short enough to interleave often, long enough to reach steady state. */
const SLICE_SECONDS = 0.5;

export interface Subject {
  url: string;
  request: LoadRequest;
  /** Called around the subject's first and last window (e.g. a CPU profile of its server). */
  profile?: { start(): void; stop(): Promise<void> };
  /** The server's CPU time so far (µs), read before and after each of the subject's slices. */
  cpuMicros?: () => Promise<number>;
  /** RSS of each of the server's processes (bytes), sampled in the middle of each of its slices. */
  memory?: () => Promise<number[]>;
}

export interface InterleaveSettings {
  connections: number;
  /** Measured seconds per subject. */
  seconds: number;
  /** Unmeasured seconds per subject first (JIT, connection set-up, caches). */
  warmupSeconds: number;
  /** Length of one subject's turn (default SLICE_SECONDS): shorter gives more pairs in a short run. */
  sliceSeconds?: number;
  /** The load of one slice; default autocannon with `connections` (a saturating closed loop). */
  load?: (url: string, request: LoadRequest, seconds: number) => Promise<LoadRun>;
}

export async function measureInterleaved(
  subjects: Subject[],
  settings: InterleaveSettings,
): Promise<Measurement[]> {
  const { connections } = settings;
  const load =
    settings.load ??
    ((url: string, request: LoadRequest, seconds: number) => runLoad(url, request, { connections, seconds }));
  for (const subject of subjects) {
    if (settings.warmupSeconds > 0) await load(subject.url, subject.request, settings.warmupSeconds);
  }
  const runs: LoadRun[][] = subjects.map(() => []);
  const cpu = subjects.map(() => 0);
  const rss: number[][][] = subjects.map(() => []);
  const rounds = Math.max(2, Math.round(settings.seconds / (settings.sliceSeconds ?? SLICE_SECONDS)));
  const slice = settings.seconds / rounds;
  for (const subject of subjects) subject.profile?.start();
  for (let round = 0; round < rounds; round++) {
    const order = [...subjects.keys()];
    if (round % 2 === 1) order.reverse();
    for (const index of order) {
      const subject = subjects[index]!;
      const before = await subject.cpuMicros?.();
      // Half-way through the slice the server is at steady load: its RSS then is the one to read.
      const sampled = subject.memory
        ? sleep((slice * 1000) / 2).then(() => subject.memory!())
        : Promise.resolve(undefined);
      runs[index]!.push(await load(subject.url, subject.request, slice));
      const sample = await sampled;
      if (sample) rss[index]!.push(sample);
      if (before !== undefined) cpu[index]! += (await subject.cpuMicros!()) - before;
    }
  }
  for (const subject of subjects) await subject.profile?.stop();
  return runs.map((subjectRuns, index) => {
    const measured = measurement(subjectRuns);
    const responses = measured.requests + measured.non2xx;
    if (subjects[index]!.cpuMicros && responses) measured.cpuPerRequest = cpu[index]! / responses;
    const memory = rssFigures(rss[index]!);
    if (memory) measured.rss = memory;
    return measured;
  });
}
