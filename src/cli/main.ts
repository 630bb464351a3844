// The admin CLI (`latchkey …`, `npm run --silent cli -- …`): commander parses, the command files
// under ./commands call the same services the server uses. runCli never exits the process, so
// tests run it in-process with their own streams and environment.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerApis } from './commands/apis.js';
import { registerClients } from './commands/clients.js';
import { registerDb } from './commands/db.js';
import { registerKeys } from './commands/keys.js';
import { registerUsers } from './commands/users.js';
import { registerVault } from './commands/vault.js';
import { errorLine } from './errors.js';
import type { CliIo } from './io.js';

export type { CliIo } from './io.js';

/** Usage errors (unknown option, missing argument ...) exit 2; a command that fails exits 1. */
const USAGE_ERROR = 2;
const FAILURE = 1;

function buildProgram(io: CliIo): Command {
  const program = new Command('latchkey')
    .description('Latchkey admin: client applications, users, APIs, signing keys and the store')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's message ("error: unknown option '--x'", maybe a suggestion) as one line.
      outputError: (text, write) =>
        write(
          `latchkey: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    });
  // Subcommands made with .command() inherit exitOverride and configureOutput.
  registerClients(program, io);
  registerUsers(program, io);
  registerApis(program, io);
  registerVault(program, io);
  registerKeys(program, io);
  registerDb(program, io);
  return program;
}

/** Runs one command line (without `node latchkey`); resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // Commander has already printed its message (or the help that was asked for).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_ERROR;
    io.stderr.write(`latchkey: ${errorLine(error)}\n`);
    return FAILURE;
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  });
}
