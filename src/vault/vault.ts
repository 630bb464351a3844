// Assembles the token vault: its services, the built-in /vault API that protects it, and its routes.
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { ApiService } from '../authorization/apis.js';
import { inProcessJwksFetch, inProcessTokenChecker, type PublishedKeys } from '../resource/in-process.js';
import { createResourceProvider } from '../resource/resource-provider.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import { ConnectFlow } from './connect-flow.js';
import { ConnectionService } from './connections.js';
import { logVaultEvents, VaultEvents } from './events.js';
import { IntegrationService } from './integrations.js';
import { createProxy } from './proxy.js';
import { vaultProxy, vaultRoutes } from './routes.js';
import { TokenBroker, type TokenBrokerOptions } from './token-broker.js';
import type { UpstreamClient } from './types.js';
import { createUpstreamClient } from './upstream.js';

/** The scopes of the built-in vault API (a client_credentials token carries some of them). */
export const VAULT_SCOPES = ['vault:connect', 'vault:tokens', 'vault:proxy', 'vault:admin'] as const;

export function VAULT_API_IDENTIFIER(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/vault`;
}

export interface VaultOptions {
  broker?: TokenBrokerOptions;
  upstreamTimeoutMs?: number;
  proxyTimeoutMs?: number;
}

export interface Vault {
  integrations: IntegrationService;
  connections: ConnectionService;
  connectFlow: ConnectFlow;
  broker: TokenBroker;
  upstream: UpstreamClient;
  proxy: ReturnType<typeof createProxy>;
  events: VaultEvents;
  close(): Promise<void>;
}

export function createVault(
  deps: { store: Store; keyring: Keyring; issuer: string; logger: Logger },
  options: VaultOptions = {},
): Vault {
  const events = new VaultEvents();
  logVaultEvents(events, deps.logger);
  const upstream = createUpstreamClient({ timeoutMs: options.upstreamTimeoutMs ?? 10_000 });
  const integrations = new IntegrationService(deps.store, deps.keyring);
  const shared = { store: deps.store, keyring: deps.keyring, integrations, upstream, events };
  const connections = new ConnectionService(shared);
  const proxy = createProxy({ timeoutMs: options.proxyTimeoutMs ?? 30_000 });
  return {
    integrations,
    connections,
    connectFlow: new ConnectFlow({ ...shared, connections, issuer: deps.issuer }),
    broker: new TokenBroker(shared, options.broker),
    upstream,
    proxy,
    events,
    close: () => proxy.close(),
  };
}

/** Registers the vault API (JWT access tokens with vault scopes) unless it is there already. */
export function ensureVaultApi(apis: Pick<ApiService, 'ensure'>, issuer: string) {
  return apis.ensure({
    identifier: VAULT_API_IDENTIFIER(issuer),
    name: 'Latchkey vault',
    scope: VAULT_SCOPES.join(' '),
    format: 'jwt',
  });
}

/** The vault's routes (everything under /vault/), protected by tokens for the vault API. */
export function vaultMiddleware(
  vault: Vault,
  deps: { issuer: string; provider: () => Provider; keys: PublishedKeys },
): Middleware {
  const jwksUri = `${deps.issuer.replace(/\/$/, '')}/jwks`;
  const resource = createResourceProvider({
    issuer: deps.issuer,
    audience: VAULT_API_IDENTIFIER(deps.issuer),
    jwksUri,
    opaqueTokens: inProcessTokenChecker(deps.provider),
    publicOrigin: new URL(deps.issuer).origin,
    fetch: inProcessJwksFetch(deps.keys, jwksUri),
  });
  const proxy = vaultProxy(vault, resource);
  const routes = vaultRoutes(vault, resource).routes();
  return (ctx, next) =>
    ctx.path.startsWith('/vault/proxy/') ? proxy(ctx, next) : routes(ctx as never, next);
}
