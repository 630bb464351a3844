// The client registry: apps registered by an admin (`latchkey clients add`). Secrets are
// high-entropy, shown once, sealed at rest; oidc-provider reads clients through lookup().
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Keyring } from '../store/encryption.js';
import type { ClientRecord, Store } from '../store/types.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const KNOWN_GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  DEVICE_CODE_GRANT,
] as const;

export class ClientInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientInputError';
  }
}

export interface ClientRegistration {
  name: string;
  redirectUris?: string[] | undefined;
  public?: boolean | undefined;
  grantTypes?: string[] | undefined;
  scope?: string | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  firstParty?: boolean | undefined;
  /** API identifiers whose tokens this client may introspect (it is their resource server). */
  resourceServers?: string[] | undefined;
  backchannelLogoutUri?: string | undefined;
}

/** The client as shown to an admin: metadata, plus the secret only right after it was made. */
export type ClientView = Record<string, unknown> & { client_id: string; client_secret?: string };

const newSecret = () => randomBytes(32).toString('base64url');
/**
 * 16 base64url characters, never starting with '-': admins pass client ids as command-line
 * arguments, where a leading '-' reads as an option (it was one id in 64).
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(12).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export class ClientService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #cache = new Map<string, { payload: AdapterPayload | undefined; at: number }>();
  /** Changes made by the CLI in another process reach a running server within this time. */
  static readonly CACHE_MS = 5000;

  constructor(store: Store, keyring: Keyring) {
    this.#store = store;
    this.#keyring = keyring;
  }

  /** Builds client metadata with sensible defaults, for the registration to validate and store. */
  static metadataFor(input: ClientRegistration): Record<string, unknown> {
    const redirectUris = input.redirectUris ?? [];
    const grantTypes = input.grantTypes?.length
      ? input.grantTypes
      : redirectUris.length > 0
        ? ['authorization_code', 'refresh_token']
        : input.public
          ? [DEVICE_CODE_GRANT, 'refresh_token']
          : ['client_credentials'];
    for (const grant of grantTypes) {
      if (!(KNOWN_GRANT_TYPES as readonly string[]).includes(grant)) {
        throw new ClientInputError(`unknown grant type ${grant}; use one of ${KNOWN_GRANT_TYPES.join(', ')}`);
      }
    }
    if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
      throw new ClientInputError('--redirect-uri is required for the authorization_code grant');
    }
    if (input.public && grantTypes.includes('client_credentials')) {
      throw new ClientInputError('a public client cannot use client_credentials (it has no secret)');
    }
    if (!input.name.trim()) throw new ClientInputError('--name must not be empty');
    const metadata: Record<string, unknown> = {
      client_name: input.name.trim(),
      grant_types: grantTypes,
      response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
      redirect_uris: redirectUris,
      token_endpoint_auth_method: input.public ? 'none' : 'client_secret_basic',
      // RFC 8252: a public client redirecting to a custom scheme or loopback is a native app
      // (oidc-provider then asks for consent every time, since anyone can claim such a URI).
      application_type:
        input.public &&
        redirectUris.some(
          (uri) => !/^https?:/.test(uri) || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(uri),
        )
          ? 'native'
          : 'web',
      first_party: input.firstParty ?? false,
    };
    if (input.scope) metadata.scope = input.scope.split(/\s+/).filter(Boolean).join(' ');
    if (input.postLogoutRedirectUris?.length)
      metadata.post_logout_redirect_uris = input.postLogoutRedirectUris;
    if (input.resourceServers?.length) metadata.resource_servers = input.resourceServers;
    if (input.backchannelLogoutUri) {
      metadata.backchannel_logout_uri = input.backchannelLogoutUri;
      metadata.backchannel_logout_session_required = true;
    }
    return metadata;
  }

  /**
   * Registers a client. `validate` receives the full metadata (with secret) and throws when
   * oidc-provider would refuse it, so that a bad client fails at registration, not at login.
   */
  async add(
    input: ClientRegistration,
    validate?: (metadata: AdapterPayload) => Promise<void>,
  ): Promise<ClientView> {
    const metadata = ClientService.metadataFor(input);
    const clientId = newClientId();
    const secret = input.public ? undefined : newSecret();
    const full = {
      ...metadata,
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
    } as AdapterPayload;
    await validate?.(full);
    const now = Date.now();
    await this.#store.clients.put({
      clientId,
      metadata,
      secretSealed: secret ? this.#keyring.seal(secret, `client:${clientId}`) : undefined,
      createdAt: now,
      updatedAt: now,
    });
    return { client_id: clientId, ...(secret ? { client_secret: secret } : {}), ...metadata };
  }

  async list(): Promise<ClientView[]> {
    return (await this.#store.clients.list()).map(view);
  }

  async show(clientId: string): Promise<ClientView | undefined> {
    const record = await this.#store.clients.get(clientId);
    return record ? view(record) : undefined;
  }

  /** A new secret replaces the old one at once; returns it (shown once). */
  async rotateSecret(clientId: string): Promise<ClientView | undefined> {
    const record = await this.#store.clients.get(clientId);
    if (!record) return undefined;
    if (!record.secretSealed) throw new ClientInputError('a public client has no secret to rotate');
    const secret = newSecret();
    await this.#store.clients.put({
      ...record,
      secretSealed: this.#keyring.seal(secret, `client:${clientId}`),
      updatedAt: Date.now(),
    });
    this.#cache.delete(clientId);
    return { ...view(record), client_secret: secret };
  }

  async remove(clientId: string): Promise<boolean> {
    this.#cache.delete(clientId);
    return this.#store.clients.remove(clientId);
  }

  /** oidc-provider's view of a client (with its secret), cached briefly: it is on every token request. */
  async lookup(clientId: string): Promise<AdapterPayload | undefined> {
    const cached = this.#cache.get(clientId);
    if (cached && Date.now() - cached.at < ClientService.CACHE_MS) return cached.payload;
    const record = await this.#store.clients.get(clientId);
    const payload = record
      ? ({
          ...record.metadata,
          client_id: record.clientId,
          ...(record.secretSealed
            ? { client_secret: this.#keyring.open(record.secretSealed, `client:${record.clientId}`) }
            : {}),
        } as AdapterPayload)
      : undefined;
    this.#cache.set(clientId, { payload, at: Date.now() });
    return payload;
  }
}

function view(record: ClientRecord): ClientView {
  return {
    client_id: record.clientId,
    ...record.metadata,
    created_at: new Date(record.createdAt).toISOString(),
  };
}
