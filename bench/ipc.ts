// The messages between the bench runner and a bench server child process (child_process.fork IPC).
import type { BenchFixtures } from './fixtures.js';

/** Which server a child runs. */
export type ServerSpec =
  | {
      kind: 'latchkey';
      /** oidc records (tokens and grants) to insert before listening */ growthRows: number;
      /** A PostgreSQL database (DATABASE_URL) to serve from, instead of a fresh SQLite file. */
      postgresUrl?: string;
    }
  | { kind: 'reference' }
  | { kind: 'hello' }
  /** The vault scenario's upstream provider and API (./upstream-server.ts). */
  | { kind: 'upstream' }
  /** A bare pass-through proxy to `upstream` (./passthrough-server.ts). */
  | { kind: 'passthrough'; upstream: string };

export type ToChild =
  | { type: 'profile-start' }
  | { type: 'profile-stop'; path: string }
  | { type: 'cpu-usage' }
  | { type: 'memory' }
  | { type: 'stop' };

export type FromChild =
  | { type: 'ready'; url: string; fixtures?: BenchFixtures; seeded?: { rows: number; ms: number } }
  | { type: 'profile-saved'; path: string }
  /** process.cpuUsage() of the server: user + system µs, every thread (argon2's too). */
  | { type: 'cpu-usage'; micros: number }
  /** Resident set size (bytes) of each process serving: this one first, then any workers. */
  | { type: 'memory'; rss: number[] }
  | { type: 'failed'; message: string };
