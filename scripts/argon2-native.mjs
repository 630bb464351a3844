#!/usr/bin/env node
// `npm run argon2:native`: compiles the installed `argon2` package's own C sources with AVX2 and
// installs the result beside its prebuilt binary, where the package's loader prefers it. The
// prebuilt binary is compiled for any x86-64 CPU (SSE2 only); with AVX2 argon2id does the same
// work in about half the CPU time, and one password verification is most of a login's cost.
//
//   npm run argon2:native              build, check, install
//   npm run argon2:native -- --check   build and check only (nothing installed)
//   npm run argon2:native -- --undo    remove the installed build (back to the prebuilt binary)
//
// The build happens in a temporary copy of the package and is installed only after it has
// reproduced RFC 9106's argon2id test vector and agreed with the prebuilt binary both ways (each
// verifies the other's hashes and rejects a wrong password). It needs python3, make and a C
// compiler, and Node's headers: node-gyp's download of them, a directory given as
// npm_config_nodedir, or, when neither is at hand, the system Node's (Node-API is stable across
// versions). The binary needs a CPU with AVX2: the note left beside it lets Latchkey refuse to
// start on one without (see src/authorization/argon2-build.ts).
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REQUIRES = ['avx2'];
const CFLAGS = '-mavx2';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nodeModules = join(root, 'node_modules');

function fail(message) {
  process.stderr.write(`argon2:native: ${message}\n`);
  process.exit(1);
}

function say(message) {
  process.stdout.write(`${message}\n`);
}

/** node-gyp as npm bundles it (npm tells its scripts where), else next to the npm on PATH. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  const bundled =
    which && join(dirname(realpathSync(which)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (bundled && existsSync(bundled)) return bundled;
  fail('cannot find node-gyp (it comes with npm); run this as `npm run argon2:native`');
}

/** Extra node-gyp arguments for Node's headers (see the top of this file). */
function headerArgs() {
  if (process.env.npm_config_nodedir) return [];
  const cached = join(
    homedir(),
    '.cache',
    'node-gyp',
    process.versions.node,
    'include',
    'node',
    'common.gypi',
  );
  if (existsSync(cached)) return [];
  if (existsSync('/usr/include/node/common.gypi') && existsSync('/usr/include/node/node_api.h')) {
    say('Using the system Node’s headers in /usr/include/node (Node-API is stable across versions).');
    return ['--nodedir=/usr'];
  }
  return [];
}

// What Latchkey itself knows of the binary and the hash settings, from its build (`npm install`
// makes it; else `npm run build`).
const compiled = join(root, 'dist', 'src', 'authorization');
if (!existsSync(join(compiled, 'argon2-build.js'))) fail('run `npm run build` first (this reads dist/)');
const { NATIVE_BUILD_NOTE, argon2PackageDir, cpuFlags } = await import(
  pathToFileURL(join(compiled, 'argon2-build.js')).href
);
const packageDir = argon2PackageDir();
const release = join(packageDir, 'build', 'Release');

function undo() {
  if (!existsSync(join(release, NATIVE_BUILD_NOTE))) {
    say('No argon2 build of this script is installed: the prebuilt binary is in use.');
    return;
  }
  rmSync(join(packageDir, 'build'), { recursive: true, force: true });
  say('Removed the argon2 build for this CPU: the prebuilt binary is in use again.');
}

// One child process per binary (node-gyp-build decides which binary at load, once per process):
// it hashes RFC 9106's test vector, verifies `hashes` with `password` (and rejects a wrong one),
// makes a hash of its own with `options` (Latchkey's) and times verifications of it.
const CHILD = `
const argon2 = require(process.env.ARGON2_MODULE);
(async () => {
  const tag = await argon2.hash(Buffer.alloc(32, 1), {
    type: argon2.argon2id, raw: true, salt: Buffer.alloc(16, 2), secret: Buffer.alloc(8, 3),
    associatedData: Buffer.alloc(12, 4), memoryCost: 32, timeCost: 3, parallelism: 4, hashLength: 32,
  });
  const input = JSON.parse(process.env.ARGON2_INPUT);
  const verified = [];
  for (const hash of input.hashes) verified.push(await argon2.verify(hash, input.password));
  const rejected = input.hashes.length === 0 || !(await argon2.verify(input.hashes[0], input.password + 'x'));
  const hash = await argon2.hash(input.password, input.options);
  const runs = 20;
  const before = process.cpuUsage();
  for (let i = 0; i < runs; i++) await argon2.verify(hash, input.password);
  const used = process.cpuUsage(before);
  process.stdout.write(JSON.stringify({
    tag: tag.toString('hex'), verified, rejected, hash, ms: (used.user + used.system) / runs / 1000,
  }));
})();
`;

/** RFC 9106 section 5.3: argon2id, 32 KiB, 3 passes, 4 lanes, with secret and associated data. */
const RFC9106_ARGON2ID_TAG = '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659';

function probe(module, env, input) {
  const child = spawnSync(process.execPath, ['-e', CHILD], {
    encoding: 'utf8',
    env: {
      ...process.env,
      ...env,
      NODE_PATH: nodeModules,
      ARGON2_MODULE: module,
      ARGON2_INPUT: JSON.stringify(input),
    },
  });
  if (child.status !== 0) {
    fail(
      `the ${env.PREBUILDS_ONLY ? 'prebuilt' : 'new'} binary failed: ${(child.stderr || `signal ${child.signal}`).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
  return JSON.parse(child.stdout);
}

async function build() {
  const { PASSWORD_HASH_OPTIONS, PASSWORD_HASH_SETTINGS } = await import(
    pathToFileURL(join(compiled, 'accounts.js')).href
  );
  const flags = cpuFlags();
  if (process.arch !== 'x64' || !REQUIRES.every((flag) => flags.has(flag))) {
    say(
      `Nothing to build: this CPU (${process.arch}) has no ${REQUIRES.join(', ')}; the prebuilt binary is the right one here.`,
    );
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'latchkey-argon2-'));
  // Removed however the script ends (fail() exits at once).
  process.once('exit', () => rmSync(work, { recursive: true, force: true }));
  const copy = join(work, 'argon2');
  cpSync(packageDir, copy, {
    recursive: true,
    filter: (source) => !/[\\/](build|prebuilds)$/.test(source),
  });
  say(
    `Compiling argon2 ${JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version} with ${CFLAGS} …`,
  );
  const gyp = spawnSync(
    process.execPath,
    [nodeGyp(), 'rebuild', `--jobs=${availableParallelism()}`, ...headerArgs()],
    {
      cwd: copy,
      encoding: 'utf8',
      env: { ...process.env, CFLAGS: `${process.env.CFLAGS ?? ''} ${CFLAGS}`.trim(), NODE_PATH: nodeModules },
    },
  );
  const binary = join(copy, 'build', 'Release', 'argon2.node');
  if (gyp.status !== 0 || !existsSync(binary)) {
    const log = `${gyp.stdout ?? ''}${gyp.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    fail(`the build failed (node-gyp needs python3, make, a C compiler and Node's headers):\n${log}`);
  }

  const password = `latchkey-check-${process.pid}-${Date.now()}`;
  const options = PASSWORD_HASH_OPTIONS;
  const before = probe(
    join(packageDir, 'argon2.cjs'),
    { PREBUILDS_ONLY: '1' },
    { password, options, hashes: [] },
  );
  const built = probe(join(copy, 'argon2.cjs'), {}, { password, options, hashes: [before.hash] });
  const after = probe(
    join(packageDir, 'argon2.cjs'),
    { PREBUILDS_ONLY: '1' },
    { password, options, hashes: [built.hash] },
  );
  const problems = [];
  if (before.tag !== RFC9106_ARGON2ID_TAG)
    problems.push('the prebuilt binary does not reproduce RFC 9106’s test vector');
  if (built.tag !== RFC9106_ARGON2ID_TAG)
    problems.push('the new binary does not reproduce RFC 9106’s test vector');
  if (!built.verified[0]) problems.push('the new binary rejects a hash of the prebuilt one');
  if (!after.verified[0]) problems.push('the prebuilt binary rejects a hash of the new one');
  if (!built.rejected || !after.rejected) problems.push('a wrong password was accepted');
  if (problems.length > 0) {
    fail(`the new binary is not installed: ${problems.join('; ')}`);
  }
  say(
    'Checked: RFC 9106 test vector, and each binary verifies the other’s hashes and rejects a wrong password.',
  );
  say(
    `CPU per verification at Latchkey's ${PASSWORD_HASH_SETTINGS}: prebuilt ${before.ms.toFixed(1)} ms, ` +
      `built for this CPU ${built.ms.toFixed(1)} ms (${(before.ms / built.ms).toFixed(2)}× as fast).`,
  );
  return { binary };
}

const args = process.argv.slice(2);
const unknown = args.filter((arg) => !['--check', '--undo'].includes(arg));
if (unknown.length > 0) fail(`unknown option ${unknown[0]}; use --check or --undo`);
if (args.includes('--undo')) {
  undo();
} else {
  const result = await build();
  if (result && !args.includes('--check')) {
    mkdirSync(release, { recursive: true });
    cpSync(result.binary, join(release, 'argon2.node'));
    const note = { requires: REQUIRES, cflags: CFLAGS, builtAt: new Date().toISOString() };
    writeFileSync(join(release, NATIVE_BUILD_NOTE), `${JSON.stringify(note, null, 2)}\n`);
    say(
      `Installed in ${release}. Restart Latchkey to use it; \`npm run argon2:native -- --undo\` goes back.`,
    );
  }
}
