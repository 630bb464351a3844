// The vault's OAuth 2.0 client towards upstream providers (Google, Slack, any OIDC issuer...), built
// on openid-client: authorization URLs, code exchange, refresh and revocation, with every failure
// turned into one VaultError whose message never carries a token, code or secret. Every request
// goes through the outbound client (src/web/outbound.ts), which refuses private addresses. The
// endpoints are upstream-endpoints.ts's, the answers upstream-answers.ts's, the errors
// upstream-errors.ts's.
import { LRUCache } from 'lru-cache';
import * as oauth from 'openid-client';
import { createOutboundClient, type OutboundClient } from '../web/outbound.js';
import { timedFetch, toTokenResponse } from './upstream-answers.js';
import { configurationFor, discoverIssuer, parseIssuer, resolveFromCatalog } from './upstream-endpoints.js';
import { causeChain, oauthAnswerOf, toVaultError } from './upstream-errors.js';
import {
  VaultError,
  type ProviderDefinition,
  type ResolvedProvider,
  type UpstreamClient,
  type UpstreamCredentials,
} from './types.js';

export interface UpstreamClientOptions {
  /** Time limit for each upstream request, answer body included, in ms. Default 10 000. */
  timeoutMs?: number;
  /**
   * The outbound client every request goes through, and whose rules (private addresses, plain
   * http) apply. Default: one of the upstream client's own that refuses private addresses.
   */
  outbound?: OutboundClient;
  /** Replaces the outbound client's fetch (tests); the outbound client's rules still decide http. */
  fetch?: typeof fetch;
  /** How long an issuer's discovered metadata is reused, in ms. Default 5 minutes. */
  discoveryTtlMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_DISCOVERY_TTL_MS = 5 * 60_000;

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

function scopeParameter(definition: ProviderDefinition): string {
  // Slack: `scope` asks for a bot token, `user_scope` for a token acting as the user.
  return definition.name === 'slack' ? 'user_scope' : 'scope';
}

export function createUpstreamClient(options: UpstreamClientOptions = {}): UpstreamClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('timeoutMs must be a positive number');
  }
  const outbound = options.outbound ?? createOutboundClient();
  const { allowPrivate } = outbound;
  const baseFetch = options.fetch ?? outbound.fetch;
  const discovered = new LRUCache<string, Promise<oauth.ServerMetadata>>({
    max: 500,
    ttl: options.discoveryTtlMs ?? DEFAULT_DISCOVERY_TTL_MS,
  });

  const configure = (provider: ResolvedProvider, credentials: UpstreamCredentials) =>
    configurationFor(provider, credentials, timedFetch(baseFetch, timeoutMs, provider), allowPrivate);

  function discover(issuer: URL): Promise<oauth.ServerMetadata> {
    let metadata = discovered.get(issuer.href);
    if (!metadata) {
      metadata = discoverIssuer(issuer, timedFetch(baseFetch, timeoutMs), timeoutMs, allowPrivate);
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
      const issuer = parseIssuer(integration.issuer, allowPrivate);
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
