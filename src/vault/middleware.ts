// The vault's HTTP face: every route under /vault/, behind tokens for the built-in vault API.
import type { DpopReplayStore } from '@latchkey/resource';
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import {
  inProcessJwksFetch,
  inProcessTokenChecker,
  OwnApiResourceProvider,
  type PublishedKeys,
} from '../resource/in-process.js';
import { vaultProxy, vaultRoutes } from './routes.js';
import { VAULT_API_IDENTIFIER, type Vault } from './vault.js';

/** The vault's routes (everything under /vault/), protected by tokens for the vault API. */
export function vaultMiddleware(
  vault: Vault,
  deps: { issuer: string; provider: () => Provider; keys: PublishedKeys; replayStore?: DpopReplayStore },
): Middleware {
  const jwksUri = `${deps.issuer.replace(/\/$/, '')}/jwks`;
  // A removed client's tokens are refused at once, JWTs included (../resource/in-process.ts).
  const resource = new OwnApiResourceProvider(
    {
      issuer: deps.issuer,
      audience: VAULT_API_IDENTIFIER(deps.issuer),
      jwksUri,
      opaqueTokens: inProcessTokenChecker(deps.provider),
      publicOrigin: new URL(deps.issuer).origin,
      fetch: inProcessJwksFetch(deps.keys, jwksUri),
      ...(deps.replayStore ? { dpop: { replayStore: deps.replayStore } } : {}),
    },
    deps.provider,
  );
  const proxy = vaultProxy(vault, resource);
  const routes = vaultRoutes(vault, resource).routes();
  return (ctx, next) =>
    ctx.path.startsWith('/vault/proxy/') ? proxy(ctx, next) : routes(ctx as never, next);
}
