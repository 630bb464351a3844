// Where the vault's upstream client sends its requests: a catalog entry's endpoints or an issuer's
// discovered ones, checked against the transport rule, and the openid-client configuration (client
// authentication included) that a call is made with.
import * as oauth from 'openid-client';
import { toVaultError } from './upstream-errors.js';
import {
  VaultError,
  type ProviderDefinition,
  type ResolvedProvider,
  type UpstreamCredentials,
} from './types.js';

/** A client id for discovery alone: openid-client wants one, and no request ever carries it. */
const DISCOVERY_CLIENT_ID = 'latchkey-vault-discovery';

export function resolveFromCatalog(definition: ProviderDefinition): ResolvedProvider {
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
 * Whether `url` may be used at all, and whether it needs openid-client's insecure mode. Tokens and
 * client secrets cross every endpoint, so it must be https (RFC 6749 §10.9, RFC 9700 §2.6); plain
 * http only where the outbound rules are lifted (OUTBOUND_ALLOW_PRIVATE: development and tests).
 */
export function transportOf(url: URL, allowPrivate: boolean): 'https' | 'insecure-http' | 'refused' {
  if (url.protocol === 'https:') return 'https';
  return url.protocol === 'http:' && allowPrivate ? 'insecure-http' : 'refused';
}

export function parseIssuer(issuer: string, allowPrivate: boolean): URL {
  const url = URL.parse(issuer);
  if (!url || transportOf(url, allowPrivate) === 'refused') {
    throw new VaultError('invalid_request', 400, 'the issuer must be an https URL');
  }
  return url;
}

export function configurationFor(
  provider: ResolvedProvider,
  credentials: UpstreamCredentials,
  customFetch: oauth.CustomFetch,
  allowPrivate: boolean,
): oauth.Configuration {
  const { definition } = provider;
  let insecure = false;
  for (const endpoint of [provider.authorizationUrl, provider.tokenUrl, provider.revocationUrl]) {
    if (endpoint === undefined) continue;
    const url = URL.parse(endpoint);
    const transport = url ? transportOf(url, allowPrivate) : 'refused';
    if (transport === 'refused') {
      throw new VaultError(
        'invalid_request',
        400,
        `provider ${definition.name} has an endpoint that is not https`,
      );
    }
    insecure ||= transport === 'insecure-http';
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
export async function discoverIssuer(
  issuer: URL,
  customFetch: oauth.CustomFetch,
  timeoutMs: number,
  allowPrivate: boolean,
): Promise<oauth.ServerMetadata> {
  let metadata: oauth.ServerMetadata;
  try {
    const config = await oauth.discovery(issuer, DISCOVERY_CLIENT_ID, undefined, oauth.None(), {
      [oauth.customFetch]: customFetch,
      timeout: timeoutMs / 1000,
      execute: transportOf(issuer, allowPrivate) === 'insecure-http' ? [oauth.allowInsecureRequests] : [],
    });
    metadata = config.serverMetadata();
  } catch (error) {
    throw toVaultError(error, []);
  }
  for (const name of ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint'] as const) {
    const value = metadata[name];
    if (value === undefined && name === 'revocation_endpoint') continue;
    const url = typeof value === 'string' ? URL.parse(value) : null;
    if (!url || transportOf(url, allowPrivate) === 'refused') {
      throw new VaultError(
        'provider_error',
        502,
        `the issuer's discovery document has no usable https ${name}`,
      );
    }
  }
  return metadata;
}
