// The admin HTTP API (everything under /admin/v1), assembled: the route table of every resource,
// each route wired as its pipeline of steps behind tokens for the built-in admin API, the error
// shape around them, and the OpenAPI document generated from the same table.
import Router from '@koa/router';
import type { ResourceProvider } from '@latchkey/resource';
import compose from 'koa-compose';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { inProcessJwksFetch, inProcessTokenChecker, OwnApiResourceProvider } from '../resource/in-process.js';
import { ADMIN_API_IDENTIFIER } from './admin-api.js';
import { adminErrors, unmatchedAsJson } from './errors.js';
import { openApiDocument } from './openapi.js';
import { routerPath, type AdminRoute } from './route-table.js';
import { apiRoutes } from './routes/apis.js';
import { clientGrantRoutes } from './routes/client-grants.js';
import { clientRoutes } from './routes/clients.js';
import { keyRoutes } from './routes/keys.js';
import { loginRequestRoutes } from './routes/login-requests.js';
import { subjectRoutes } from './routes/subjects.js';
import { userRoutes } from './routes/users.js';
import { vaultIntegrationRoutes } from './routes/vault-integrations.js';
import { answer, noStore, parseRequest, readJsonBody, requireScope } from './steps.js';
import type { AdminDeps } from './types.js';

export const ADMIN_BASE_PATH = '/admin/v1';

/** Every operation of the admin API, resource by resource. */
export function adminRoutes(deps: AdminDeps): AdminRoute[] {
  return [
    ...clientRoutes(deps),
    ...clientGrantRoutes(deps),
    ...vaultIntegrationRoutes(deps),
    ...apiRoutes(deps),
    ...userRoutes(deps),
    ...keyRoutes(deps),
    ...loginRequestRoutes(deps),
    ...subjectRoutes(deps),
  ];
}

/** `GET /openapi.json`: public, so that tools can read it before they hold a token. */
function documentRoute(document: () => unknown): AdminRoute {
  return {
    operationId: 'getOpenApiDocument',
    method: 'get',
    path: '/openapi.json',
    scope: null,
    tag: 'document',
    summary: 'This API’s OpenAPI 3.1 document',
    answer: {
      status: 200,
      description: 'The OpenAPI document.',
      schema: z.object({ openapi: z.string() }).loose(),
    },
    handle: async () => document(),
  };
}

/** One route's pipeline: every step named, in the order a request meets them. */
function pipeline(spec: AdminRoute, resource: ResourceProvider): Middleware[] {
  return [
    noStore,
    ...(spec.scope ? [requireScope(resource, spec.scope)] : []),
    ...(spec.body ? [readJsonBody] : []),
    parseRequest(spec),
    answer(spec),
  ];
}

export interface AdminApi {
  router: Router;
  document: ReturnType<typeof openApiDocument>;
}

/** The router of every admin route, and the document that describes them. */
export function createAdminApi(deps: AdminDeps, resource: ResourceProvider): AdminApi {
  const routes = [...adminRoutes(deps)];
  routes.push(documentRoute(() => document));
  const document = openApiDocument(routes, { issuer: deps.issuer, basePath: ADMIN_BASE_PATH });
  const router = new Router({ prefix: ADMIN_BASE_PATH });
  for (const spec of routes)
    router.register(routerPath(spec.path), [spec.method], pipeline(spec, resource) as never, {
      name: spec.operationId,
    });
  return { router, document };
}

/**
 * The admin API's token checker: JWTs against the issuer's keys, opaque tokens in-process, and the
 * token's client still registered (a removed admin client is cut off at once).
 */
export function adminResourceProvider(
  deps: Pick<AdminDeps, 'issuer' | 'provider' | 'services' | 'replayStore'>,
) {
  const jwksUri = `${deps.issuer.replace(/\/$/, '')}/jwks`;
  return new OwnApiResourceProvider(
    {
      issuer: deps.issuer,
      audience: ADMIN_API_IDENTIFIER(deps.issuer),
      jwksUri,
      opaqueTokens: inProcessTokenChecker(deps.provider),
      publicOrigin: new URL(deps.issuer).origin,
      fetch: inProcessJwksFetch(deps.services.keys, jwksUri),
      ...(deps.replayStore ? { dpop: { replayStore: deps.replayStore } } : {}),
    },
    deps.provider,
  );
}

/** Everything under /admin/ as one middleware for the composition root. */
export function adminMiddleware(deps: AdminDeps): Middleware {
  const { router } = createAdminApi(deps, adminResourceProvider(deps));
  return compose([adminErrors, unmatchedAsJson, router.allowedMethods(), router.routes()]) as Middleware;
}
