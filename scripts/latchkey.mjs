#!/usr/bin/env node
// The `latchkey` admin CLI (the package's bin): runs the compiled CLI in dist/ (`npm run build`).
// A missing build or a Node.js without node:sqlite is reported in one line, not a stack.
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  const reason =
    error?.code === 'ERR_UNKNOWN_BUILTIN_MODULE' ? `Node.js ${process.version} is too old` : error?.message;
  process.stderr.write(
    `latchkey: cannot load the CLI (${reason}); run \`npm run build\`, on Node.js 22.18 or later\n`,
  );
  process.exitCode = 1;
}

if (cli) {
  process.exitCode = await cli.runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  });
}
