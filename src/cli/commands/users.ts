// `latchkey users …`: built-in accounts. Passwords come from an option or, better (not in the
// shell history or the process list), from stdin; only argon2id hashes are stored, never shown.
import { Option, type Command } from 'commander';
import type { AccountRecord } from '../../store/types.js';
import { NotFoundError } from '../errors.js';
import {
  formatPairs,
  formatTable,
  readAll,
  subcommand,
  writeJson,
  writeLines,
  type CliIo,
  type OutputOptions,
} from '../io.js';
import { withSession } from '../session.js';

interface PasswordOptions extends OutputOptions {
  password?: string;
  passwordStdin?: boolean;
}

interface AddOptions extends PasswordOptions {
  email: string;
  name: string;
}

function withPasswordOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--password <password>',
        'the password (visible to other local users: prefer --password-stdin)',
      ).conflicts('passwordStdin'),
    )
    .addOption(
      new Option('--password-stdin', 'read the password from stdin (one trailing newline is dropped)'),
    );
}

/** The password from --password or stdin; neither is a usage error (exit 2). */
async function passwordFrom(io: CliIo, options: PasswordOptions, command: Command): Promise<string> {
  if (options.password !== undefined) return options.password;
  if (options.passwordStdin) return (await readAll(io.stdin)).replace(/\r?\n$/, '');
  return command.error('one of --password or --password-stdin is required', { exitCode: 2 });
}

/** What an admin may see of an account: never the hash. */
function userView(account: AccountRecord) {
  return {
    id: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name,
    disabled: account.disabled === true,
    created: new Date(account.createdAt).toISOString(),
    updated: new Date(account.updatedAt).toISOString(),
  };
}

interface UpdateOptions extends OutputOptions {
  email?: string;
  name?: string;
  emailVerified?: boolean;
}

export function registerUsers(program: Command, io: CliIo): void {
  const users = program.command('users').description('manage accounts that sign in with a password');

  withPasswordOptions(
    subcommand(users, 'add', 'create an account')
      .requiredOption('--email <email>', 'email address (unique, used to sign in)')
      .requiredOption('--name <name>', 'display name'),
  ).action(async (options: AddOptions, command: Command) => {
    const password = await passwordFrom(io, options, command);
    await withSession(io, async ({ services }) => {
      const account = await services.accounts.create({ email: options.email, name: options.name, password });
      if (options.json) writeJson(io, { id: account.id, email: account.email });
      else writeLines(io, [`created user ${account.id} <${account.email}>`]);
    });
  });

  subcommand(users, 'list', 'list accounts').action((options: OutputOptions) =>
    withSession(io, async ({ services }) => {
      const list = (await services.accounts.list()).map(userView);
      if (options.json) return writeJson(io, list);
      const rows = list.map((user) => [user.id, user.email, user.name, user.created]);
      writeLines(io, formatTable(['ID', 'EMAIL', 'NAME', 'CREATED'], rows, 'no users'));
    }),
  );

  subcommand(users, 'show', 'show one account (never its password hash)')
    .argument('<id>', 'user id')
    .action((id: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        const account = await services.accounts.get(id);
        if (!account) throw new NotFoundError('user', id);
        if (options.json) writeJson(io, userView(account));
        else writeLines(io, formatPairs(userView(account)));
      }),
    );

  subcommand(users, 'update', 'change an account’s email, name or email verification')
    .argument('<id>', 'user id')
    .option('--email <email>', 'new email address')
    .option('--name <name>', 'new display name')
    .option('--email-verified', 'mark the email address verified')
    .option('--no-email-verified', 'mark the email address not verified')
    .action((id: string, options: UpdateOptions) =>
      withSession(io, async ({ services }) => {
        if (options.email === undefined && options.name === undefined && options.emailVerified === undefined)
          throw new Error('nothing to change: give at least one option');
        const account = await services.accounts.update(id, options);
        if (!account) throw new NotFoundError('user', id);
        if (options.json) writeJson(io, userView(account));
        else writeLines(io, formatPairs(userView(account)));
      }),
    );

  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    subcommand(
      users,
      name,
      disabled
        ? 'stop an account signing in; ends its sessions and revokes its tokens'
        : 'let an account sign in again',
    )
      .argument('<id>', 'user id')
      .action((id: string, options: OutputOptions) =>
        withSession(io, async ({ services }) => {
          const account = await services.accounts.setDisabled(id, disabled);
          if (!account) throw new NotFoundError('user', id);
          if (options.json) writeJson(io, userView(account));
          else writeLines(io, [`${disabled ? 'disabled' : 'enabled'} user ${id}`]);
        }),
      );
  }

  subcommand(users, 'remove', 'remove an account, its sessions and its tokens')
    .argument('<id>', 'user id')
    .action((id: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        if (!(await services.accounts.remove(id))) throw new NotFoundError('user', id);
        if (options.json) writeJson(io, { id, removed: true });
        else writeLines(io, [`removed user ${id}`]);
      }),
    );

  withPasswordOptions(
    subcommand(users, 'set-password', 'set an account’s password').argument('<id>', 'user id'),
  ).action(async (id: string, options: PasswordOptions, command: Command) => {
    const password = await passwordFrom(io, options, command);
    await withSession(io, async ({ services }) => {
      if (!(await services.accounts.setPassword(id, password))) throw new NotFoundError('user', id);
      if (options.json) writeJson(io, { id, updated: true });
      else writeLines(io, [`set the password of user ${id}`]);
    });
  });
}
