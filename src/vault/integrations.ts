// Integrations: an app's configuration of one upstream provider. The provider secret is sealed at
// rest and never returned; every lookup is scoped by the app that owns it. A URL the app names (an
// oidc issuer) is checked against the outbound rules before it is stored.
import type { Keyring } from '../store/encryption.js';
import { StoreConflictError, type Store, type VaultIntegrationRecord } from '../store/types.js';
import { createOutboundClient, outboundRefusalOf, type OutboundClient } from '../web/outbound.js';
import { getProvider } from './catalog.js';
import { VaultError, type ProviderDefinition, type UpstreamCredentials } from './types.js';

export interface IntegrationInput {
  key: string;
  provider: string;
  clientId: string;
  clientSecret?: string | undefined;
  scopes?: string[] | undefined;
  issuer?: string | undefined;
  authorizationParams?: Record<string, string> | undefined;
}

/** What an app sees of an integration: everything but the secret. */
export interface IntegrationView {
  key: string;
  provider: string;
  client_id: string;
  has_client_secret: boolean;
  scopes: string[];
  issuer?: string | undefined;
  authorization_params?: Record<string, string> | undefined;
  created_at: string;
  updated_at: string;
}

export function integrationView(record: VaultIntegrationRecord): IntegrationView {
  return {
    key: record.key,
    provider: record.provider,
    client_id: record.clientId,
    has_client_secret: record.clientSecretSealed !== undefined,
    scopes: record.scopes,
    ...(record.issuer ? { issuer: record.issuer } : {}),
    ...(record.authorizationParams ? { authorization_params: record.authorizationParams } : {}),
    created_at: new Date(record.createdAt).toISOString(),
    updated_at: new Date(record.updatedAt).toISOString(),
  };
}

const secretContext = (appId: string, key: string) => `vault-integration:${appId}:${key}`;

/** What the service needs of the outbound client: its check of a URL before it is stored. */
export type IssuerCheck = Pick<OutboundClient, 'check'>;

export class IntegrationService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  #outbound: IssuerCheck | undefined;

  /** `outbound`: the process's outbound client; default one that refuses private addresses. */
  constructor(store: Store, keyring: Keyring, outbound?: IssuerCheck) {
    this.#store = store;
    this.#keyring = keyring;
    this.#outbound = outbound;
  }

  /**
   * Refuses, with a 400 naming the reason, an issuer that the vault could not or must not reach:
   * not https (unless OUTBOUND_ALLOW_PRIVATE), or a host that is or resolves to a loopback, private,
   * link-local or other special-use address. The outbound guard checks again at every connection
   * (DNS may change); this check is so that the app hears of it now, not at the first connect.
   */
  async #checkIssuer(issuer: string): Promise<void> {
    const url = URL.parse(issuer);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new VaultError('invalid_request', 400, 'the issuer must be an https URL');
    }
    this.#outbound ??= createOutboundClient();
    try {
      await this.#outbound.check(url);
    } catch (error) {
      const refusal = outboundRefusalOf(error);
      if (refusal?.rule === 'https') {
        throw new VaultError('invalid_request', 400, 'the issuer must be an https URL');
      }
      if (refusal) throw new VaultError('invalid_request', 400, `issuer ${refusal.reason}`);
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') {
        throw new VaultError('invalid_request', 400, `issuer host ${url.hostname} does not resolve`);
      }
      // A DNS server that did not answer (EAI_AGAIN...): worth another try, not the app's mistake.
      throw new VaultError(
        'provider_unavailable',
        503,
        `the issuer's host could not be resolved${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
  }

  #definition(input: { provider: string; issuer?: string | undefined }): ProviderDefinition {
    const definition = getProvider(input.provider);
    if (!definition) throw new VaultError('unknown_provider', 400, `unknown provider ${input.provider}`);
    if (definition.kind === 'oidc' && !input.issuer) {
      throw new VaultError('invalid_request', 400, `provider ${input.provider} needs an issuer URL`);
    }
    return definition;
  }

  async create(appId: string, input: IntegrationInput): Promise<VaultIntegrationRecord> {
    const definition = this.#definition(input);
    if (definition.tokenEndpointAuthMethod !== 'none' && !input.clientSecret) {
      throw new VaultError('invalid_request', 400, `provider ${input.provider} needs a client secret`);
    }
    if (input.issuer !== undefined) await this.#checkIssuer(input.issuer);
    const now = Date.now();
    const record: VaultIntegrationRecord = {
      appId,
      key: input.key,
      provider: input.provider,
      clientId: input.clientId,
      clientSecretSealed: input.clientSecret
        ? this.#keyring.seal(input.clientSecret, secretContext(appId, input.key))
        : undefined,
      scopes: input.scopes ?? [],
      issuer: input.issuer,
      authorizationParams: input.authorizationParams,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.#store.vaultIntegrations.create(record);
    } catch (error) {
      if (error instanceof StoreConflictError) {
        throw new VaultError('conflict', 409, `an integration named ${input.key} exists already`);
      }
      throw error;
    }
    return record;
  }

  /** The app's integration, or a 404 (also for another app's: ids must not leak). */
  async get(appId: string, key: string): Promise<VaultIntegrationRecord> {
    const record = await this.#store.vaultIntegrations.get(appId, key);
    if (!record) throw new VaultError('not_found', 404, `no integration ${key}`);
    return record;
  }

  list(appId: string): Promise<VaultIntegrationRecord[]> {
    return this.#store.vaultIntegrations.list(appId);
  }

  async update(appId: string, key: string, changes: Partial<Omit<IntegrationInput, 'key' | 'provider'>>) {
    const current = await this.get(appId, key);
    const next: VaultIntegrationRecord = {
      ...current,
      clientId: changes.clientId ?? current.clientId,
      clientSecretSealed:
        changes.clientSecret !== undefined
          ? this.#keyring.seal(changes.clientSecret, secretContext(appId, key))
          : current.clientSecretSealed,
      scopes: changes.scopes ?? current.scopes,
      issuer: changes.issuer ?? current.issuer,
      authorizationParams: changes.authorizationParams ?? current.authorizationParams,
      updatedAt: Date.now(),
    };
    this.#definition(next);
    if (changes.issuer !== undefined) await this.#checkIssuer(changes.issuer);
    await this.#store.vaultIntegrations.update(next);
    return next;
  }

  async remove(appId: string, key: string): Promise<void> {
    if (!(await this.#store.vaultIntegrations.remove(appId, key))) {
      throw new VaultError('not_found', 404, `no integration ${key}`);
    }
  }

  definitionOf(record: VaultIntegrationRecord): ProviderDefinition {
    return this.#definition(record);
  }

  credentials(record: VaultIntegrationRecord): UpstreamCredentials {
    return {
      clientId: record.clientId,
      clientSecret: record.clientSecretSealed
        ? this.#keyring.open(record.clientSecretSealed, secretContext(record.appId, record.key))
        : undefined,
    };
  }
}
