// Connections: one end user's authorization at one integration. Tokens are sealed at rest; what
// an app sees of a connection never includes them.
import type { Keyring } from '../store/encryption.js';
import type { Store, VaultConnectionRecord } from '../store/types.js';
import type { VaultEvents } from './events.js';
import type { IntegrationService } from './integrations.js';
import { VaultError, type TokenResponse, type TokenSet, type UpstreamClient } from './types.js';

const tokenContext = (connection: Pick<VaultConnectionRecord, 'appId' | 'integrationKey' | 'endUserId'>) =>
  `vault-connection:${connection.appId}:${connection.integrationKey}:${connection.endUserId}`;

export function sealTokens(keyring: Keyring, connection: VaultConnectionRecord, tokens: TokenSet): string {
  return keyring.seal(JSON.stringify(tokens), tokenContext(connection));
}

export function openTokens(keyring: Keyring, connection: VaultConnectionRecord): TokenSet {
  return JSON.parse(keyring.open(connection.tokensSealed, tokenContext(connection))) as TokenSet;
}

/** What an app sees of a connection: status, scopes, expiry; never a token. */
export function connectionView(connection: VaultConnectionRecord) {
  return {
    integration: connection.integrationKey,
    end_user_id: connection.endUserId,
    status: connection.status,
    scopes: connection.scopes,
    expires_at: connection.expiresAt ? new Date(connection.expiresAt).toISOString() : null,
    last_refresh_at: connection.lastRefreshAt ? new Date(connection.lastRefreshAt).toISOString() : null,
    last_error: connection.lastError
      ? {
          code: connection.lastError.code,
          message: connection.lastError.message,
          at: new Date(connection.lastError.at).toISOString(),
        }
      : null,
    created_at: new Date(connection.createdAt).toISOString(),
    updated_at: new Date(connection.updatedAt).toISOString(),
  };
}

/** Assumed lifetime of a refreshable token whose provider states none (seconds). */
export const DEFAULT_TOKEN_LIFETIME = 3600;

/**
 * Absolute expiry of a token response. A missing `expires_in` uses the provider's default
 * lifetime; failing that, a token that comes with a refresh token is assumed to last an hour, and
 * one without (GitHub OAuth apps, say) is taken not to expire.
 */
export function expiryOf(
  response: TokenResponse,
  defaultLifetimeSeconds: number | undefined,
  refreshable: boolean,
  now = Date.now(),
): number | undefined {
  const seconds =
    response.expires_in ?? defaultLifetimeSeconds ?? (refreshable ? DEFAULT_TOKEN_LIFETIME : undefined);
  return seconds === undefined ? undefined : now + seconds * 1000;
}

export class ConnectionService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #integrations: IntegrationService;
  readonly #upstream: UpstreamClient;
  readonly #events: VaultEvents;

  constructor(deps: {
    store: Store;
    keyring: Keyring;
    integrations: IntegrationService;
    upstream: UpstreamClient;
    events: VaultEvents;
  }) {
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#integrations = deps.integrations;
    this.#upstream = deps.upstream;
    this.#events = deps.events;
  }

  /** Stores the tokens of a completed connect flow (a reconnect replaces the old connection). */
  async saveConnected(
    appId: string,
    integrationKey: string,
    endUserId: string,
    response: TokenResponse,
    requestedScopes: string[],
  ): Promise<VaultConnectionRecord> {
    const integration = await this.#integrations.get(appId, integrationKey);
    const definition = this.#integrations.definitionOf(integration);
    const existing = await this.#store.vaultConnections.get(appId, integrationKey, endUserId);
    const now = Date.now();
    const connection: VaultConnectionRecord = {
      appId,
      integrationKey,
      endUserId,
      status: 'active',
      tokensSealed: '',
      expiresAt: expiryOf(
        response,
        definition.defaultTokenLifetime,
        response.refresh_token !== undefined,
        now,
      ),
      scopes: response.scope ? response.scope.split(/[\s,]+/).filter(Boolean) : requestedScopes,
      lastRefreshAt: undefined,
      lastError: undefined,
      refreshFailures: 0,
      nextRefreshAt: undefined,
      version: (existing?.version ?? 0) + 1,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    const { expires_in: _expiresIn, ...tokens } = response;
    connection.tokensSealed = sealTokens(this.#keyring, connection, tokens);
    await this.#store.vaultConnections.put(connection);
    this.#events.emit('vault.connection.created', { appId, integrationKey, endUserId });
    return connection;
  }

  async get(appId: string, integrationKey: string, endUserId: string): Promise<VaultConnectionRecord> {
    const connection = await this.#store.vaultConnections.get(appId, integrationKey, endUserId);
    if (!connection)
      throw new VaultError('not_found', 404, `no connection for ${endUserId} at ${integrationKey}`);
    return connection;
  }

  list(
    appId: string,
    filter: { integrationKey?: string; endUserId?: string },
  ): Promise<VaultConnectionRecord[]> {
    return this.#store.vaultConnections.list(appId, filter);
  }

  /**
   * Deletes the connection, first revoking its tokens at the provider when it supports RFC 7009.
   * A provider that fails to answer does not keep the connection alive: revocation is best effort.
   */
  async remove(
    appId: string,
    integrationKey: string,
    endUserId: string,
  ): Promise<{ revokedAtProvider: boolean }> {
    const connection = await this.get(appId, integrationKey, endUserId);
    const integration = await this.#integrations.get(appId, integrationKey);
    let revokedAtProvider = false;
    try {
      const provider = await this.#upstream.resolve(
        this.#integrations.definitionOf(integration),
        integration,
      );
      if (provider.revocationUrl) {
        const tokens = openTokens(this.#keyring, connection);
        const credentials = this.#integrations.credentials(integration);
        if (tokens.refresh_token)
          await this.#upstream.revoke(provider, credentials, tokens.refresh_token, 'refresh_token');
        await this.#upstream.revoke(provider, credentials, tokens.access_token, 'access_token');
        revokedAtProvider = true;
      }
    } catch {
      revokedAtProvider = false;
    }
    await this.#store.vaultConnections.remove(appId, integrationKey, endUserId);
    this.#events.emit('vault.connection.deleted', { appId, integrationKey, endUserId });
    return { revokedAtProvider };
  }
}
