// Command-line options of `npm run bench` (node dist/bench/run.js).
import { parseArgs } from 'node:util';
import { DEFAULT_POSTGRES_URL } from './postgres.js';

export const SCENARIO_IDS = [
  'jwks',
  'cc-opaque',
  'cc-rs256',
  'cc-es256',
  'refresh',
  'introspect',
  'me-jwt',
  'me-opaque',
  'browser',
  'vault',
  'cluster',
  'growth',
  'ceilings',
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** The group numbers, accepted in --scenarios as shorthands. */
const GROUPS: Record<string, ScenarioId[]> = {
  '0': ['jwks'],
  '1': ['cc-opaque', 'cc-rs256', 'cc-es256'],
  '2': ['refresh'],
  '3': ['introspect'],
  '4': ['me-jwt', 'me-opaque'],
  '5': ['browser'],
  '6': ['vault'],
  '7': ['growth'],
};

export interface BenchOptions {
  /** Measured seconds per scenario and side. */
  duration: number;
  /** Measured seconds for the vault, cluster and reference browser flows (--quick: 1 unless --duration). */
  shortDuration: number;
  warmup: number;
  connections: number;
  scenarios: Set<ScenarioId>;
  quick: boolean;
  /** Stored token and grant counts for the growth scenarios; empty = skipped. */
  growth: number[];
  /** Record a CPU profile of Latchkey during each of its scenarios and summarise it. */
  profile: boolean;
  /** Where the results table goes. */
  out: string;
  /** The PostgreSQL server for the PostgreSQL rows (a database the bench may create databases from), or 'off'. */
  postgres: string;
}

export const USAGE = `usage: npm run bench -- [options]
  --duration=SECONDS     measured seconds per scenario and server (default 5; --quick 1.2, and 1
                         for vault, cluster and the reference's browser flows)
  --connections=N        concurrent connections, and browser-flow workers (default 10)
  --scenarios=LIST       comma list of scenario ids or group numbers 0-7 (6: vault); default all:
                         ${SCENARIO_IDS.join(', ')}
  --growth=N,N,...       stored tokens and grants for the growth rows (default 1000,100000;
                         skipped with --quick unless given; e.g. --growth=1000,1000000)
  --quick                the whole run in under a minute
  --profile              CPU-profile Latchkey during each scenario; print the top self-time functions
  --postgres=URL|off     PostgreSQL server for the PostgreSQL store's rows (default $POSTGRES_URL or
                         ${DEFAULT_POSTGRES_URL}); the bench makes databases of its own
                         there and drops them at the end; off: SQLite only
  --out=FILE             results table (default bench/results.md)`;

export function parseOptions(argv: string[], defaultOut: string): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      scenarios: { type: 'string' },
      growth: { type: 'string' },
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      postgres: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  const duration = positive('duration', values.duration ?? (quick ? '1.2' : '5'));
  const connections = Math.round(positive('connections', values.connections ?? '10'));
  const scenarios = new Set<ScenarioId>();
  for (const entry of (values.scenarios ?? SCENARIO_IDS.join(',')).split(',').map((part) => part.trim())) {
    if (!entry) continue;
    if (GROUPS[entry]) GROUPS[entry].forEach((id) => scenarios.add(id));
    else if ((SCENARIO_IDS as readonly string[]).includes(entry)) scenarios.add(entry as ScenarioId);
    else throw new TypeError(`--scenarios: unknown scenario ${entry}\n${USAGE}`);
  }
  const growthList = values.growth ?? (quick ? '' : '1000,100000');
  const growth = growthList
    .split(',')
    .filter(Boolean)
    .map((value) => Math.round(positive('growth', value)));
  return {
    duration,
    shortDuration: quick && values.duration === undefined ? 1 : duration,
    warmup: quick ? 0.3 : Math.min(2, Math.max(0.5, duration / 5)),
    connections,
    scenarios,
    quick,
    growth: [...new Set(growth)].sort((a, b) => a - b),
    profile: values.profile,
    out: values.out ?? defaultOut,
    postgres: values.postgres ?? (process.env.POSTGRES_URL || DEFAULT_POSTGRES_URL),
  };
}

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new TypeError(`--${name} must be a positive number\n${USAGE}`);
  return number;
}
