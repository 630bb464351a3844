// The token vault's shared vocabulary: provider definitions (the catalog's shape), the token set
// kept per connection, the upstream client contract, and the one error model with stable codes.

/** Every error code a vault caller can `switch` on. */
export type VaultErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  | 'unknown_provider'
  | 'needs_reauth'
  | 'connection_revoked'
  | 'connect_session_expired'
  | 'provider_error'
  | 'provider_unavailable'
  | 'provider_rate_limited'
  | 'provider_timeout'
  | 'path_not_allowed'
  | 'body_too_large';

export class VaultError extends Error {
  readonly expose = true;
  constructor(
    readonly code: VaultErrorCode,
    readonly status: number,
    message: string,
    /** Seconds before trying again (429/503), sent as Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'VaultError';
  }

  /** The fields Koa's error handling reads (OAuth-style `error`/`error_description`). */
  get error(): string {
    return this.code;
  }

  get error_description(): string {
    return this.message;
  }
}

/** One upstream provider, as the catalog (src/vault/providers.json) describes it. */
export interface ProviderDefinition {
  /** Catalog key, lower-case (`google`, `github`, `oidc`). */
  name: string;
  displayName: string;
  /** `oauth2` with the endpoints below, or `oidc`: endpoints come from the issuer's discovery. */
  kind: 'oauth2' | 'oidc';
  authorizationUrl?: string;
  tokenUrl?: string;
  /** RFC 7009 endpoint, when the provider has one. */
  revocationUrl?: string;
  /** Base URL the proxy forwards to (required for oauth2 providers; oidc: set per integration or none). */
  apiBaseUrl?: string;
  /** How scopes are joined in the authorization request (`" "` by RFC 6749; some use `","`). */
  scopeSeparator: string;
  /** Whether the provider supports PKCE (S256). */
  pkce: boolean;
  /** How the vault authenticates at the token endpoint. */
  tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Extra authorization request parameters always sent (e.g. Google's `access_type=offline`). */
  authorizationParams?: Record<string, string>;
  /** Scopes always requested in addition to the integration's. */
  defaultScopes?: string[];
  /** Access token lifetime (seconds) to assume when a token response has no `expires_in`. */
  defaultTokenLifetime?: number;
  /** Refresh a little early: seconds before expiry when a token counts as stale (default 300). */
  refreshMargin?: number;
  refresh: {
    /** Whether the provider issues refresh tokens at all. */
    supported: boolean;
    /** The provider issues a new refresh token on every refresh (the old one dies). */
    rotates?: boolean;
  };
  /** Free-form notes for people (quirks worth knowing). */
  notes?: string;
}

/** The tokens kept (sealed) per connection. */
export interface TokenSet {
  access_token: string;
  token_type: string;
  refresh_token?: string | undefined;
  id_token?: string | undefined;
  scope?: string | undefined;
}

/** What a token endpoint answered, normalised. */
export interface TokenResponse extends TokenSet {
  /** Seconds; undefined when the provider did not say. */
  expires_in?: number | undefined;
}

/** Upstream endpoints resolved for one integration (catalog data, or oidc discovery). */
export interface ResolvedProvider {
  definition: ProviderDefinition;
  authorizationUrl: string;
  tokenUrl: string;
  revocationUrl?: string | undefined;
  apiBaseUrl?: string | undefined;
  issuer?: string | undefined;
}

/** The integration's credentials at the provider, opened. */
export interface UpstreamCredentials {
  clientId: string;
  clientSecret?: string | undefined;
}

/**
 * Talks OAuth to an upstream provider. Every method throws VaultError: `needs_reauth` for
 * `invalid_grant` / `unauthorized_client`; `provider_error` (502) for another error answer;
 * `provider_unavailable` (503) for a 5xx or network failure; `provider_rate_limited` (503 with
 * retryAfter) for a 429; `provider_timeout` (504) when it does not answer in time.
 */
export interface UpstreamClient {
  resolve(
    definition: ProviderDefinition,
    integration: { issuer?: string | undefined },
  ): Promise<ResolvedProvider>;
  authorizationUrl(
    provider: ResolvedProvider,
    credentials: UpstreamCredentials,
    request: {
      redirectUri: string;
      scopes: string[];
      state: string;
      codeChallenge?: string | undefined;
      extraParams?: Record<string, string> | undefined;
    },
  ): URL;
  exchangeCode(
    provider: ResolvedProvider,
    credentials: UpstreamCredentials,
    request: { code: string; redirectUri: string; codeVerifier?: string | undefined },
  ): Promise<TokenResponse>;
  refresh(
    provider: ResolvedProvider,
    credentials: UpstreamCredentials,
    refreshToken: string,
  ): Promise<TokenResponse>;
  /** RFC 7009; resolves when revoked or when the provider has no revocation endpoint. */
  revoke(
    provider: ResolvedProvider,
    credentials: UpstreamCredentials,
    token: string,
    hint: 'access_token' | 'refresh_token',
  ): Promise<void>;
}
