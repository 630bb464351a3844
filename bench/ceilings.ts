// The machine's ceilings, measured in the same run as the scenarios: what one core signs per second
// (RS256, ES256: every JWT access token and ID token costs one signature), what the argon2id
// settings allow in logins per second, and what a bare node:http server answers under the same
// autocannon settings. A scenario cannot beat its ceiling; the distance to it is the overhead.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import argon2 from 'argon2';
import { PASSWORD_HASH_OPTIONS } from '../src/authorization/accounts.js';
import { BenchChild } from './child-process.js';
import { measurement, runLoad, type LoadSettings, type Measurement } from './load.js';

export interface Ceilings {
  rs256PerSecond: number;
  es256PerSecond: number;
  argon2PerSecond: number;
  argon2Threads: number;
  /** CPU time of one verification (ms). */
  argon2CpuMs: number;
  hello: Measurement;
}

/** Signatures per second on one core (this thread), over a JWT-sized input. */
export function signaturesPerSecond(alg: 'RS256' | 'ES256', seconds: number): number {
  const { privateKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' } =
    alg === 'RS256' ? privateKey : { key: privateKey, dsaEncoding: 'ieee-p1363' };
  const input = Buffer.alloc(300, 'a');
  let count = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    sign('sha256', input, key);
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

/** argon2id verifications per second with Latchkey's settings, as many at once as libuv has threads. */
export async function argon2PerSecond(
  seconds: number,
): Promise<{ perSecond: number; threads: number; cpuMsEach: number }> {
  const hash = await argon2.hash('correct horse battery staple', PASSWORD_HASH_OPTIONS);
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  let count = 0;
  // Process CPU (libuv's threads included): what one verification costs whatever the parallelism.
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      while (performance.now() < deadline) {
        await argon2.verify(hash, 'correct horse battery staple');
        count++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  return {
    perSecond: count / ((performance.now() - started) / 1000),
    threads,
    cpuMsEach: (cpu.user + cpu.system) / 1000 / count,
  };
}

export async function helloWorld(settings: LoadSettings): Promise<Measurement> {
  const hello = await BenchChild.start({ kind: 'hello' });
  try {
    await runLoad(hello.url, { method: 'GET', path: '/', headers: {} }, { ...settings, seconds: 0.5 });
    return measurement([await runLoad(hello.url, { method: 'GET', path: '/', headers: {} }, settings)]);
  } finally {
    await hello.stop();
  }
}

export async function measureCeilings(settings: LoadSettings): Promise<Ceilings> {
  const signSeconds = Math.min(1, settings.seconds / 2);
  const argon2 = await argon2PerSecond(signSeconds * 2);
  return {
    rs256PerSecond: signaturesPerSecond('RS256', signSeconds),
    es256PerSecond: signaturesPerSecond('ES256', signSeconds),
    argon2PerSecond: argon2.perSecond,
    argon2Threads: argon2.threads,
    argon2CpuMs: argon2.cpuMsEach,
    hello: await helloWorld(settings),
  };
}
