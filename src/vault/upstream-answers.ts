// The vault's upstream transport: a time limit on every call, and the few providers whose token
// answers need reshaping before openid-client reads them (Slack's user tokens, id_tokens from plain
// OAuth 2.0 providers); then the answer in the vault's own TokenResponse shape.
import type * as oauth from 'openid-client';
import type { ProviderDefinition, ResolvedProvider, TokenResponse } from './types.js';

/** A fetch that gives up after `timeoutMs`, and adapts token endpoint answers for `provider`. */
export function timedFetch(
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

export function toTokenResponse(result: oauth.TokenEndpointResponse): TokenResponse {
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
