// `latchkey clients …`: register client applications, list and show them, rotate a confidential
// client's secret, remove one.
import { CookieKeys } from '../../web/cookie-keys.js';
import type { Command } from 'commander';
import type { AdapterPayload, ClientMetadata } from 'oidc-provider';
import type { ClientView } from '../../authorization/clients.js';
import { createAuthorizationProvider } from '../../authorization/provider.js';
import { NotFoundError } from '../errors.js';
import {
  collect,
  formatPairs,
  formatTable,
  subcommand,
  writeJson,
  writeLines,
  type CliIo,
  type OutputOptions,
} from '../io.js';
import { withSession, type Session } from '../session.js';

interface AddOptions extends OutputOptions {
  name: string;
  redirectUri?: string[];
  public?: boolean;
  grantTypes?: string[];
  scope?: string;
  postLogoutRedirectUri?: string[];
  firstParty?: boolean;
  resourceServer?: string[];
  backchannelLogoutUri?: string;
}

const SECRET_NOTE = '(shown once: it will not be shown again, so store it now)';

/** `--grant-types a,b` and repeated `--grant-types` both collect into one list. */
function grantTypes(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((grant) => grant.trim())
      .filter(Boolean),
  ];
}

/**
 * Checks metadata the way the server will, with the server's own oidc-provider configuration,
 * so that a client it would refuse (a redirect URI with a fragment ...) fails at registration.
 */
async function providerValidation({ config, store, keyring, services }: Session) {
  await services.keys.ensure();
  const provider = createAuthorizationProvider({
    config,
    store,
    keyring,
    ...services,
    jwks: await services.keys.privateJwks(),
    cookieKeys: new CookieKeys(['cli']),
  });
  return (metadata: AdapterPayload) => provider.Client.validate(metadata as ClientMetadata);
}

/** Every field of the client; the secret, when there is one, with a note that it is shown once. */
function describe(client: ClientView): string[] {
  const { client_id: clientId, client_secret: secret, ...metadata } = client;
  const lines = formatPairs({
    client_id: clientId,
    ...(secret ? { client_secret: secret } : {}),
    ...metadata,
  });
  if (secret) {
    const indent = ' '.repeat(lines[1]!.indexOf(secret));
    lines.splice(2, 0, indent + SECRET_NOTE);
  }
  return lines;
}

async function requireClient(found: Promise<ClientView | undefined>, clientId: string): Promise<ClientView> {
  const client = await found;
  if (!client) throw new NotFoundError('client', clientId);
  return client;
}

export function registerClients(program: Command, io: CliIo): void {
  const clients = program.command('clients').description('register and manage client applications');

  subcommand(clients, 'add', 'register a client application (a confidential one gets a secret, shown once)')
    .requiredOption('--name <name>', 'name shown to users on the consent page')
    .option('--redirect-uri <uri>', 'redirect URI (repeatable); required for authorization_code', collect)
    .option('--public', 'a public client (native or browser app): no secret, PKCE')
    .option(
      '--grant-types <grants>',
      'comma-separated: authorization_code,refresh_token,client_credentials,urn:ietf:params:oauth:grant-type:device_code',
      grantTypes,
    )
    .option('--scope <scope>', 'space-separated scopes the client may request')
    .option('--post-logout-redirect-uri <uri>', 'where to return after logout (repeatable)', collect)
    .option('--first-party', 'your own app: no consent page')
    .option(
      '--resource-server <api>',
      'API identifier whose tokens this client may introspect (repeatable)',
      collect,
    )
    .option('--backchannel-logout-uri <uri>', 'OIDC back-channel logout endpoint of the client')
    .action((options: AddOptions) =>
      withSession(io, async (session) => {
        const client = await session.services.clients.add(
          {
            name: options.name,
            redirectUris: options.redirectUri,
            public: options.public,
            grantTypes: options.grantTypes,
            scope: options.scope,
            postLogoutRedirectUris: options.postLogoutRedirectUri,
            firstParty: options.firstParty,
            resourceServers: options.resourceServer,
            backchannelLogoutUri: options.backchannelLogoutUri,
          },
          await providerValidation(session),
        );
        if (options.json) writeJson(io, client);
        else writeLines(io, describe(client));
      }),
    );

  subcommand(clients, 'list', 'list client applications').action((options: OutputOptions) =>
    withSession(io, async ({ services }) => {
      const list = await services.clients.list();
      if (options.json) return writeJson(io, list);
      const rows = list.map((client) => [
        client.client_id,
        client.client_name,
        client.token_endpoint_auth_method === 'none' ? 'public' : 'confidential',
        client.grant_types,
      ]);
      writeLines(io, formatTable(['CLIENT ID', 'NAME', 'TYPE', 'GRANT TYPES'], rows, 'no clients'));
    }),
  );

  subcommand(clients, 'show', 'show one client application (never its secret)')
    .argument('<id>', 'client_id')
    .action((clientId: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        const client = await requireClient(services.clients.show(clientId), clientId);
        if (options.json) writeJson(io, client);
        else writeLines(io, describe(client));
      }),
    );

  subcommand(
    clients,
    'rotate-secret',
    'replace a confidential client’s secret at once (the old one stops working)',
  )
    .argument('<id>', 'client_id')
    .action((clientId: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        const client = await requireClient(services.clients.rotateSecret(clientId), clientId);
        if (options.json) writeJson(io, client);
        else
          writeLines(
            io,
            formatPairs({ client_id: client.client_id, client_secret: client.client_secret }).concat(
              SECRET_NOTE,
            ),
          );
      }),
    );

  subcommand(clients, 'remove', 'remove a client application')
    .argument('<id>', 'client_id')
    .action((clientId: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        if (!(await services.clients.remove(clientId))) throw new NotFoundError('client', clientId);
        if (options.json) writeJson(io, { client_id: clientId, removed: true });
        else writeLines(io, [`removed client ${clientId}`]);
      }),
    );
}
