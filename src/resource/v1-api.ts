// The built-in `/v1` API as a registered resource server (RFC 8707), so that clients can ask for
// JWT access tokens meant for it with `resource=<issuer>/v1`.

/** The resource indicator of Latchkey's own /v1 API. */
export function V1_API_IDENTIFIER(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/v1`;
}

/** What /v1 tokens may carry: the scopes whose claims /v1/users/me releases. */
export const V1_API_SCOPES = ['profile', 'email'] as const;

/** What the composition root's API registry takes to register a built-in API once. */
export interface BuiltInApiRegistry<Registered = unknown> {
  ensure(api: {
    identifier: string;
    name: string;
    scope: string;
    format: 'jwt';
    userConsentScopes?: readonly string[];
  }): Promise<Registered>;
}

/** Registers the /v1 API at start-up unless it is there already. */
export function ensureV1Api<Registered>(
  apis: BuiltInApiRegistry<Registered>,
  issuer: string,
): Promise<Registered> {
  return apis.ensure({
    identifier: V1_API_IDENTIFIER(issuer),
    name: 'Latchkey /v1',
    scope: V1_API_SCOPES.join(' '),
    format: 'jwt',
    // A user who shares their profile with an app may let it read it at /v1 too: any client
    // gets these through the user's consent, with no client grant needed.
    userConsentScopes: V1_API_SCOPES,
  });
}
