// How records read over the admin API: snake_case, RFC 3339 times, and nothing secret (no password
// hash, no private key, no sealed secret). Clients and grants come shaped by their services.
import type { ApiRecord, AccountRecord, ClientGrantRecord, SigningKeyRecord } from '../store/types.js';

const iso = (epochMs: number) => new Date(epochMs).toISOString();
const isoOrNull = (epochMs: number | undefined) => (epochMs === undefined ? null : iso(epochMs));

export function userView(account: AccountRecord) {
  return {
    id: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name,
    disabled: account.disabled === true,
    created_at: iso(account.createdAt),
    updated_at: iso(account.updatedAt),
  };
}

export function apiView(api: ApiRecord) {
  return {
    identifier: api.identifier,
    ...(api.name ? { name: api.name } : {}),
    scope: api.scope,
    format: api.format,
    ...(api.signingAlg ? { alg: api.signingAlg } : {}),
    ttl: api.accessTokenTtl,
    ...(api.scopeDescriptions ? { scope_descriptions: api.scopeDescriptions } : {}),
    ...(api.userConsentScopes?.length ? { user_consent_scope: api.userConsentScopes.join(' ') } : {}),
    created_at: iso(api.createdAt),
    ...(api.updatedAt ? { updated_at: iso(api.updatedAt) } : {}),
  };
}

/** Who holds an API, as `GET /apis/{identifier}` lists them. */
export function apiHolderView(grant: ClientGrantRecord) {
  return { client_id: grant.clientId, scope: grant.scopes.join(' ') };
}

export function keyView(key: SigningKeyRecord) {
  return {
    kid: key.kid,
    alg: key.alg,
    status: key.status,
    created_at: iso(key.createdAt),
    activated_at: isoOrNull(key.activatedAt),
    retired_at: isoOrNull(key.retiredAt),
    expires_at: isoOrNull(key.expiresAt),
  };
}
