// Client metadata as an admin gives it (`clients add`/`update`, the admin API) and as
// oidc-provider stores it: the registration's fields, their checks and defaults, and the scopes of
// a registration split into OpenID Connect scopes (metadata) and API scopes (client grants).
import type { ApiService } from './apis.js';
import type { ClientGrantView } from './client-grants.js';
import { NotFoundError } from './errors.js';
import { invalidScopeToken, isOidcScope, splitScopes } from './scopes.js';

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

/** The scopes of a registration, split into what oidc-provider knows and the client grants. */
export interface ResolvedScopes {
  oidc: string[] | undefined;
  grants: Map<string, string[]>;
}

const LIFETIME_LIMITS = { accessTokenTtl: [10, 86_400], refreshTokenTtl: [60, 365 * 86_400] } as const;

/** Builds client metadata with sensible defaults, for the registration to validate and store. */
export function clientMetadataFor(input: ClientRegistration): Record<string, unknown> {
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
  for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])]) checkUri('redirect URI', uri);
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
  if (input.postLogoutRedirectUris?.length) metadata.post_logout_redirect_uris = input.postLogoutRedirectUris;
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
export function registrationOf(metadata: Record<string, unknown>): ClientRegistration {
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
export async function resolveClientScopes(
  apis: Pick<ApiService, 'list'>,
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
  let candidates = await apis.list();
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

function checkUri(field: string, uri: string): void {
  if (uri.length > 2000) throw new ClientInputError(`${field} must be at most 2000 characters`);
  if (!URL.canParse(uri)) throw new ClientInputError(`${field} must be an absolute URI: ${uri}`);
}
