// What one bench run measured, as the runner (./run.ts) collects it and the report renders it, and
// the targets of issues #6 and #17 that the report judges it against.
import type { BrowserFlows } from './browser-flow.js';
import type { Ceilings } from './ceilings.js';
import type { ClusterResult, StoreKind } from './cluster.js';
import type { Measurement } from './load.js';
import type { ProfileSummary } from './profiles.js';
import type { VaultResult } from './vault.js';
import type { Argon2Build } from '../src/authorization/argon2-build.js';

/** Issue #6 and #17 targets. */
export const TARGETS = {
  referenceRatio: 0.8,
  loginsPerSecond: 60,
  growthRatio: 0.9,
  /** The vault proxy against the upstream called directly: throughput ratio, ms added at p50. */
  proxyRatio: 0.8,
  proxyAddedMs: 1,
  /** WORKERS=2 against WORKERS=1: more than one process's worth. */
  clusterRatio: 1,
  /** The PostgreSQL store against the SQLite store, one process, client credentials. */
  postgresRatio: 0.6,
  /** Resident set size of one server process at steady load, MB. */
  rssMb: 250,
} as const;

export interface ComparisonRow {
  group: number;
  title: string;
  /** Set when the scenario did not run (skipped or failed its check). */
  outcome?: string;
  ours?: Measurement;
  reference?: Measurement;
  referenceNote?: string;
}

export interface GrowthRow {
  title: string;
  store: StoreKind;
  outcome?: string;
  /** One measurement per growth level, smallest first. */
  levels: (Measurement | undefined)[];
}

export interface BenchResults {
  date: Date;
  node: string;
  cpu: string;
  cores: number;
  /** Which argon2 binary the servers load (src/authorization/argon2-build.ts). */
  argon2: Argon2Build;
  settings: string;
  /** The machine's 1-minute load average, sampled every few seconds through the run. */
  load?: number[];
  comparisons: ComparisonRow[];
  browser?: BrowserFlows | { outcome: string };
  vault?: VaultResult | { outcome: string };
  cluster?: ClusterResult | { outcome: string };
  /** The PostgreSQL server the PostgreSQL rows ran on (its version), or why they did not run. */
  postgres: { version: string } | { outcome: string };
  growthLevels: number[];
  growth: GrowthRow[] | { outcome: string };
  seeding: { rows: number; ms: number; store: StoreKind }[];
  ceilings?: Ceilings;
  profiles: ProfileSummary[];
}
