// `latchkey vault integrations add|list|remove`: an admin configures an app's upstream providers
// (the same service the vault API uses; the secret is sealed and never printed back).
import type { Command } from 'commander';
import { IntegrationService, integrationView } from '../../vault/integrations.js';
import { createOutboundClient } from '../../web/outbound.js';
import {
  collect,
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

interface AddOptions extends OutputOptions {
  app: string;
  key: string;
  provider: string;
  clientId: string;
  clientSecretStdin?: boolean;
  clientSecret?: string;
  scope?: string[];
  issuer?: string;
  param?: string[];
}

function parameters(pairs: string[] = []): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`--param takes name=value, got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

export function registerVault(program: Command, io: CliIo): void {
  const vault = program
    .command('vault')
    .description(
      'the token vault: apps\u2019 integrations with other providers (an app calls the vault API only with ' +
        'the scopes granted to it: `clients grant ID --api $ISSUER/vault --scope "vault:connect ..."`; ' +
        'no client holds any, vault:admin included, until granted)',
    );
  const integrations = vault
    .command('integrations')
    .description('an app\u2019s configurations of upstream providers');

  subcommand(integrations, 'add', 'configure a provider for an app')
    .requiredOption('--app <client_id>', 'the Latchkey client id of the app that owns it')
    .requiredOption('--key <key>', 'the app\u2019s name for the integration, used in vault routes')
    .requiredOption('--provider <name>', 'catalog provider (google, github, slack, oidc, ...)')
    .requiredOption('--client-id <id>', 'the app\u2019s client id at the provider')
    .option(
      '--client-secret <secret>',
      'the app\u2019s client secret at the provider (prefer --client-secret-stdin)',
    )
    .option('--client-secret-stdin', 'read the client secret from standard input')
    .option('--scope <scope>', 'a scope to request (repeatable)', collect)
    .option('--issuer <url>', 'issuer URL (the oidc provider)')
    .option('--param <name=value>', 'an extra authorization request parameter (repeatable)', collect)
    .action((options: AddOptions) =>
      withSession(io, async ({ store, keyring, config }) => {
        const secret = options.clientSecretStdin
          ? (await readAll(io.stdin)).replace(/\r?\n$/, '')
          : options.clientSecret;
        // The issuer is checked against the outbound rules, as the vault API checks it.
        const outbound = createOutboundClient({ allowPrivate: config.outboundAllowPrivate });
        const record = await new IntegrationService(store, keyring, outbound).create(options.app, {
          key: options.key,
          provider: options.provider,
          clientId: options.clientId,
          clientSecret: secret,
          scopes: options.scope,
          issuer: options.issuer,
          authorizationParams: parameters(options.param),
        });
        const view = {
          app: options.app,
          ...integrationView(record),
          redirect_uri: `${config.issuer}/vault/callback`,
        };
        if (options.json) writeJson(io, view);
        else writeLines(io, formatPairs(view));
      }),
    );

  subcommand(integrations, 'list', 'list an app\u2019s integrations')
    .requiredOption('--app <client_id>', 'the app')
    .action((options: OutputOptions & { app: string }) =>
      withSession(io, async ({ store, keyring }) => {
        const list = (await new IntegrationService(store, keyring).list(options.app)).map(integrationView);
        if (options.json) return writeJson(io, list);
        const rows = list.map((entry) => [
          entry.key,
          entry.provider,
          entry.client_id,
          entry.scopes.join(' '),
        ]);
        writeLines(io, formatTable(['KEY', 'PROVIDER', 'CLIENT ID', 'SCOPES'], rows, 'no integrations'));
      }),
    );

  subcommand(integrations, 'remove', 'remove an integration and its connections')
    .requiredOption('--app <client_id>', 'the app')
    .argument('<key>', 'the integration')
    .action((key: string, options: OutputOptions & { app: string }) =>
      withSession(io, async ({ store, keyring }) => {
        await new IntegrationService(store, keyring).remove(options.app, key);
        if (options.json) writeJson(io, { app: options.app, key, removed: true });
        else writeLines(io, [`removed integration ${key}`]);
      }),
    );
}
