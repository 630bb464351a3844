// Which API scopes a client may get in a request: oidc-provider's resource indicator hooks
// (RFC 8707), answered from the registered APIs and the client grants. A resource the client
// holds nothing for is `invalid_target`; a scope it asks for outside what it holds is
// `invalid_scope`, naming the scope (RFC 6749 §3.3), in every grant type alike. oidc-provider
// then issues at most the scopes returned here, so a refresh never widens what was granted, and a
// grant narrowed or taken away applies from the next token request on.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ApiRecord } from '../store/types.js';
import type { ApiService } from './apis.js';
import type { ClientGrantService, GrantFlow } from './client-grants.js';
import { invalidScopeToken, isOidcScope, splitScopes } from './scopes.js';

export interface ResourcePolicyDependencies {
  apis: ApiService;
  grants: ClientGrantService;
}

/** The routes where oidc-provider asks for a resource before any token exists. */
const REQUEST_ROUTES = new Set([
  'authorization',
  'pushed_authorization_request',
  'device_authorization',
  'backchannel_authentication',
]);

/** client_credentials is the one grant where no user takes part, so no one can consent. */
function flowOf(ctx: KoaContextWithOIDC): GrantFlow {
  return ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials'
    ? 'client'
    : 'user';
}

function requestedResources(ctx: KoaContextWithOIDC): string[] {
  const resource = ctx.oidc.params?.resource as string | string[] | undefined;
  if (resource === undefined) return [];
  return Array.isArray(resource) ? resource : [resource];
}

function requestedApiScopes(ctx: KoaContextWithOIDC): string[] {
  return splitScopes(ctx.oidc.params?.scope as string | undefined).filter((scope) => !isOidcScope(scope));
}

export function createResourcePolicy({ apis, grants }: ResourcePolicyDependencies) {
  async function allowedFor(ctx: KoaContextWithOIDC, clientId: string, api: ApiRecord): Promise<string[]> {
    return grants.allowedScopes(clientId, api, flowOf(ctx));
  }

  /**
   * Every API scope asked for must be allowed by one of the resources asked for. Unknown
   * scopes are refused too, rather than silently dropped, so that a typo shows at once.
   */
  async function checkRequestedScopes(ctx: KoaContextWithOIDC, clientId: string): Promise<void> {
    const asked = requestedApiScopes(ctx);
    if (asked.length === 0) return;
    const allowed = new Set<string>();
    const known = new Set<string>();
    for (const identifier of requestedResources(ctx)) {
      const api = await apis.get(identifier);
      if (!api) continue;
      for (const scope of api.scope.split(' ')) known.add(scope);
      for (const scope of await allowedFor(ctx, clientId, api)) allowed.add(scope);
    }
    for (const scope of asked) {
      if (allowed.has(scope)) continue;
      throw new errors.InvalidScope(
        known.has(scope)
          ? `scope ${scope} is not granted to this client for the requested resource`
          : `scope ${scope} is not a scope of the requested resource`,
        scope,
      );
    }
  }

  return {
    async getResourceServerInfo(
      ctx: KoaContextWithOIDC,
      resourceIndicator: string,
      client: { clientId: string },
    ) {
      const api = await apis.get(resourceIndicator);
      // RFC 8707 §2: an unknown resource is invalid_target.
      if (!api) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
      const allowed = await allowedFor(ctx, client.clientId, api);
      if (allowed.length === 0)
        throw new errors.InvalidTarget(`this client holds no grant for the resource ${resourceIndicator}`);
      await checkRequestedScopes(ctx, client.clientId);
      return {
        scope: allowed.join(' '),
        audience: api.identifier,
        accessTokenTTL: api.accessTokenTtl,
        accessTokenFormat: api.format,
        ...(api.format === 'jwt' ? { jwt: { sign: { alg: api.signingAlg ?? 'RS256' } } } : {}),
      };
    },

    /**
     * No `resource` in the request. API scopes then have no API to come from: say so, instead
     * of issuing a token without them (oidc-provider would drop them silently).
     */
    async defaultResource(ctx: KoaContextWithOIDC, _client: unknown, oneOf?: string[]) {
      if (oneOf) return oneOf;
      const asking = REQUEST_ROUTES.has(ctx.oidc.route) || flowOf(ctx) === 'client';
      const [scope] = asking ? requestedApiScopes(ctx) : [];
      if (scope !== undefined)
        throw new errors.InvalidScope(
          `scope ${scope} belongs to an API: name the API with the resource parameter (RFC 8707)`,
          scope,
        );
      return undefined;
    },
  };
}

/**
 * oidc-provider's refresh grant refuses a scope the refresh token does not carry before any hook
 * here runs, as "refresh token missing requested scope", keeping the scope on the error only. Its
 * `grant.error` listener names it in the answer, as every other refusal here does (RFC 6749 §3.3);
 * only well-formed scope tokens are echoed.
 */
export function nameRefusedScope(ctx: KoaContextWithOIDC, error: unknown): void {
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  const scope = (error as { scope?: unknown } | undefined)?.scope;
  if (body?.error !== 'invalid_scope' || typeof scope !== 'string') return;
  const scopes = splitScopes(scope);
  const description = typeof body.error_description === 'string' ? body.error_description : 'invalid scope';
  if (scopes.length === 0 || invalidScopeToken(scopes) !== undefined) return;
  if (scopes.every((name) => description.includes(name))) return;
  body.error_description = `${description}: ${scopes.join(' ')}`;
}
