// The token vault's services, and the description of the built-in /vault API that protects them.
// Its routes are wired by ./middleware.ts; the vault never reaches into the authorization server:
// the composition root registers its API through the small registry interface declared here.
import type { Logger } from 'pino';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import type { OutboundClient } from '../web/outbound.js';
import { ConnectFlow } from './connect-flow.js';
import { ConnectionService } from './connections.js';
import { logVaultEvents, VaultEvents } from './events.js';
import { IntegrationService } from './integrations.js';
import { createProxy } from './proxy.js';
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

/**
 * `outbound` is the process's one outbound client (src/web/outbound.ts): every upstream call and
 * proxied request goes through it, and integrations' issuers are checked against its rules. It
 * stays the caller's to close.
 */
export function createVault(
  deps: { store: Store; keyring: Keyring; issuer: string; logger: Logger; outbound: OutboundClient },
  options: VaultOptions = {},
): Vault {
  const events = new VaultEvents();
  logVaultEvents(events, deps.logger);
  const { outbound } = deps;
  const upstream = createUpstreamClient({ timeoutMs: options.upstreamTimeoutMs ?? 10_000, outbound });
  const integrations = new IntegrationService(deps.store, deps.keyring, outbound);
  const shared = { store: deps.store, keyring: deps.keyring, integrations, upstream, events };
  const connections = new ConnectionService(shared);
  const proxy = createProxy({ timeoutMs: options.proxyTimeoutMs ?? 30_000, outbound });
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

/** What the composition root's API registry takes to register a built-in API once. */
export interface VaultApiRegistry<Registered = unknown> {
  ensure(api: { identifier: string; name: string; scope: string; format: 'jwt' }): Promise<Registered>;
}

/** Registers the vault API (JWT access tokens with vault scopes) unless it is there already. */
export function ensureVaultApi<Registered>(
  apis: VaultApiRegistry<Registered>,
  issuer: string,
): Promise<Registered> {
  return apis.ensure({
    identifier: VAULT_API_IDENTIFIER(issuer),
    name: 'Latchkey vault',
    scope: VAULT_SCOPES.join(' '),
    format: 'jwt',
  });
}
