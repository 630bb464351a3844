// Which argon2 binary verifies passwords. The `argon2` package ships one prebuilt binary per
// platform, compiled for any x86-64 CPU (SSE2); `npm run argon2:native` (scripts/argon2-native.mjs)
// compiles the same package's C sources with AVX2 and installs that binary beside it, where the
// package's loader (node-gyp-build) prefers it. That binary needs the CPU features it was built
// for: on a CPU without them (node_modules copied to another machine, say) it would die of an
// illegal instruction at the first login. So the build leaves a note of what it needs, and the
// server and the CLI check it when they start.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The note `npm run argon2:native` leaves beside the binary it installs. */
export const NATIVE_BUILD_NOTE = 'latchkey-native.json';

export interface NativeBuildNote {
  /** CPU flags (as /proc/cpuinfo names them) the binary was compiled to use. */
  requires: string[];
  cflags: string;
  builtAt: string;
}

export type Argon2Build =
  { kind: 'prebuilt' } | { kind: 'source' } | { kind: 'native'; note: NativeBuildNote };

/** The directory of the `argon2` package this process loads. */
export function argon2PackageDir(): string {
  return dirname(createRequire(import.meta.url).resolve('argon2'));
}

/**
 * The binary the package loads: the one built for this CPU when it is installed (node-gyp-build
 * prefers build/Release to the prebuilt ones unless PREBUILDS_ONLY is set), else the prebuilt.
 */
export function argon2Build(packageDir = argon2PackageDir(), env = process.env): Argon2Build {
  const release = join(packageDir, 'build', 'Release');
  if (env.PREBUILDS_ONLY || !existsSync(join(release, 'argon2.node'))) return { kind: 'prebuilt' };
  const notePath = join(release, NATIVE_BUILD_NOTE);
  // A build without our note was made some other way (npm rebuild --build-from-source), with the
  // package's own flags, which any CPU of its architecture runs.
  if (!existsSync(notePath)) return { kind: 'source' };
  return { kind: 'native', note: JSON.parse(readFileSync(notePath, 'utf8')) as NativeBuildNote };
}

/** The CPU flags of this machine, from /proc/cpuinfo (empty where there is none). */
export function cpuFlags(cpuinfo = readCpuinfo()): Set<string> {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  return new Set(line.trim().split(/\s+/).filter(Boolean));
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Why the argon2 binary in use cannot run on this CPU, or undefined when it can. */
export function argon2BuildProblem(build = argon2Build(), flags = cpuFlags()): string | undefined {
  if (build.kind !== 'native') return undefined;
  const missing = build.note.requires.filter((flag) => !flags.has(flag));
  if (missing.length === 0) return undefined;
  return (
    `the argon2 binary in node_modules was built for a CPU with ${missing.join(', ')}, which this ` +
    'one lacks; run `npm run argon2:native -- --undo` to go back to the prebuilt binary ' +
    '(or start with PREBUILDS_ONLY=1)'
  );
}

let checked: string | undefined | null = null;

/**
 * Throws argon2BuildProblem()'s message when the binary cannot run here, before anything calls
 * into it (an illegal instruction would end the process). Looked up once per process.
 */
export function assertArgon2Runs(): void {
  if (checked === null) checked = argon2BuildProblem();
  if (checked !== undefined) throw new Error(checked);
}

/** The binary in a few words, for logs and the bench report. */
export function describeArgon2Build(build = argon2Build()): string {
  if (build.kind === 'native')
    return `built for this CPU (${build.note.requires.join(', ')}; npm run argon2:native)`;
  return build.kind === 'source'
    ? 'built from source with the package’s flags'
    : 'the package’s prebuilt binary';
}
