// The report's account of the machine: its ceilings (signatures, argon2id, a bare node:http server)
// and, with `--profile`, where each server's CPU time went.
import type { Ceilings } from './ceilings.js';
import type { ProfileSummary } from './profiles.js';
import { integer, latency, rate, table } from './report-cells.js';
import { PASSWORD_HASH_SETTINGS } from '../src/authorization/accounts.js';

export function ceilingsTable(ceilings: Ceilings | undefined): string {
  if (!ceilings) return 'Ceilings: not measured in this run.';
  return table(
    ['ceiling', 'value'],
    [
      ['RS256 signatures/s, one core (node:crypto, 2048-bit)', integer(ceilings.rs256PerSecond)],
      ['ES256 signatures/s, one core (node:crypto, P-256)', integer(ceilings.es256PerSecond)],
      [
        `argon2id verifications/s (${PASSWORD_HASH_SETTINGS}; ${ceilings.argon2Threads} libuv threads)`,
        `${integer(ceilings.argon2PerSecond)} (${ceilings.argon2CpuMs.toFixed(1)} ms of CPU each)`,
      ],
      ['node:http hello world req/s (p50 / p99 ms)', `${rate(ceilings.hello)} (${latency(ceilings.hello)})`],
    ],
  );
}

export function profilesSection(profiles: ProfileSummary[]): string {
  if (profiles.length === 0) return '';
  const sections = profiles.map((profile) => {
    const perRequest = profile.requests
      ? `, ${integer((profile.busyMs * 1000) / profile.requests)} µs main-thread busy per ${profile.unit ?? 'request'}`
      : '';
    const components = profile.components
      .slice(0, 10)
      .map((entry) => `${entry.component} ${entry.percent.toFixed(1)}%`)
      .join(' · ');
    return [
      `### ${profile.scenario}: ${integer(profile.busyMs)} ms busy${perRequest}`,
      '',
      `${profile.path}`,
      '',
      `By component (natives count for their caller): ${components}`,
      '',
      table(
        ['self ms', '%', 'function', 'where', 'mostly called from'],
        profile.functions.map((entry) => [
          integer(entry.ms),
          entry.percent.toFixed(1),
          entry.name,
          entry.where,
          entry.caller,
        ]),
      ),
    ].join('\n');
  });
  return ['## CPU profiles (main thread; top self time)', '', ...sections].join('\n\n');
}
