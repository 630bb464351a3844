#!/usr/bin/env node
// The `latchkey` admin CLI (the package's bin): runs the compiled CLI in dist/ (`npm run build`).
import { runCli } from '../dist/src/cli/main.js';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
