// `latchkey clients …`: register client applications, list, show and change them, grant them
// APIs, rotate a confidential client's secret, remove one with everything it holds.
import { CookieKeys } from '../../web/cookie-keys.js';
import { InvalidArgumentError, type Command } from 'commander';
import type { AdapterPayload, ClientMetadata } from 'oidc-provider';
import { grantView } from '../../authorization/client-grants.js';
import type { ClientChanges, ClientRegistration, ClientView } from '../../authorization/clients.js';
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

interface ClientOptions extends OutputOptions {
  name?: string;
  redirectUri?: string[];
  grantTypes?: string[];
  scope?: string;
  api?: string[];
  postLogoutRedirectUri?: string[];
  firstParty?: boolean;
  resourceServer?: string[];
  backchannelLogoutUri?: string;
  logoUri?: string;
  clientUri?: string;
  policyUri?: string;
  tosUri?: string;
  accessTokenTtl?: number;
  refreshTokenTtl?: number;
}

interface AddOptions extends ClientOptions {
  name: string;
  public?: boolean;
}

interface GrantOptions extends OutputOptions {
  api: string;
  scope: string;
}

function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds');
  return Number(value);
}

/** The options `add` and `update` share; `update` changes only those given. */
function clientOptions(command: Command, forUpdate: boolean): Command {
  const scopeHelp = forUpdate
    ? 'replace the client’s scopes: OpenID Connect ones, and API scopes (its grants for those APIs)'
    : 'space-separated scopes: OpenID Connect ones (openid profile email offline_access) and scopes of registered APIs, which become grants';
  return command
    .option('--redirect-uri <uri>', 'redirect URI (repeatable); required for authorization_code', collect)
    .option(
      '--grant-types <grants>',
      'comma-separated: authorization_code,refresh_token,client_credentials,urn:ietf:params:oauth:grant-type:device_code',
      grantTypes,
    )
    .option('--scope <scope>', scopeHelp)
    .option(
      '--api <uri>',
      'the API a --scope scope belongs to, where two APIs share its name (repeatable)',
      collect,
    )
    .option('--post-logout-redirect-uri <uri>', 'where to return after logout (repeatable)', collect)
    .option('--first-party', 'your own app: no consent page')
    .option(
      '--resource-server <api>',
      'API identifier whose tokens this client may introspect (repeatable)',
      collect,
    )
    .option('--backchannel-logout-uri <uri>', 'OIDC back-channel logout endpoint of the client')
    .option('--logo-uri <url>', 'logo shown on the consent page')
    .option('--client-uri <url>', 'the app’s home page, shown on the consent page')
    .option('--policy-uri <url>', 'the app’s privacy policy, linked from the consent page')
    .option('--tos-uri <url>', 'the app’s terms of service, linked from the consent page')
    .option(
      '--access-token-ttl <seconds>',
      'lifetime of its access tokens (at most an API’s own --ttl for that API’s tokens)',
      seconds,
    )
    .option('--refresh-token-ttl <seconds>', 'lifetime of its refresh tokens', seconds);
}

function registrationFrom(options: ClientOptions): ClientChanges {
  const changes: ClientChanges = {
    name: options.name,
    redirectUris: options.redirectUri,
    grantTypes: options.grantTypes,
    scope: options.scope,
    apis: options.api,
    postLogoutRedirectUris: options.postLogoutRedirectUri,
    firstParty: options.firstParty,
    resourceServers: options.resourceServer,
    backchannelLogoutUri: options.backchannelLogoutUri,
    logoUri: options.logoUri,
    clientUri: options.clientUri,
    policyUri: options.policyUri,
    tosUri: options.tosUri,
    accessTokenTtl: options.accessTokenTtl,
    refreshTokenTtl: options.refreshTokenTtl,
  };
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
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
  const { client_id: clientId, client_secret: secret, grants, ...metadata } = client;
  const lines = formatPairs({
    client_id: clientId,
    ...(secret ? { client_secret: secret } : {}),
    ...metadata,
    ...(grants ? { grants: grants.map((grant) => `${grant.api} (${grant.scope})`) } : {}),
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

  clientOptions(
    subcommand(clients, 'add', 'register a client application (a confidential one gets a secret, shown once)')
      .requiredOption('--name <name>', 'name shown to users on the consent page')
      .option('--public', 'a public client (native or browser app): no secret, PKCE'),
    false,
  ).action((options: AddOptions) =>
    withSession(io, async (session) => {
      const registration: ClientRegistration = {
        ...registrationFrom(options),
        name: options.name,
        public: options.public,
      };
      const client = await session.services.clients.add(registration, await providerValidation(session));
      if (options.json) writeJson(io, client);
      else writeLines(io, describe(client));
    }),
  );

  clientOptions(
    subcommand(clients, 'update', 'change a client application (only the options given)')
      .argument('<id>', 'client_id')
      .option('--name <name>', 'name shown to users on the consent page'),
    true,
  )
    // After --first-party: commander leaves the default unset only when the positive form comes first.
    .option('--no-first-party', 'a third-party app again: users see the consent page')
    .action((clientId: string, options: ClientOptions) =>
      withSession(io, async (session) => {
        const changes = registrationFrom(options);
        if (Object.keys(changes).length === 0) throw new Error('nothing to change: give at least one option');
        const client = await session.services.clients.update(
          clientId,
          changes,
          await providerValidation(session),
        );
        if (options.json) writeJson(io, client);
        else writeLines(io, describe(client));
      }),
    );

  subcommand(
    clients,
    'grant',
    'let a client get tokens for an API, with these scopes (replaces an earlier grant for it)',
  )
    .argument('<id>', 'client_id')
    .requiredOption('--api <uri>', 'the API identifier')
    .requiredOption('--scope <scopes>', 'space-separated scopes of that API')
    .action((clientId: string, options: GrantOptions) =>
      withSession(io, async ({ services }) => {
        const grant = grantView(await services.grants.grant(clientId, options.api, options.scope));
        if (options.json) writeJson(io, grant);
        else writeLines(io, [`granted ${grant.client_id} ${grant.scope} on ${grant.api}`]);
      }),
    );

  subcommand(clients, 'ungrant', 'take a client’s grant for an API away (from its next token request on)')
    .argument('<id>', 'client_id')
    .requiredOption('--api <uri>', 'the API identifier')
    .action((clientId: string, options: Omit<GrantOptions, 'scope'>) =>
      withSession(io, async ({ services }) => {
        if (!(await services.grants.ungrant(clientId, options.api)))
          throw new NotFoundError('grant of that API to client', clientId);
        if (options.json) writeJson(io, { client_id: clientId, api: options.api, removed: true });
        else writeLines(io, [`took ${options.api} away from ${clientId}`]);
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

  subcommand(clients, 'remove', 'remove a client application, its grants, tokens and vault connections')
    .argument('<id>', 'client_id')
    .action((clientId: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        const removal = await services.clients.remove(clientId);
        if (!removal) throw new NotFoundError('client', clientId);
        if (options.json) writeJson(io, removal);
        else
          writeLines(io, [
            `removed client ${clientId} (${removal.revoked_records} tokens, codes and grants revoked; ${removal.client_grants} API grants and ${removal.vault_integrations} vault integrations removed)`,
          ]);
      }),
    );
}
