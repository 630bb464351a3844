// Scope names: the OpenID Connect ones this server releases claims for, and the syntax every scope
// must have (RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )).

/** The scopes oidc-provider knows itself; every other scope belongs to a registered API. */
export const OIDC_SCOPES: readonly string[] = ['openid', 'offline_access', 'profile', 'email'];

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isOidcScope(scope: string): boolean {
  return OIDC_SCOPES.includes(scope);
}

/** Space-separated scopes as a list without duplicates (order kept). */
export function splitScopes(scope: string | readonly string[] | undefined): string[] {
  const list = typeof scope === 'string' ? scope.split(/\s+/) : [...(scope ?? [])];
  return [...new Set(list.map((item) => item.trim()).filter(Boolean))];
}

/** The first scope that is not a valid RFC 6749 scope-token, if any. */
export function invalidScopeToken(scopes: readonly string[]): string | undefined {
  return scopes.find((scope) => !SCOPE_TOKEN.test(scope) || scope.length > 200);
}
