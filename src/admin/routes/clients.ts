// /clients: register, list, show, change, rotate the secret of, and remove client applications,
// through the same ClientService as `latchkey clients`.
import { z } from 'zod';
import type { ClientChanges, ClientView } from '../../authorization/clients.js';
import { NotFoundError } from '../../authorization/errors.js';
import { paginate } from '../pagination.js';
import { route, type AdminRoute } from '../route-table.js';
import {
  ClientCreate,
  ClientDetail,
  ClientPage,
  ClientRemoval,
  ClientUpdate,
  ClientWithSecret,
} from '../schemas/clients.js';
import { PageQuery, recordId } from '../schemas/common.js';
import type { AdminDeps } from '../types.js';

export const ClientPath = z.object({ id: recordId.meta({ description: 'The client_id.' }) }).strict();

type ClientInput = z.infer<typeof ClientCreate> | z.infer<typeof ClientUpdate>;

/** The body's metadata names as the service's registration fields (only those given). */
function registrationOf(input: ClientInput): ClientChanges {
  const fields = {
    name: input.client_name,
    redirectUris: input.redirect_uris,
    grantTypes: input.grant_types,
    scope: input.scope,
    apis: input.apis,
    postLogoutRedirectUris: input.post_logout_redirect_uris,
    firstParty: input.first_party,
    resourceServers: input.resource_servers,
    backchannelLogoutUri: input.backchannel_logout_uri,
    logoUri: input.logo_uri,
    clientUri: input.client_uri,
    policyUri: input.policy_uri,
    tosUri: input.tos_uri,
    accessTokenTtl: input.access_token_ttl,
    refreshTokenTtl: input.refresh_token_ttl,
  };
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as ClientChanges;
}

function found<T>(value: T | undefined, clientId: string): T {
  if (value === undefined) throw new NotFoundError('client', clientId);
  return value;
}

const createdAt = (client: ClientView) => Date.parse(String(client.created_at)) || 0;

export function clientRoutes({ services, validateClient }: AdminDeps): AdminRoute[] {
  const { clients } = services;
  return [
    route({
      operationId: 'listClients',
      method: 'get',
      path: '/clients',
      scope: 'admin:read',
      tag: 'clients',
      summary: 'List client applications',
      query: PageQuery,
      answer: { status: 200, description: 'A page of clients (never their secrets).', schema: ClientPage },
      handle: async ({ query }) =>
        paginate(await clients.list(), (client) => [createdAt(client), client.client_id], query),
    }),
    route({
      operationId: 'createClient',
      method: 'post',
      path: '/clients',
      scope: 'admin:write',
      tag: 'clients',
      summary: 'Register a client application',
      description:
        'A confidential client gets a `client_secret`, shown in this answer only. API scopes in `scope` become client grants.',
      body: ClientCreate,
      answer: { status: 201, description: 'The client, with its secret (once).', schema: ClientWithSecret },
      errors: [404, 409],
      handle: ({ body }) =>
        clients.add({ ...registrationOf(body), name: body.client_name, public: body.public }, validateClient),
    }),
    route({
      operationId: 'getClient',
      method: 'get',
      path: '/clients/{id}',
      scope: 'admin:read',
      tag: 'clients',
      summary: 'Show a client and its API grants',
      params: ClientPath,
      answer: { status: 200, description: 'The client (never its secret).', schema: ClientDetail },
      errors: [404],
      handle: async ({ params }) => found(await clients.show(params.id), params.id),
    }),
    route({
      operationId: 'updateClient',
      method: 'patch',
      path: '/clients/{id}',
      scope: 'admin:write',
      tag: 'clients',
      summary: 'Change a client',
      description: 'Only the fields given change. `scope` replaces the client’s scopes and its API grants.',
      params: ClientPath,
      body: ClientUpdate,
      answer: { status: 200, description: 'The client as it is now.', schema: ClientDetail },
      errors: [404],
      handle: ({ params, body }) => clients.update(params.id, registrationOf(body), validateClient),
    }),
    route({
      operationId: 'removeClient',
      method: 'delete',
      path: '/clients/{id}',
      scope: 'admin:write',
      tag: 'clients',
      summary: 'Remove a client with everything it holds',
      description:
        'Revokes its tokens, codes and user grants, and removes its API grants and vault integrations.',
      params: ClientPath,
      answer: { status: 200, description: 'What went with it.', schema: ClientRemoval },
      errors: [404],
      handle: async ({ params }) => found(await clients.remove(params.id), params.id),
    }),
    route({
      operationId: 'rotateClientSecret',
      method: 'post',
      path: '/clients/{id}/rotate-secret',
      scope: 'admin:write',
      tag: 'clients',
      summary: 'Replace a confidential client’s secret',
      description: 'The old secret stops working at once. The new one is shown in this answer only.',
      params: ClientPath,
      answer: {
        status: 200,
        description: 'The client with its new secret (once).',
        schema: ClientWithSecret,
      },
      errors: [404],
      handle: async ({ params }) => found(await clients.rotateSecret(params.id), params.id),
    }),
  ];
}
