// Latchkey's own resource API (DESIGN.md "Resource API"): GET /v1/users/me, protected by the
// ResourceProvider. Each route is a pipeline of small named steps.
import Router from '@koa/router';
import {
  insufficientScope,
  invalidToken,
  requireToken,
  type DpopReplayStore,
  type ResourceAuthorization,
  type ResourceProvider,
} from '@latchkey/resource';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { claimsForScope, SCOPE_CLAIMS, type AccountService } from '../authorization/accounts.js';
import { jsonErrors } from '../web/errors.js';
import {
  inProcessJwksFetch,
  inProcessTokenChecker,
  OwnApiResourceProvider,
  type PublishedKeys,
} from './in-process.js';
import { V1_API_IDENTIFIER, V1_API_SCOPES } from './v1-api.js';

export interface ResourceRouteDependencies {
  /** The provider now serving requests (it is replaced when the signing keys change). */
  provider: () => Provider;
  accounts: Pick<AccountService, 'getActive'>;
  issuer: string;
  /**
   * The key service: when given, JWT access tokens are checked against its keys in-process;
   * otherwise the server fetches its own `${issuer}/jwks` over HTTP.
   */
  keys?: PublishedKeys;
  /** Where clients reach these routes, for DPoP proofs (RFC 9449 §4.3); default the issuer's origin. */
  publicOrigin?: string;
  /** Where seen DPoP proofs are remembered (shared by every instance); default this process's memory. */
  replayStore?: DpopReplayStore;
}

/**
 * The checker for /v1: JWTs minted for `${issuer}/v1`, and the opaque tokens a client gets when it
 * asks for no resource (oidc-provider gives those no audience: they are for user info).
 */
export function v1ResourceProvider(deps: ResourceRouteDependencies): ResourceProvider {
  const jwksUri = `${deps.issuer.replace(/\/$/, '')}/jwks`;
  // A removed client's tokens are refused at once, JWTs included (./in-process.ts).
  return new OwnApiResourceProvider(
    {
      issuer: deps.issuer,
      audience: V1_API_IDENTIFIER(deps.issuer),
      acceptTokensWithoutAudience: true,
      jwksUri,
      opaqueTokens: inProcessTokenChecker(deps.provider),
      publicOrigin: deps.publicOrigin ?? new URL(deps.issuer).origin,
      ...(deps.keys ? { fetch: inProcessJwksFetch(deps.keys, jwksUri) } : {}),
      ...(deps.replayStore ? { dpop: { replayStore: deps.replayStore } } : {}),
    },
    deps.provider,
  );
}

function noStore(ctx: Context, next: Next) {
  // RFC 6750 §5.3 and OIDC Core §5.3.2: answers about a user and their tokens are never cached.
  ctx.set('Cache-Control', 'no-store');
  return next();
}

function auth(ctx: Context): ResourceAuthorization {
  return ctx.state.auth as ResourceAuthorization;
}

/**
 * A client_credentials token acts for no one, so there is no "me": 401 invalid_token (not 403),
 * because no scope the client could add would make this token work here.
 */
async function requireEndUser(ctx: Context, next: Next) {
  if (!auth(ctx).accountId)
    throw invalidToken('The access token has no end user (it came from client_credentials).');
  await next();
}

/**
 * The token must allow at least one claim: `openid` (sub) for a user-info token, `profile` or
 * `email` for a /v1 token. The 403 names what this kind of token can be granted.
 */
async function requireProfileScope(ctx: Context, next: Next) {
  const { scopes, audience } = auth(ctx);
  if (!scopes.some((scope) => Object.hasOwn(SCOPE_CLAIMS, scope))) {
    throw insufficientScope(audience.length > 0 ? V1_API_SCOPES.join(' ') : 'openid');
  }
  await next();
}

function respondWithClaims(accounts: ResourceRouteDependencies['accounts']) {
  return async function respondWithClaims(ctx: Context) {
    const { accountId, scopes } = auth(ctx);
    const account = await accounts.getActive(accountId!);
    if (!account) throw invalidToken('The account of the access token no longer exists.');
    // OIDC Core §5.4: each scope releases its claims, and nothing else is released.
    ctx.body = claimsForScope(account, scopes.join(' '));
  };
}

export function resourceRoutes(deps: ResourceRouteDependencies): Router {
  const resource = v1ResourceProvider(deps);
  const router = new Router();
  router.get(
    '/v1/users/me',
    noStore,
    jsonErrors,
    requireToken(resource),
    requireEndUser,
    requireProfileScope,
    respondWithClaims(deps.accounts),
  );
  return router;
}
