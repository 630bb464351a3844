// The client registry: apps registered by an admin (`latchkey clients add`, the admin API).
// Secrets are high-entropy, shown once, sealed at rest; oidc-provider reads clients through
// lookup(). A client's API scopes are client grants (./client-grants.ts); its `scope` metadata
// holds only the OpenID Connect scopes, the ones oidc-provider itself knows.
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Keyring } from '../store/encryption.js';
import type { ClientRecord, Store } from '../store/types.js';
import type { ApiService } from './apis.js';
import { grantView, type ClientGrantService, type ClientGrantView } from './client-grants.js';
import { NotFoundError } from './errors.js';
import { invalidScopeToken, isOidcScope, splitScopes } from './scopes.js';
import { ShortCache } from './short-cache.js';

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
  /**
   * API identifiers that `scope` may draw scopes from; needed only where two APIs share a scope
   * name. Without it, each API scope must belong to exactly one registered API.
   */
  apis?: string[] | undefined;
  /** API identifiers whose tokens this client may introspect (it is their resource server). */
  resourceServers?: string[] | undefined;
  backchannelLogoutUri?: string | undefined;
  /** Shown on the consent page. */
  logoUri?: string | undefined;
  clientUri?: string | undefined;
  policyUri?: string | undefined;
  tosUri?: string | undefined;
  /** Lifetimes (s) of this client's access and refresh tokens, overriding the server's. */
  accessTokenTtl?: number | undefined;
  refreshTokenTtl?: number | undefined;
}

/** What `update` may change: any field of a registration but whether the client is public. */
export type ClientChanges = Partial<Omit<ClientRegistration, 'public'>>;

/** The client as shown to an admin: metadata, plus the secret only right after it was made. */
export type ClientView = Record<string, unknown> & {
  client_id: string;
  client_secret?: string;
  grants?: ClientGrantView[];
};

/** What `remove` took away with the client. */
export interface ClientRemoval {
  client_id: string;
  removed: true;
  /** Tokens, codes, grants and interactions of the client's that were revoked. */
  revoked_records: number;
  client_grants: number;
  vault_integrations: number;
}

export type ClientValidator = (metadata: AdapterPayload) => Promise<void>;

/** The scopes of a registration, split into what oidc-provider knows and the client grants. */
interface ResolvedScopes {
  oidc: string[] | undefined;
  grants: Map<string, string[]>;
}

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

const LIFETIME_LIMITS = { accessTokenTtl: [10, 86_400], refreshTokenTtl: [60, 365 * 86_400] } as const;

export class ClientService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #apis: ApiService;
  readonly #grants: ClientGrantService;
  /** Changes made elsewhere (the CLI, another instance) reach this process within its life. */
  readonly #cache = new ShortCache<AdapterPayload | undefined>();

  constructor(store: Store, keyring: Keyring, apis: ApiService, grants: ClientGrantService) {
    this.#store = store;
    this.#keyring = keyring;
    this.#apis = apis;
    this.#grants = grants;
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
    if (input.name.length > 200) throw new ClientInputError('--name must be at most 200 characters');
    for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])])
      checkUri('redirect URI', uri);
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
    const oidcScopes = splitScopes(input.scope).filter(isOidcScope);
    if (oidcScopes.length) metadata.scope = oidcScopes.join(' ');
    if (input.postLogoutRedirectUris?.length)
      metadata.post_logout_redirect_uris = input.postLogoutRedirectUris;
    if (input.resourceServers?.length) metadata.resource_servers = input.resourceServers;
    if (input.backchannelLogoutUri) {
      metadata.backchannel_logout_uri = input.backchannelLogoutUri;
      metadata.backchannel_logout_session_required = true;
    }
    const pages = {
      logo_uri: input.logoUri,
      client_uri: input.clientUri,
      policy_uri: input.policyUri,
      tos_uri: input.tosUri,
    };
    for (const [field, uri] of Object.entries(pages)) {
      if (!uri) continue;
      checkUri(field, uri);
      if (!/^https?:/.test(uri)) throw new ClientInputError(`${field} must be an http(s) URL`);
      metadata[field] = uri;
    }
    for (const [field, [min, max]] of Object.entries(LIFETIME_LIMITS)) {
      const value = input[field as keyof typeof LIFETIME_LIMITS];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < min || value > max)
        throw new ClientInputError(`${field} must be ${min} to ${max} seconds`);
      metadata[field === 'accessTokenTtl' ? 'access_token_ttl' : 'refresh_token_ttl'] = value;
    }
    return metadata;
  }

  /** The registration that would make this client as it is now (the base of an update). */
  static registrationOf(metadata: Record<string, unknown>): ClientRegistration {
    const text = (field: string) =>
      typeof metadata[field] === 'string' ? (metadata[field] as string) : undefined;
    const list = (field: string) =>
      Array.isArray(metadata[field]) ? (metadata[field] as string[]) : undefined;
    const number = (field: string) =>
      typeof metadata[field] === 'number' ? (metadata[field] as number) : undefined;
    return {
      name: text('client_name') ?? '',
      redirectUris: list('redirect_uris'),
      public: metadata.token_endpoint_auth_method === 'none',
      grantTypes: list('grant_types'),
      scope: text('scope'),
      postLogoutRedirectUris: list('post_logout_redirect_uris'),
      firstParty: metadata.first_party === true,
      resourceServers: list('resource_servers'),
      backchannelLogoutUri: text('backchannel_logout_uri'),
      logoUri: text('logo_uri'),
      clientUri: text('client_uri'),
      policyUri: text('policy_uri'),
      tosUri: text('tos_uri'),
      accessTokenTtl: number('access_token_ttl'),
      refreshTokenTtl: number('refresh_token_ttl'),
    };
  }

  /**
   * Splits requested scopes into OpenID Connect scopes (client metadata) and API scopes (client
   * grants), naming the first scope that no registered API has, or that two APIs share without
   * `apis` saying which is meant.
   */
  async #resolveScopes(
    scope: string | undefined,
    apiHints: readonly string[] | undefined,
  ): Promise<ResolvedScopes> {
    const scopes = splitScopes(scope);
    const badToken = invalidScopeToken(scopes);
    if (badToken !== undefined)
      throw new ClientInputError(
        `invalid scope ${JSON.stringify(badToken)}: scopes are printable ASCII without spaces, quotes or backslashes`,
      );
    const grants = new Map<string, string[]>();
    const apiScopes = scopes.filter((name) => !isOidcScope(name));
    if (apiScopes.length === 0 && !apiHints?.length)
      return { oidc: scope === undefined ? undefined : scopes, grants };
    let candidates = await this.#apis.list();
    if (apiHints?.length) {
      for (const hint of apiHints)
        if (!candidates.some((api) => api.identifier === hint)) throw new NotFoundError('API', hint);
      candidates = candidates.filter((api) => apiHints.includes(api.identifier));
    }
    for (const name of apiScopes) {
      const owners = candidates.filter((api) => api.scope.split(' ').includes(name));
      if (owners.length === 0)
        throw new ClientInputError(
          `unknown scope ${name}: no ${apiHints?.length ? 'API named by --api' : 'registered API'} has it (register it with \`latchkey apis add\` or update the API)`,
        );
      if (owners.length > 1)
        throw new ClientInputError(
          `scope ${name} belongs to several APIs (${owners.map((api) => api.identifier).join(', ')}); say which with --api`,
        );
      const api = owners[0]!.identifier;
      grants.set(api, [...(grants.get(api) ?? []), name]);
    }
    return { oidc: scopes.filter(isOidcScope), grants };
  }

  /**
   * Registers a client. `validate` receives the full metadata (with secret) and throws when
   * oidc-provider would refuse it, so that a bad client fails at registration, not at login.
   */
  async add(input: ClientRegistration, validate?: ClientValidator): Promise<ClientView> {
    const resolved = await this.#resolveScopes(input.scope, input.apis);
    const metadata = ClientService.metadataFor({ ...input, scope: resolved.oidc?.join(' ') });
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
    const grants = [];
    for (const [api, scopes] of resolved.grants) grants.push(await this.#grants.grant(clientId, api, scopes));
    return {
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
      ...metadata,
      created_at: new Date(now).toISOString(),
      grants: grants.map(grantView),
    };
  }

  /**
   * Changes a client. Fields not given stay as they are; `scope`, when given, replaces all of the
   * client's scopes: its OpenID Connect scopes and its API grants (grants for APIs it no longer
   * names are taken away).
   */
  async update(clientId: string, changes: ClientChanges, validate?: ClientValidator): Promise<ClientView> {
    const record = await this.#store.clients.get(clientId);
    if (!record) throw new NotFoundError('client', clientId);
    if ('public' in changes)
      throw new ClientInputError(
        'a client cannot change between public and confidential; register a new one',
      );
    const current = ClientService.registrationOf(record.metadata);
    const resolved =
      changes.scope !== undefined || changes.apis !== undefined
        ? await this.#resolveScopes(changes.scope ?? '', changes.apis)
        : undefined;
    const registration: ClientRegistration = {
      ...current,
      ...Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)),
      public: current.public,
      scope: resolved ? resolved.oidc?.join(' ') : current.scope,
    };
    const metadata = ClientService.metadataFor(registration);
    const secret = record.secretSealed
      ? this.#keyring.open(record.secretSealed, `client:${clientId}`)
      : undefined;
    await validate?.({
      ...metadata,
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
    } as AdapterPayload);
    await this.#store.clients.put({ ...record, metadata, updatedAt: Date.now() });
    this.#cache.delete(clientId);
    if (resolved) {
      for (const grant of await this.#grants.list(clientId))
        if (!resolved.grants.has(grant.api)) await this.#grants.ungrant(clientId, grant.api);
      for (const [api, scopes] of resolved.grants) await this.#grants.grant(clientId, api, scopes);
    }
    return (await this.show(clientId))!;
  }

  async list(): Promise<ClientView[]> {
    return (await this.#store.clients.list()).map(view);
  }

  /** The client, with its grants (never its secret). */
  async show(clientId: string): Promise<ClientView | undefined> {
    const record = await this.#store.clients.get(clientId);
    if (!record) return undefined;
    return { ...view(record), grants: (await this.#grants.list(clientId)).map(grantView) };
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

  /**
   * Removes a client and everything it holds: its tokens, codes and user grants (so refresh and
   * access tokens stop working at once, introspection answers inactive), its client grants, and its
   * vault integrations with their connections (sealed upstream tokens included).
   */
  async remove(clientId: string): Promise<ClientRemoval | undefined> {
    this.#cache.delete(clientId);
    // The record first: from here on no new token can be issued to it.
    if (!(await this.#store.clients.remove(clientId))) return undefined;
    this.#cache.delete(clientId);
    const revoked = await this.#store.oidc.revokeByClientId(clientId);
    const grants = await this.#store.clientGrants.removeByClient(clientId);
    const integrations = await this.#store.vaultIntegrations.removeByApp(clientId);
    return {
      client_id: clientId,
      removed: true,
      revoked_records: revoked,
      client_grants: grants,
      vault_integrations: integrations,
    };
  }

  /** oidc-provider's view of a client (with its secret), cached briefly: it is on every token request. */
  lookup(clientId: string): Promise<AdapterPayload | undefined> {
    return this.#cache.get(clientId, () => this.#load(clientId));
  }

  async #load(clientId: string): Promise<AdapterPayload | undefined> {
    const record = await this.#store.clients.get(clientId);
    return record
      ? ({
          ...record.metadata,
          client_id: record.clientId,
          ...(record.secretSealed
            ? { client_secret: this.#keyring.open(record.secretSealed, `client:${record.clientId}`) }
            : {}),
        } as AdapterPayload)
      : undefined;
  }
}

function checkUri(field: string, uri: string): void {
  if (uri.length > 2000) throw new ClientInputError(`${field} must be at most 2000 characters`);
  if (!URL.canParse(uri)) throw new ClientInputError(`${field} must be an absolute URI: ${uri}`);
}

function view(record: ClientRecord): ClientView {
  return {
    client_id: record.clientId,
    ...record.metadata,
    created_at: new Date(record.createdAt).toISOString(),
  };
}
