// /clients/{id}/grants: which APIs a client may get tokens for, with which scopes, through the
// same ClientGrantService as `latchkey clients grant | ungrant`. The API is named in the body or
// the query, never in the path: API identifiers are URLs.
import { grantView } from '../../authorization/client-grants.js';
import { NotFoundError } from '../../authorization/errors.js';
import { route, type AdminRoute } from '../route-table.js';
import { Grant, GrantInput, GrantList, GrantQuery, GrantRemoval } from '../schemas/clients.js';
import type { AdminDeps } from '../types.js';
import { ClientPath } from './clients.js';

export function clientGrantRoutes({ services }: AdminDeps): AdminRoute[] {
  const { clients, grants } = services;
  return [
    route({
      operationId: 'listClientGrants',
      method: 'get',
      path: '/clients/{id}/grants',
      scope: 'admin:read',
      tag: 'client grants',
      summary: 'List a client’s API grants',
      params: ClientPath,
      answer: { status: 200, description: 'Its grants.', schema: GrantList },
      errors: [404],
      handle: async ({ params }) => {
        if (!(await clients.show(params.id))) throw new NotFoundError('client', params.id);
        return { data: (await grants.list(params.id)).map(grantView) };
      },
    }),
    route({
      operationId: 'grantClient',
      method: 'put',
      path: '/clients/{id}/grants',
      scope: 'admin:write',
      tag: 'client grants',
      summary: 'Grant a client an API with these scopes',
      description:
        'Replaces the client’s earlier grant for the same API. Applies from the client’s next token request; tokens issued before keep what they carry until they expire.',
      params: ClientPath,
      body: GrantInput,
      answer: { status: 200, description: 'The grant.', schema: Grant },
      errors: [404],
      handle: async ({ params, body }) => grantView(await grants.grant(params.id, body.api, body.scope)),
    }),
    route({
      operationId: 'ungrantClient',
      method: 'delete',
      path: '/clients/{id}/grants',
      scope: 'admin:write',
      tag: 'client grants',
      summary: 'Take a client’s grant for an API away',
      params: ClientPath,
      query: GrantQuery,
      answer: { status: 200, description: 'The grant is gone.', schema: GrantRemoval },
      errors: [404],
      handle: async ({ params, query }) => {
        if (!(await grants.ungrant(params.id, query.api)))
          throw new NotFoundError(`grant of ${query.api} to client`, params.id);
        return { client_id: params.id, api: query.api, removed: true };
      },
    }),
  ];
}
