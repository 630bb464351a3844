// `latchkey apis …`: the APIs (resource servers) clients may ask tokens for with RFC 8707
// `resource`, each with its scopes, token format and token lifetime.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseScopeDescriptions, type ApiChanges } from '../../authorization/apis.js';
import type { ApiRecord } from '../../store/types.js';
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
import { withSession } from '../session.js';

interface ApiOptions extends OutputOptions {
  scope?: string;
  format?: 'jwt' | 'opaque';
  ttl?: number;
  alg?: 'RS256' | 'ES256';
  name?: string;
  scopeDescription?: string[];
  userConsentScope?: string;
}

interface AddOptions extends ApiOptions {
  identifier: string;
  scope: string;
}

/** The options add and update share; update changes only those given. */
function apiOptions(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'access token format').choices(['jwt', 'opaque']))
    .option('--ttl <seconds>', 'access token lifetime in seconds (default 3600)', seconds)
    .addOption(
      new Option('--alg <alg>', 'JWS algorithm of JWT access tokens (default RS256)').choices([
        'RS256',
        'ES256',
      ]),
    )
    .option('--name <name>', 'a name for people')
    .option(
      '--scope-description <scope=text>',
      'what a scope lets an app do, in words for the consent page (repeatable)',
      collect,
    )
    .option(
      '--user-consent-scope <scopes>',
      'scopes any app may get with a user’s consent alone, without a client grant (default none)',
    );
}

function changesFrom(options: ApiOptions): ApiChanges {
  const changes: ApiChanges = {
    scope: options.scope,
    format: options.format,
    ttl: options.ttl,
    signingAlg: options.alg,
    name: options.name,
    scopeDescriptions: options.scopeDescription
      ? parseScopeDescriptions(options.scopeDescription)
      : undefined,
    userConsentScopes: options.userConsentScope,
  };
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
}

function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds');
  return Number(value);
}

function apiView(api: ApiRecord) {
  return {
    identifier: api.identifier,
    ...(api.name ? { name: api.name } : {}),
    scope: api.scope,
    format: api.format,
    ...(api.signingAlg ? { alg: api.signingAlg } : {}),
    ttl: api.accessTokenTtl,
    ...(api.scopeDescriptions ? { scope_descriptions: api.scopeDescriptions } : {}),
    ...(api.userConsentScopes ? { user_consent_scope: api.userConsentScopes.join(' ') } : {}),
    created: new Date(api.createdAt).toISOString(),
    ...(api.updatedAt ? { updated: new Date(api.updatedAt).toISOString() } : {}),
  };
}

export function registerApis(program: Command, io: CliIo): void {
  const apis = program
    .command('apis')
    .description('register the APIs (resource servers) tokens are issued for');

  apiOptions(
    subcommand(apis, 'add', 'register an API')
      .requiredOption('--identifier <uri>', 'the resource indicator clients send, an absolute URI (RFC 8707)')
      .requiredOption('--scope <scopes>', 'space-separated scopes the API accepts, e.g. "read write"'),
  ).action((options: AddOptions) =>
    withSession(io, async ({ services }) => {
      const api = apiView(
        await services.apis.add({
          ...changesFrom(options),
          identifier: options.identifier,
          scope: options.scope,
        }),
      );
      if (options.json) writeJson(io, api);
      else writeLines(io, formatPairs(api));
    }),
  );

  subcommand(apis, 'show', 'show one API and the clients granted it')
    .argument('<uri>', 'API identifier')
    .action((identifier: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        const api = await services.apis.show(identifier);
        if (!api) throw new NotFoundError('API', identifier);
        const grants = (await services.grants.listByApi(identifier)).map((grant) => ({
          client_id: grant.clientId,
          scope: grant.scopes.join(' '),
        }));
        if (options.json) return writeJson(io, { ...apiView(api), grants });
        writeLines(
          io,
          formatPairs({
            ...apiView(api),
            grants: grants.map((grant) => `${grant.client_id} (${grant.scope})`),
          }),
        );
      }),
    );

  apiOptions(
    subcommand(apis, 'update', 'change an API (only the options given); scopes taken away leave every grant')
      .argument('<uri>', 'API identifier')
      .option('--scope <scopes>', 'space-separated scopes the API accepts (replaces them)'),
  ).action((identifier: string, options: ApiOptions) =>
    withSession(io, async ({ services }) => {
      const changes = changesFrom(options);
      if (Object.keys(changes).length === 0) throw new Error('nothing to change: give at least one option');
      const api = await services.apis.update(identifier, changes);
      if (!api) throw new NotFoundError('API', identifier);
      if (options.json) writeJson(io, apiView(api));
      else writeLines(io, formatPairs(apiView(api)));
    }),
  );

  subcommand(apis, 'list', 'list registered APIs').action((options: OutputOptions) =>
    withSession(io, async ({ services }) => {
      const list = (await services.apis.list()).map(apiView);
      if (options.json) return writeJson(io, list);
      const rows = list.map((api) => [api.identifier, api.scope, api.format, api.ttl, api.name]);
      writeLines(io, formatTable(['IDENTIFIER', 'SCOPE', 'FORMAT', 'TTL', 'NAME'], rows, 'no APIs'));
    }),
  );

  subcommand(apis, 'remove', 'remove an API (refused while clients hold grants for it, unless --force)')
    .argument('<uri>', 'API identifier')
    .option('--force', 'remove the clients’ grants for it too')
    .action((identifier: string, options: OutputOptions & { force?: boolean }) =>
      withSession(io, async ({ services }) => {
        if (!(await services.apis.remove(identifier, { force: options.force })))
          throw new NotFoundError('API', identifier);
        if (options.json) writeJson(io, { identifier, removed: true });
        else writeLines(io, [`removed API ${identifier}`]);
      }),
    );
}
