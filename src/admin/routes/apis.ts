// /apis: the APIs (resource servers) clients may get tokens for, through the same ApiService as
// `latchkey apis`. One API is addressed by its identifier percent-encoded as one path segment.
import type { z } from 'zod';
import type { ApiChanges } from '../../authorization/apis.js';
import { NotFoundError } from '../../authorization/errors.js';
import { paginate } from '../pagination.js';
import { route, type AdminRoute } from '../route-table.js';
import {
  Api,
  ApiCreate,
  ApiDetail,
  ApiPage,
  ApiPath,
  ApiRemoval,
  ApiRemoveQuery,
  ApiUpdate,
} from '../schemas/apis.js';
import { PageQuery } from '../schemas/common.js';
import type { AdminDeps } from '../types.js';
import { apiHolderView, apiView } from '../views.js';

/** The body's names as the service's (only those given). */
function changesOf(input: z.infer<typeof ApiUpdate>): ApiChanges {
  const changes: ApiChanges = {
    scope: input.scope,
    name: input.name,
    format: input.format,
    signingAlg: input.alg,
    ttl: input.ttl,
    scopeDescriptions: input.scope_descriptions,
    userConsentScopes: input.user_consent_scope,
  };
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as ApiChanges;
}

function found<T>(value: T | undefined, identifier: string): T {
  if (value === undefined) throw new NotFoundError('API', identifier);
  return value;
}

export function apiRoutes({ services }: AdminDeps): AdminRoute[] {
  const { apis, grants } = services;
  return [
    route({
      operationId: 'listApis',
      method: 'get',
      path: '/apis',
      scope: 'admin:read',
      tag: 'apis',
      summary: 'List registered APIs',
      query: PageQuery,
      answer: { status: 200, description: 'A page of APIs.', schema: ApiPage },
      handle: async ({ query }) =>
        paginate(
          (await apis.list()).map(apiView),
          (api) => [Date.parse(api.created_at), api.identifier],
          query,
        ),
    }),
    route({
      operationId: 'createApi',
      method: 'post',
      path: '/apis',
      scope: 'admin:write',
      tag: 'apis',
      summary: 'Register an API',
      body: ApiCreate,
      answer: { status: 201, description: 'The API.', schema: Api },
      errors: [409],
      handle: async ({ body }) =>
        apiView(await apis.add({ ...changesOf(body), identifier: body.identifier, scope: body.scope })),
    }),
    route({
      operationId: 'getApi',
      method: 'get',
      path: '/apis/{identifier}',
      scope: 'admin:read',
      tag: 'apis',
      summary: 'Show an API and the clients granted it',
      params: ApiPath,
      answer: { status: 200, description: 'The API.', schema: ApiDetail },
      errors: [404],
      handle: async ({ params }) => {
        const api = found(await apis.show(params.identifier), params.identifier);
        return { ...apiView(api), grants: (await grants.listByApi(api.identifier)).map(apiHolderView) };
      },
    }),
    route({
      operationId: 'updateApi',
      method: 'patch',
      path: '/apis/{identifier}',
      scope: 'admin:write',
      tag: 'apis',
      summary: 'Change an API',
      description: 'Only the fields given change. Scopes taken away are taken out of every client grant.',
      params: ApiPath,
      body: ApiUpdate,
      answer: { status: 200, description: 'The API as it is now.', schema: Api },
      errors: [404],
      handle: async ({ params, body }) =>
        apiView(found(await apis.update(params.identifier, changesOf(body)), params.identifier)),
    }),
    route({
      operationId: 'removeApi',
      method: 'delete',
      path: '/apis/{identifier}',
      scope: 'admin:write',
      tag: 'apis',
      summary: 'Remove an API',
      description:
        'Refused with 409 while clients hold grants for it, unless `force=true`, which removes those grants too. Tokens already issued for it live out their lifetimes.',
      params: ApiPath,
      query: ApiRemoveQuery,
      answer: { status: 200, description: 'The API is gone.', schema: ApiRemoval },
      errors: [404, 409],
      handle: async ({ params, query }) => {
        found(
          (await apis.remove(params.identifier, { force: query.force === 'true' })) || undefined,
          params.identifier,
        );
        return { identifier: params.identifier, removed: true };
      },
    }),
  ];
}
