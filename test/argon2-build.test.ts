// The argon2 binary: which one the package loads, the start-up refusal of a binary built for CPU
// features this machine lacks, and `npm run argon2:native -- --check` (build, RFC 9106 vector and
// cross-checks against the prebuilt binary, nothing installed).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  argon2Build,
  argon2BuildProblem,
  argon2PackageDir,
  cpuFlags,
  describeArgon2Build,
  NATIVE_BUILD_NOTE,
} from '../src/authorization/argon2-build.js';

const CPUINFO = [
  'processor\t: 0',
  'model name\t: Some CPU',
  'flags\t\t: fpu sse sse2 ssse3 avx avx2 aes',
  '',
  'processor\t: 1',
  'flags\t\t: fpu sse sse2 ssse3 avx avx2 aes',
].join('\n');

describe('which binary the argon2 package loads', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const packageWith = (files: Record<string, string>) => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-argon2-pkg-'));
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    for (const [name, content] of Object.entries(files))
      writeFileSync(join(dir, 'build', 'Release', name), content);
    return dir;
  };

  test('no build of its own: the prebuilt binary; a plain source build runs anywhere', () => {
    expect(argon2Build(packageWith({}), {})).toEqual({ kind: 'prebuilt' });
    rmSync(dir, { recursive: true, force: true });
    const source = argon2Build(packageWith({ 'argon2.node': 'x' }), {});
    expect(source).toEqual({ kind: 'source' });
    expect(argon2BuildProblem(source, new Set())).toBeUndefined();
  });

  test('a build for this CPU needs what its note says, and PREBUILDS_ONLY sets it aside', () => {
    const note = { requires: ['avx2'], cflags: '-mavx2', builtAt: '2026-11-23T00:00:00.000Z' };
    const packageDir = packageWith({ 'argon2.node': 'x', [NATIVE_BUILD_NOTE]: JSON.stringify(note) });
    const build = argon2Build(packageDir, {});
    expect(build).toEqual({ kind: 'native', note });
    expect(describeArgon2Build(build)).toContain('built for this CPU (avx2');

    expect(argon2BuildProblem(build, cpuFlags(CPUINFO))).toBeUndefined();
    const problem = argon2BuildProblem(build, cpuFlags(CPUINFO.replaceAll(' avx2', '')));
    expect(problem).toContain('built for a CPU with avx2, which this one lacks');
    expect(problem).toContain('npm run argon2:native -- --undo');

    expect(argon2Build(packageDir, { PREBUILDS_ONLY: '1' })).toEqual({ kind: 'prebuilt' });
  });

  test('CPU flags come from the flags line of /proc/cpuinfo', () => {
    expect([...cpuFlags(CPUINFO)]).toEqual(['fpu', 'sse', 'sse2', 'ssse3', 'avx', 'avx2', 'aes']);
    expect(cpuFlags('').size).toBe(0);
  });
});

/** Why `--check` cannot run here, or undefined. */
function checkUnavailable(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `an x86-64 Linux (this is ${process.arch})`;
  if (!cpuFlags().has('avx2')) return 'a CPU with AVX2';
  for (const tool of ['python3', 'make', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} on PATH`;
  }
  const nodeGyp = spawnSync('sh', ['-c', 'command -v npm']).status === 0 || process.env.npm_config_node_gyp;
  if (!nodeGyp) return 'npm (for its node-gyp)';
  if (!existsSync(join(process.cwd(), 'dist', 'src', 'authorization', 'accounts.js')))
    return 'a build (npm run build)';
  // Node's headers at hand (a test must not depend on node-gyp downloading them).
  const headers = [
    process.env.npm_config_nodedir,
    join(homedir(), '.cache', 'node-gyp', process.versions.node),
    '/usr',
  ].some((dir) => dir !== undefined && existsSync(join(dir, 'include', 'node', 'common.gypi')));
  if (!headers) return "Node's headers (npm_config_nodedir, node-gyp's cache or /usr/include/node)";
  return undefined;
}

const unavailable = checkUnavailable();
if (unavailable) process.stdout.write(`skipped: npm run argon2:native -- --check needs ${unavailable}\n`);

(unavailable ? test.skip : test)(
  'argon2:native --check compiles the package with AVX2 and checks it against RFC 9106 and the prebuilt binary, installing nothing',
  () => {
    const before = argon2Build();
    const output = execFileSync(process.execPath, ['scripts/argon2-native.mjs', '--check'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(output).toContain('Checked: RFC 9106 test vector, and each binary verifies the other’s hashes');
    const timing = /prebuilt ([\d.]+) ms, built for this CPU ([\d.]+) ms/.exec(output);
    expect(timing).not.toBeNull();
    expect(Number(timing![1])).toBeGreaterThan(0);
    expect(Number(timing![2])).toBeGreaterThan(0);
    expect(output).not.toContain('Installed');
    expect(argon2Build()).toEqual(before);
    expect(existsSync(join(argon2PackageDir(), 'build', 'Release', 'argon2.node'))).toBe(
      before.kind !== 'prebuilt',
    );
  },
  120_000,
);

test('argon2:native refuses options it does not know', () => {
  const run = spawnSync(process.execPath, ['scripts/argon2-native.mjs', '--install-everywhere'], {
    encoding: 'utf8',
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('unknown option --install-everywhere; use --check or --undo');
});
