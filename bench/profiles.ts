// `--profile`: CPU profiles of the bench servers, one per scenario and server, taken around the
// server's own load and digested for the report (see ./cpu-profiler.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserFlowResult } from './browser-flow.js';
import type { BenchChild } from './child-process.js';
import { summarizeProfile, type ProfileDigest } from './cpu-profiler.js';
import type { Subject } from './interleave.js';
import type { Measurement } from './load.js';

/** One scenario's CPU profile of one server, digested, as the report shows it. */
export interface ProfileSummary extends ProfileDigest {
  scenario: string;
  path: string;
  /** Responses (or browser flows) the profile covered. */
  requests?: number;
  unit?: 'request' | 'flow';
}

export class Profiles {
  readonly summaries: ProfileSummary[] = [];
  readonly #dir: string | undefined;

  constructor(enabled: boolean) {
    this.#dir = enabled ? mkdtempSync(join(tmpdir(), 'latchkey-bench-profiles-')) : undefined;
  }

  /** A profile hook for `child` during `scenario`, or undefined when not profiling. */
  hook(child: BenchChild, scenario: string): Subject['profile'] {
    const dir = this.#dir;
    if (!dir) return undefined;
    return {
      start: () => child.startProfile(),
      stop: async () => {
        const path = await child.stopProfile(join(dir, `${scenario.replace(/\W+/g, '-')}.cpuprofile`));
        this.summaries.push({ scenario, path, ...summarizeProfile(path) });
      },
    };
  }

  /** Records how many responses the profile of `scenario` covered (for busy time per request). */
  count(scenario: string, measured: Measurement | BrowserFlowResult | undefined): void {
    const summary = this.summaries.find((entry) => entry.scenario === scenario);
    if (!summary || !measured) return;
    summary.requests = 'flows' in measured ? measured.flows : measured.requests + measured.non2xx;
    summary.unit = 'flows' in measured ? 'flow' : 'request';
  }
}
