// The built-in admin API (`$ISSUER/admin`) as a registered resource server: the admin HTTP API is
// reached with tokens for it, which a client gets only through a client grant like any other API.

/** The resource indicator of the admin API. */
export function ADMIN_API_IDENTIFIER(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/admin`;
}

/**
 * `admin:read` lists and shows; `admin:write` changes; `admin:login` answers login and consent
 * challenges for an app that signs its users in itself (LOGIN_URL, CONSENT_URL).
 */
export const ADMIN_SCOPES = ['admin:read', 'admin:write', 'admin:login'] as const;

/** What the composition root's API registry takes to register a built-in API once. */
export interface AdminApiRegistry<Registered = unknown> {
  ensure(api: {
    identifier: string;
    name: string;
    scope: string;
    format: 'jwt';
    ttl?: number;
    scopeDescriptions?: Record<string, string>;
  }): Promise<Registered>;
}

/** Registers the admin API (short-lived JWT access tokens) unless it is there already. */
export function ensureAdminApi<Registered>(
  apis: AdminApiRegistry<Registered>,
  issuer: string,
): Promise<Registered> {
  return apis.ensure({
    identifier: ADMIN_API_IDENTIFIER(issuer),
    name: 'Latchkey admin',
    scope: ADMIN_SCOPES.join(' '),
    format: 'jwt',
    // Admin tokens are powerful: five minutes, so an ungranted client's token ends soon.
    ttl: 300,
    scopeDescriptions: {
      'admin:read': 'See Latchkey’s clients, users, APIs and keys',
      'admin:write': 'Change Latchkey’s clients, users, APIs and keys',
      'admin:login': 'Sign users in and record their consent for Latchkey',
    },
  });
}
