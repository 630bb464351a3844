// Hands out fresh access tokens, refreshing them first when they are about to expire. One refresh
// at a time per connection: callers in this process share one promise; across processes sharing
// the store, a lease serialises it, and a caller that waited re-reads the connection instead of
// refreshing again (a rotated refresh token may be used only once).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Keyring } from '../store/encryption.js';
import type { Store, VaultConnectionRecord, VaultIntegrationRecord } from '../store/types.js';
import { expiryOf, openTokens, sealTokens } from './connections.js';
import type { VaultEvents } from './events.js';
import type { IntegrationService } from './integrations.js';
import { VaultError, type TokenSet, type UpstreamClient } from './types.js';

export interface FreshToken {
  connection: VaultConnectionRecord;
  tokens: TokenSet;
}

export interface TokenBrokerOptions {
  /** How long a refresh may hold the lease (ms). Default 30 s. */
  leaseTtlMs?: number;
  /** How long a caller waits for another process's refresh (ms). Default 20 s. */
  waitTimeoutMs?: number;
  /** Default seconds before expiry when a token counts as stale (a provider may set its own). */
  refreshMarginSeconds?: number;
}

/** Backoff after transient refresh failures: 1 s, 2 s, 4 s ... up to 5 minutes (or Retry-After). */
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 5 * 60 * 1000;

export class TokenBroker {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #integrations: IntegrationService;
  readonly #upstream: UpstreamClient;
  readonly #events: VaultEvents;
  readonly #owner = randomUUID();
  readonly #inflight = new Map<string, Promise<FreshToken>>();
  readonly #leaseTtlMs: number;
  readonly #waitTimeoutMs: number;
  readonly #defaultMargin: number;

  constructor(
    deps: {
      store: Store;
      keyring: Keyring;
      integrations: IntegrationService;
      upstream: UpstreamClient;
      events: VaultEvents;
    },
    options: TokenBrokerOptions = {},
  ) {
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#integrations = deps.integrations;
    this.#upstream = deps.upstream;
    this.#events = deps.events;
    this.#leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 20_000;
    this.#defaultMargin = options.refreshMarginSeconds ?? 300;
  }

  /**
   * A usable access token for the connection. `force` refreshes even a token that looks fresh
   * (the provider just refused it with a 401), unless someone else refreshed it meanwhile.
   */
  async freshToken(
    appId: string,
    integrationKey: string,
    endUserId: string,
    /**
     * `integration`: the caller's copy, or its read still under way (the proxy reads it for itself);
     * the connection is read beside it, in the same store round.
     */
    options: {
      force?: boolean;
      integration?: VaultIntegrationRecord | Promise<VaultIntegrationRecord>;
    } = {},
  ): Promise<FreshToken> {
    const [integration, connection] = await Promise.all([
      options.integration ?? this.#integrations.get(appId, integrationKey),
      this.#read(appId, integrationKey, endUserId),
    ]);
    const margin = (this.#integrations.definitionOf(integration).refreshMargin ?? this.#defaultMargin) * 1000;
    assertUsable(connection);
    if (!options.force && isFresh(connection, margin)) return this.#fresh(connection);

    const flightKey = `${appId}\u0000${integrationKey}\u0000${endUserId}`;
    let flight = this.#inflight.get(flightKey);
    if (!flight) {
      flight = this.#refreshUnderLease(connection, margin, options.force ?? false).finally(() =>
        this.#inflight.delete(flightKey),
      );
      this.#inflight.set(flightKey, flight);
    }
    return flight;
  }

  async #read(appId: string, integrationKey: string, endUserId: string): Promise<VaultConnectionRecord> {
    const connection = await this.#store.vaultConnections.get(appId, integrationKey, endUserId);
    if (!connection)
      throw new VaultError('not_found', 404, `no connection for ${endUserId} at ${integrationKey}`);
    return connection;
  }

  #fresh(connection: VaultConnectionRecord): FreshToken {
    return { connection, tokens: openTokens(this.#keyring, connection) };
  }

  /** Someone else's refresh (seen as a new version) counts as ours: use its result. */
  #settledElsewhere(
    seen: VaultConnectionRecord,
    current: VaultConnectionRecord,
    margin: number,
    force: boolean,
  ): boolean {
    if (current.version === seen.version) return false;
    if (current.status !== 'active') return true;
    return force || isFresh(current, margin);
  }

  async #refreshUnderLease(seen: VaultConnectionRecord, margin: number, force: boolean): Promise<FreshToken> {
    const lease = `vault-refresh:${seen.appId}:${seen.integrationKey}:${seen.endUserId}`;
    const deadline = Date.now() + this.#waitTimeoutMs;
    let pause = 20;
    while (Date.now() < deadline) {
      if (await this.#store.leases.acquire(lease, this.#owner, this.#leaseTtlMs)) {
        try {
          const current = await this.#read(seen.appId, seen.integrationKey, seen.endUserId);
          if (this.#settledElsewhere(seen, current, margin, force)) {
            assertUsable(current);
            return this.#fresh(current);
          }
          return await this.#refresh(current);
        } finally {
          await this.#store.leases.release(lease, this.#owner);
        }
      }
      // Another process is refreshing: wait, then look at what it stored.
      await sleep(pause);
      pause = Math.min(pause * 2, 250);
      const current = await this.#read(seen.appId, seen.integrationKey, seen.endUserId);
      if (this.#settledElsewhere(seen, current, margin, force)) {
        assertUsable(current);
        return this.#fresh(current);
      }
    }
    throw new VaultError(
      'provider_timeout',
      504,
      'another refresh of this connection is taking too long; try again',
    );
  }

  /** Refreshes at the provider, under the lease. Stores the outcome before returning it. */
  async #refresh(connection: VaultConnectionRecord): Promise<FreshToken> {
    const now = Date.now();
    const stillValid = connection.expiresAt === undefined || connection.expiresAt > now;
    if (connection.nextRefreshAt !== undefined && connection.nextRefreshAt > now) {
      // Backing off after transient failures: serve the old token while it lasts.
      if (stillValid) return this.#fresh(connection);
      const wait = Math.ceil((connection.nextRefreshAt - now) / 1000);
      throw new VaultError(
        'provider_unavailable',
        503,
        `the provider failed recently (${connection.lastError?.message ?? 'unknown'}); retrying after a pause`,
        wait,
      );
    }
    const tokens = openTokens(this.#keyring, connection);
    if (!tokens.refresh_token) {
      if (stillValid) return this.#fresh(connection);
      return this.#failPermanently(
        connection,
        new VaultError(
          'needs_reauth',
          409,
          'the access token expired and the provider gave no refresh token; connect again',
        ),
      );
    }
    const integration = await this.#integrations.get(connection.appId, connection.integrationKey);
    const definition = this.#integrations.definitionOf(integration);
    let response;
    try {
      const provider = await this.#upstream.resolve(definition, integration);
      response = await this.#upstream.refresh(
        provider,
        this.#integrations.credentials(integration),
        tokens.refresh_token,
      );
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      if (error.code === 'needs_reauth') return this.#failPermanently(connection, error);
      return this.#failTransiently(connection, error, stillValid);
    }
    // RFC 6749 §6: the provider MAY issue a new refresh token; if it does not, the old one stays.
    const next: TokenSet = {
      access_token: response.access_token,
      token_type: response.token_type,
      refresh_token: response.refresh_token ?? tokens.refresh_token,
      id_token: response.id_token ?? tokens.id_token,
      scope: response.scope ?? tokens.scope,
    };
    const updated: VaultConnectionRecord = {
      ...connection,
      status: 'active',
      expiresAt: expiryOf(response, definition.defaultTokenLifetime, next.refresh_token !== undefined),
      scopes: response.scope ? response.scope.split(/[\s,]+/).filter(Boolean) : connection.scopes,
      lastRefreshAt: Date.now(),
      lastError: undefined,
      refreshFailures: 0,
      nextRefreshAt: undefined,
      version: connection.version + 1,
      updatedAt: Date.now(),
    };
    updated.tokensSealed = sealTokens(this.#keyring, updated, next);
    await this.#replace(updated, connection.version);
    this.#events.emit('vault.connection.refreshed', event(updated));
    return { connection: updated, tokens: next };
  }

  async #replace(updated: VaultConnectionRecord, expectedVersion: number): Promise<void> {
    if (!(await this.#store.vaultConnections.replaceIfVersion(updated, expectedVersion))) {
      // Only a delete (or a reconnect) can change a connection while we hold its lease.
      throw new VaultError('conflict', 409, 'the connection changed while it was being refreshed; try again');
    }
  }

  async #failPermanently(connection: VaultConnectionRecord, error: VaultError): Promise<never> {
    const updated: VaultConnectionRecord = {
      ...connection,
      status: 'needs_reauth',
      lastError: { code: error.code, message: error.message, at: Date.now() },
      version: connection.version + 1,
      updatedAt: Date.now(),
    };
    await this.#replace(updated, connection.version);
    this.#events.emit('vault.connection.refresh_failed', {
      ...event(updated),
      error: { code: error.code, message: error.message },
    });
    throw new VaultError('needs_reauth', 409, `the end user must connect again: ${error.message}`);
  }

  async #failTransiently(
    connection: VaultConnectionRecord,
    error: VaultError,
    stillValid: boolean,
  ): Promise<FreshToken> {
    const failures = connection.refreshFailures + 1;
    const backoff =
      error.retryAfter !== undefined
        ? error.retryAfter * 1000
        : Math.min(BACKOFF_BASE_MS * 2 ** (failures - 1), BACKOFF_MAX_MS);
    // The stored tokens stay exactly as they were: only the bookkeeping changes.
    const updated: VaultConnectionRecord = {
      ...connection,
      lastError: { code: error.code, message: error.message, at: Date.now() },
      refreshFailures: failures,
      nextRefreshAt: Date.now() + backoff,
      version: connection.version + 1,
      updatedAt: Date.now(),
    };
    await this.#replace(updated, connection.version);
    this.#events.emit('vault.connection.refresh_failed', {
      ...event(updated),
      error: { code: error.code, message: error.message },
    });
    if (stillValid) return this.#fresh(updated);
    throw error;
  }
}

function isFresh(connection: VaultConnectionRecord, marginMs: number): boolean {
  return connection.expiresAt === undefined || connection.expiresAt - marginMs > Date.now();
}

function assertUsable(connection: VaultConnectionRecord): void {
  if (connection.status === 'needs_reauth') {
    throw new VaultError(
      'needs_reauth',
      409,
      `the end user must connect again (${connection.lastError?.message ?? 'refresh refused'})`,
    );
  }
  if (connection.status === 'revoked')
    throw new VaultError('connection_revoked', 410, 'the connection was revoked');
}

function event(connection: VaultConnectionRecord) {
  return {
    appId: connection.appId,
    integrationKey: connection.integrationKey,
    endUserId: connection.endUserId,
    status: connection.status,
  };
}
