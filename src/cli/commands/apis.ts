// `latchkey apis …`: the APIs (resource servers) clients may ask tokens for with RFC 8707
// `resource`, each with its scopes, token format and token lifetime.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ApiRecord } from '../../store/types.js';
import { NotFoundError } from '../errors.js';
import {
  formatPairs,
  formatTable,
  subcommand,
  writeJson,
  writeLines,
  type CliIo,
  type OutputOptions,
} from '../io.js';
import { withSession } from '../session.js';

interface AddOptions extends OutputOptions {
  identifier: string;
  scope: string;
  format?: 'jwt' | 'opaque';
  ttl?: number;
  alg?: 'RS256' | 'ES256';
  name?: string;
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
    created: new Date(api.createdAt).toISOString(),
  };
}

export function registerApis(program: Command, io: CliIo): void {
  const apis = program
    .command('apis')
    .description('register the APIs (resource servers) tokens are issued for');

  subcommand(apis, 'add', 'register an API')
    .requiredOption('--identifier <uri>', 'the resource indicator clients send, an absolute URI (RFC 8707)')
    .requiredOption('--scope <scopes>', 'space-separated scopes the API accepts, e.g. "read write"')
    .addOption(new Option('--format <format>', 'access token format').choices(['jwt', 'opaque']))
    .option('--ttl <seconds>', 'access token lifetime in seconds (default 3600)', seconds)
    .addOption(
      new Option('--alg <alg>', 'JWS algorithm of JWT access tokens (default RS256)').choices([
        'RS256',
        'ES256',
      ]),
    )
    .option('--name <name>', 'a name for people')
    .action((options: AddOptions) =>
      withSession(io, async ({ services }) => {
        const api = apiView(
          await services.apis.add({
            identifier: options.identifier,
            scope: options.scope,
            format: options.format,
            ttl: options.ttl,
            signingAlg: options.alg,
            name: options.name,
          }),
        );
        if (options.json) writeJson(io, api);
        else writeLines(io, formatPairs(api));
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

  subcommand(apis, 'remove', 'remove an API')
    .argument('<uri>', 'API identifier')
    .action((identifier: string, options: OutputOptions) =>
      withSession(io, async ({ services }) => {
        if (!(await services.apis.remove(identifier))) throw new NotFoundError('API', identifier);
        if (options.json) writeJson(io, { identifier, removed: true });
        else writeLines(io, [`removed API ${identifier}`]);
      }),
    );
}
