// The vault's OAuth 2.0 client towards upstream providers (Google, Slack, any OIDC issuer...), built
// on openid-client: authorization URLs, code exchange, refresh and revocation, with every failure
// turned into one VaultError whose message never carries a token, code or secret.
import { LRUCache } from 'lru-cache';
import * as oauth from 'openid-client';
import {
  VaultError,
  type ProviderDefinition,
  type ResolvedProvider,
  type TokenResponse,
  type UpstreamClient,
  type UpstreamCredentials,
} from './types.js';

export interface UpstreamClientOptions {
  /** Time limit for each upstream request, answer body included, in ms. Default 10 000. */
  timeoutMs?: number;
  /** The fetch every upstream request goes through (tests, egress proxies). Default: global fetch. */
  fetch?: typeof fetch;
  /** How long an issuer's discovered metadata is reused, in ms. Default 5 minutes. */
  discoveryTtlMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_DISCOVERY_TTL_MS = 5 * 60_000;

export function createUpstreamClient(options: UpstreamClientOptions = {}): UpstreamClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('timeoutMs must be a positive number');
  }
  const baseFetch = options.fetch ?? globalThis.fetch;
  const discovered = new LRUCache<string, Promise<oauth.ServerMetadata>>({
    max: 500,
    ttl: options.discoveryTtlMs ?? DEFAULT_DISCOVERY_TTL_MS,
  });

  const configure = (provider: ResolvedProvider, credentials: UpstreamCredentials) =>
    configurationFor(provider, credentials, timedFetch(baseFetch, timeoutMs, provider));

  function discover(issuer: URL): Promise<oauth.ServerMetadata> {
    let metadata = discovered.get(issuer.href);
    if (!metadata) {
      metadata = discoverIssuer(issuer, timedFetch(baseFetch, timeoutMs), timeoutMs);
      discovered.set(issuer.href, metadata);
      // A failure is not cached: the next connection attempt asks again.
      metadata.catch(() => discovered.delete(issuer.href));
    }
    return metadata;
  }

  return {
    async resolve(definition, integration) {
      if (definition.kind === 'oauth2') return resolveFromCatalog(definition);
      if (!integration.issuer) {
        throw new VaultError('invalid_request', 400, `provider ${definition.name} needs an issuer URL`);
      }
      const issuer = parseIssuer(integration.issuer);
      const metadata = await discover(issuer);
      return {
        definition,
        issuer: metadata.issuer,
        authorizationUrl: metadata.authorization_endpoint!,
        tokenUrl: metadata.token_endpoint!,
        revocationUrl: metadata.revocation_endpoint,
        apiBaseUrl: definition.apiBaseUrl,
      };
    },

    authorizationUrl(provider, credentials, request) {
      const { definition } = provider;
      const params = new URLSearchParams({ ...definition.authorizationParams, ...request.extraParams });
      // RFC 6749 §4.1.1: the vault's own parameters win over anything configured.
      for (const name of VAULT_AUTHORIZATION_PARAMS) params.delete(name);
      params.set('response_type', 'code');
      params.set('client_id', credentials.clientId);
      params.set('redirect_uri', request.redirectUri);
      const scopes = [...new Set([...(definition.defaultScopes ?? []), ...request.scopes])];
      if (scopes.length > 0) params.set(scopeParameter(definition), scopes.join(definition.scopeSeparator));
      params.set('state', request.state);
      if (definition.pkce && request.codeChallenge) {
        // RFC 7636 §4.3; S256 only (RFC 9700 §2.1.1).
        params.set('code_challenge', request.codeChallenge);
        params.set('code_challenge_method', 'S256');
      }
      try {
        return oauth.buildAuthorizationUrl(configure(provider, credentials), params);
      } catch (error) {
        throw toVaultError(error, []);
      }
    },

    async exchangeCode(provider, credentials, request) {
      // The vault's callback has already checked state (RFC 6749 §10.12) and iss itself, so the
      // code goes straight to the token endpoint (§4.1.3) instead of through a callback URL.
      const params: Record<string, string> = { code: request.code, redirect_uri: request.redirectUri };
      if (request.codeVerifier) params.code_verifier = request.codeVerifier;
      const secrets = [request.code, request.codeVerifier, credentials.clientSecret];
      const result = await upstreamCall(secrets, () =>
        oauth.genericGrantRequest(configure(provider, credentials), 'authorization_code', params),
      );
      return toTokenResponse(result);
    },

    async refresh(provider, credentials, refreshToken) {
      // RFC 6749 §6.
      const secrets = [refreshToken, credentials.clientSecret];
      const result = await upstreamCall(secrets, () =>
        oauth.refreshTokenGrant(configure(provider, credentials), refreshToken),
      );
      return toTokenResponse(result);
    },

    async revoke(provider, credentials, token, hint) {
      if (!provider.revocationUrl) return;
      try {
        // RFC 7009 §2.1.
        await oauth.tokenRevocation(configure(provider, credentials), token, { token_type_hint: hint });
      } catch (error) {
        const failure = toVaultError(error, [token, credentials.clientSecret]);
        // RFC 7009 §2.2: a token that is already invalid counts as revoked, though some providers
        // (Salesforce) still answer invalid_token. unsupported_token_type (§2.2.1): this kind cannot
        // be revoked on its own, and revoking the refresh token revokes its access tokens (§2.1).
        const answered = oauthAnswerOf(causeChain(error), undefined)?.error;
        if (
          failure.code === 'provider_error' &&
          (answered === 'invalid_token' || answered === 'unsupported_token_type')
        ) {
          return;
        }
        throw failure;
      }
    },
  };
}

/** Runs one openid-client call and maps whatever it throws to a VaultError. */
async function upstreamCall<T>(secrets: (string | undefined)[], call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toVaultError(error, secrets);
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints and configuration
// ---------------------------------------------------------------------------------------------

/** Parameters of the authorization request that only the vault sets. */
const VAULT_AUTHORIZATION_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'user_scope',
  'state',
  'code_challenge',
  'code_challenge_method',
];

/** A client id for discovery alone: openid-client wants one, and no request ever carries it. */
const DISCOVERY_CLIENT_ID = 'latchkey-vault-discovery';

function resolveFromCatalog(definition: ProviderDefinition): ResolvedProvider {
  if (!definition.authorizationUrl || !definition.tokenUrl) {
    throw new TypeError(`provider ${definition.name} has no authorizationUrl or tokenUrl in the catalog`);
  }
  return {
    definition,
    authorizationUrl: definition.authorizationUrl,
    tokenUrl: definition.tokenUrl,
    revocationUrl: definition.revocationUrl,
    apiBaseUrl: definition.apiBaseUrl,
    issuer: undefined,
  };
}

/**
 * Plain http is allowed only towards this machine (tests, local development); everything else
 * must be https, since tokens and client secrets cross it (RFC 6749 §10.9, RFC 9700 §2.6).
 */
function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
}

/** Whether `url` may be used at all, and whether it needs openid-client's insecure mode. */
function transportOf(url: URL): 'https' | 'loopback-http' | 'refused' {
  if (url.protocol === 'https:') return 'https';
  return url.protocol === 'http:' && isLoopback(url) ? 'loopback-http' : 'refused';
}

function parseIssuer(issuer: string): URL {
  const url = URL.parse(issuer);
  if (!url || transportOf(url) === 'refused') {
    throw new VaultError('invalid_request', 400, 'the issuer must be an https URL');
  }
  return url;
}

function configurationFor(
  provider: ResolvedProvider,
  credentials: UpstreamCredentials,
  customFetch: oauth.CustomFetch,
): oauth.Configuration {
  const { definition } = provider;
  let insecure = false;
  for (const endpoint of [provider.authorizationUrl, provider.tokenUrl, provider.revocationUrl]) {
    if (endpoint === undefined) continue;
    const url = URL.parse(endpoint);
    const transport = url ? transportOf(url) : 'refused';
    if (transport === 'refused') {
      throw new VaultError(
        'invalid_request',
        400,
        `provider ${definition.name} has an endpoint that is not https`,
      );
    }
    insecure ||= transport === 'loopback-http';
  }
  const server: oauth.ServerMetadata = {
    // Plain OAuth 2.0 providers have no issuer identifier; the value only labels the metadata.
    issuer: provider.issuer ?? new URL(provider.tokenUrl).origin,
    authorization_endpoint: provider.authorizationUrl,
    token_endpoint: provider.tokenUrl,
    ...(provider.revocationUrl ? { revocation_endpoint: provider.revocationUrl } : {}),
  };
  const config = new oauth.Configuration(
    server,
    credentials.clientId,
    undefined,
    clientAuthentication(definition, credentials),
  );
  config[oauth.customFetch] = customFetch;
  if (insecure) oauth.allowInsecureRequests(config);
  return config;
}

/** RFC 6749 §2.3.1 (client_secret_basic / client_secret_post); `none` for public clients (§2.1). */
function clientAuthentication(
  definition: ProviderDefinition,
  credentials: UpstreamCredentials,
): oauth.ClientAuth {
  const method = definition.tokenEndpointAuthMethod;
  if (method === 'none') return oauth.None();
  if (!credentials.clientSecret) {
    throw new VaultError(
      'invalid_request',
      400,
      `provider ${definition.name} needs a client secret (${method})`,
    );
  }
  return method === 'client_secret_basic'
    ? oauth.ClientSecretBasic(credentials.clientSecret)
    : oauth.ClientSecretPost(credentials.clientSecret);
}

/** OpenID Connect Discovery 1.0 §4, then a check that every endpoint obeys the https rule. */
async function discoverIssuer(
  issuer: URL,
  customFetch: oauth.CustomFetch,
  timeoutMs: number,
): Promise<oauth.ServerMetadata> {
  let metadata: oauth.ServerMetadata;
  try {
    const config = await oauth.discovery(issuer, DISCOVERY_CLIENT_ID, undefined, oauth.None(), {
      [oauth.customFetch]: customFetch,
      timeout: timeoutMs / 1000,
      execute: transportOf(issuer) === 'loopback-http' ? [oauth.allowInsecureRequests] : [],
    });
    metadata = config.serverMetadata();
  } catch (error) {
    throw toVaultError(error, []);
  }
  for (const name of ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint'] as const) {
    const value = metadata[name];
    if (value === undefined && name === 'revocation_endpoint') continue;
    const url = typeof value === 'string' ? URL.parse(value) : null;
    if (!url || transportOf(url) === 'refused') {
      throw new VaultError(
        'provider_error',
        502,
        `the issuer's discovery document has no usable https ${name}`,
      );
    }
  }
  return metadata;
}

// ---------------------------------------------------------------------------------------------
// Transport: time limit, and the few providers whose token answers need reshaping
// ---------------------------------------------------------------------------------------------

/** A fetch that gives up after `timeoutMs`, and adapts token endpoint answers for `provider`. */
function timedFetch(
  baseFetch: typeof fetch,
  timeoutMs: number,
  provider?: ResolvedProvider,
): oauth.CustomFetch {
  const tokenUrl = provider ? new URL(provider.tokenUrl).href : undefined;
  return async (url, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const response = await baseFetch(url, { ...init, signal } as RequestInit);
    return provider && url === tokenUrl ? adaptTokenResponse(provider.definition, response) : response;
  };
}

/** Where an id_token from a plain OAuth 2.0 provider is parked while openid-client reads the answer. */
const UNCHECKED_ID_TOKEN = 'latchkey_unchecked_id_token';

async function adaptTokenResponse(definition: ProviderDefinition, response: Response): Promise<Response> {
  if (response.status !== 200 || !/\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
    return response;
  }
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => undefined);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return response;
  let adapted = body as Record<string, unknown>;
  if (definition.name === 'slack') adapted = adaptSlackAnswer(adapted);
  if (definition.kind === 'oauth2' && typeof adapted.id_token === 'string') {
    // An OAuth 2.0 catalog entry has no issuer to check an ID Token against (OpenID Connect Core
    // §3.1.3.7 needs one; Microsoft's 'common' tenant even signs with per-tenant issuers), so its
    // id_token is kept as an opaque value rather than validated and rejected.
    const { id_token: idToken, ...rest } = adapted;
    adapted = { ...rest, [UNCHECKED_ID_TOKEN]: idToken };
  }
  if (adapted === body) return response;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  return new Response(JSON.stringify(adapted), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/**
 * Slack's oauth.v2.access (https://docs.slack.dev/authentication/installing-with-oauth) answers a
 * user_scope request with the user token inside `authed_user`, typed `user`; a refresh answers it
 * at the top level. Errors come as HTTP 200 `{ok: false, error}` and are left for the classifier.
 */
function adaptSlackAnswer(body: Record<string, unknown>): Record<string, unknown> {
  if (body.ok !== true) return body;
  const user = body.authed_user as Record<string, unknown> | undefined;
  const source = user && typeof user.access_token === 'string' ? user : body;
  return { ...source, token_type: 'bearer' };
}

function scopeParameter(definition: ProviderDefinition): string {
  // Slack: `scope` asks for a bot token, `user_scope` for a token acting as the user.
  return definition.name === 'slack' ? 'user_scope' : 'scope';
}

function toTokenResponse(result: oauth.TokenEndpointResponse): TokenResponse {
  const unchecked = (result as Record<string, unknown>)[UNCHECKED_ID_TOKEN];
  return {
    access_token: result.access_token,
    // openid-client lower-cases token_type; RFC 6750 §6.1.1 registers it as "Bearer".
    token_type:
      result.token_type === 'bearer' ? 'Bearer' : result.token_type === 'dpop' ? 'DPoP' : result.token_type,
    refresh_token: result.refresh_token || undefined,
    id_token: result.id_token ?? (typeof unchecked === 'string' ? unchecked : undefined),
    scope: typeof result.scope === 'string' ? result.scope : undefined,
    expires_in:
      typeof result.expires_in === 'number' && Number.isFinite(result.expires_in)
        ? result.expires_in
        : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

/**
 * Error codes meaning the grant itself is gone and only a new authorization helps: RFC 6749 §5.2
 * invalid_grant and unauthorized_client, and the same answers in GitHub's and Slack's words.
 */
const GRANT_GONE = new Set([
  'invalid_grant',
  'unauthorized_client',
  'bad_verification_code',
  'bad_refresh_token',
  'invalid_code',
  'code_already_used',
  'invalid_refresh_token',
  'token_revoked',
  'token_expired',
]);

const TIMEOUT_CODES = new Set([
  'OAUTH_TIMEOUT',
  'OAUTH_ABORT',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

interface OAuthAnswer {
  error: string;
  description?: string | undefined;
}

/** Maps anything openid-client, oauth4webapi or fetch throws to the vault's error model. */
function toVaultError(error: unknown, secrets: readonly (string | undefined)[]): VaultError {
  if (error instanceof VaultError) return error;
  if (nameOf(error) === 'TypeError' && /^ERR_INVALID_ARG_/.test(codeOf(error) ?? '')) {
    throw error; // a programming mistake, not the provider's answer
  }
  const chain = causeChain(error);
  const redact = redactor(secrets);
  if (chain.some(isTimeout)) {
    return new VaultError('provider_timeout', 504, 'the provider did not answer in time');
  }

  const response = chain.map(responseOf).find((found) => found !== undefined);
  if (response?.status === 429) {
    // RFC 6585 §4.
    return new VaultError(
      'provider_rate_limited',
      503,
      'the provider is rate limiting (HTTP 429)',
      retryAfter(response),
    );
  }
  if (response && response.status >= 500) {
    return new VaultError(
      'provider_unavailable',
      503,
      `the provider answered HTTP ${response.status}`,
      retryAfter(response),
    );
  }

  const answer = oauthAnswerOf(chain, response);
  if (answer) {
    const message = redact(
      `provider answered ${answer.error}${answer.description ? `: ${answer.description}` : ''}`,
    );
    return GRANT_GONE.has(answer.error)
      ? new VaultError('needs_reauth', 409, message)
      : new VaultError('provider_error', 502, message);
  }

  if (chain.some((link) => codeOf(link) === 'OAUTH_RESPONSE_IS_NOT_JSON')) {
    const status = response ? ` with HTTP ${response.status}` : '';
    return new VaultError(
      'provider_unavailable',
      503,
      `the provider answered${status} something other than JSON`,
    );
  }
  // fetch fails with TypeError('fetch failed') whose cause names the system or TLS error
  // (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, CERT_HAS_EXPIRED...).
  const fetchFailed = chain.some(
    (link) => nameOf(link) === 'TypeError' && (link as Error).message === 'fetch failed',
  );
  const systemCode = chain
    .map(codeOf)
    .find((code) => code !== undefined && /^(?!OAUTH_|ERR_)[A-Z][A-Z0-9_]+$/.test(code));
  if (fetchFailed || /^(E[A-Z]+|UND_ERR_\w+)$/.test(systemCode ?? '')) {
    const detail = systemCode ? ` (${systemCode})` : '';
    return new VaultError('provider_unavailable', 503, `could not reach the provider${detail}`);
  }
  if (response) return new VaultError('provider_error', 502, `the provider answered HTTP ${response.status}`);
  if (error instanceof oauth.ClientError) {
    // openid-client's own messages name the rule broken, never a value.
    return new VaultError(
      'provider_error',
      502,
      redact(`the provider's answer is not usable: ${error.message}`),
    );
  }
  return new VaultError('provider_error', 502, 'the request to the provider failed');
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let link = error; link !== undefined && link !== null && chain.length < 8;) {
    if (chain.includes(link)) break;
    chain.push(link);
    // undici reports a refused connection to a name with several addresses as an AggregateError.
    const errors = typeof link === 'object' ? (link as { errors?: unknown }).errors : undefined;
    if (Array.isArray(errors)) chain.push(...errors.slice(0, 2));
    link = typeof link === 'object' ? (link as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function codeOf(link: unknown): string | undefined {
  const code = link !== null && typeof link === 'object' ? (link as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** By name, not instanceof: fetch's errors come from another realm under test runners. */
function nameOf(link: unknown): string | undefined {
  const name = link !== null && typeof link === 'object' ? (link as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : undefined;
}

function isTimeout(link: unknown): boolean {
  const name = nameOf(link);
  return name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_CODES.has(codeOf(link) ?? '');
}

function isResponse(value: unknown): value is Response {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Response).status === 'number' &&
    typeof (value as Response).headers?.get === 'function'
  );
}

/** The HTTP answer behind an error: oauth4webapi keeps it on `response` or as the `cause`. */
function responseOf(link: unknown): Response | undefined {
  if (isResponse(link)) return link;
  const attached =
    link !== null && typeof link === 'object' ? (link as { response?: unknown }).response : undefined;
  return isResponse(attached) ? attached : undefined;
}

/** The provider's OAuth error answer (RFC 6749 §5.2, RFC 6750 §3), wherever it came in. */
function oauthAnswerOf(chain: unknown[], response: Response | undefined): OAuthAnswer | undefined {
  for (const link of chain) {
    if (link instanceof oauth.ResponseBodyError) return answer(link.error, link.error_description);
    if (link instanceof oauth.WWWAuthenticateChallengeError) {
      const found = link.cause.find((challenge) => typeof challenge.parameters.error === 'string');
      // RFC 6749 §5.2: a 401 from the token endpoint is a failed client authentication.
      return found
        ? answer(found.parameters.error, found.parameters.error_description)
        : answer(
            'invalid_client',
            `HTTP ${response?.status ?? 401} with a ${link.cause[0]?.scheme ?? ''} challenge`,
          );
    }
    // Providers that answer errors with HTTP 200 (GitHub, Slack): oauth4webapi keeps the body.
    const body = link !== null && typeof link === 'object' ? (link as { body?: unknown }).body : undefined;
    if (
      body !== null &&
      typeof body === 'object' &&
      typeof (body as { error?: unknown }).error === 'string'
    ) {
      const { error, error_description: description } = body as {
        error: string;
        error_description?: unknown;
      };
      return answer(error, typeof description === 'string' ? description : undefined);
    }
  }
  return undefined;
}

// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL_CHARACTERS = /[\x00-\x1F\x7F]+/g;

function answer(error: unknown, description: unknown): OAuthAnswer {
  // RFC 6749 §5.2 limits the code to printable ASCII without '"' and '\'; an error code outside
  // that is not echoed. Descriptions are looser in practice: only control characters go.
  const code =
    typeof error === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(error)
      ? error
      : 'invalid_response';
  const text =
    typeof description === 'string' ? description.replace(CONTROL_CHARACTERS, ' ').trim().slice(0, 300) : '';
  return { error: code, description: text || undefined };
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
function retryAfter(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value), 86_400);
  const date = Date.parse(value);
  return Number.isNaN(date)
    ? undefined
    : Math.min(Math.max(0, Math.ceil((date - Date.now()) / 1000)), 86_400);
}

/** Blanks out every secret the request carried, should a provider echo one back. */
function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const values = secrets.filter(
    (secret): secret is string => typeof secret === 'string' && secret.length >= 4,
  );
  return (text) => values.reduce((result, secret) => result.split(secret).join('[redacted]'), text);
}
